//! tokio's I/O traits on solo (feature `tokio-io`): a line-based echo service written with
//! tokio-util's `Framed<_, LinesCodec>` (a codec crate built on `tokio::io::AsyncRead`/
//! `AsyncWrite`) over `solo::net::TcpStream`, inside `solo::block_on`. No tokio runtime is
//! started: the example checks `tokio::runtime::Handle::try_current()` on both sides.
//!
//! ```sh
//! cargo run --release --features tokio-io --example tokio_codec          # 10,000 lines
//! cargo run --release --features tokio-io --example tokio_codec -- 100
//! ```

use std::io;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use solo::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LinesCodec};

fn assert_no_tokio_runtime() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "no tokio runtime may be entered"
    );
}

/// Answers every line with its upper-case version until the peer closes.
async fn serve(stream: TcpStream) -> Result<usize, Box<dyn std::error::Error>> {
    assert_no_tokio_runtime();
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(64 * 1024));
    let mut answered = 0;
    while let Some(line) = lines.next().await {
        lines.send(line?.to_uppercase()).await?;
        answered += 1;
    }
    Ok(answered)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|_| io::Error::other("usage: tokio_codec [LINES]"))?,
        None => 10_000,
    };
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = solo::spawn_local(async move {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            serve(stream)
                .await
                .map_err(|e| io::Error::other(e.to_string()))
        });
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut lines = Framed::new(stream, LinesCodec::new());
        let start = Instant::now();
        for i in 0..count {
            assert_no_tokio_runtime();
            lines.send(format!("line {i}")).await?;
            let echoed = solo::time::timeout(Duration::from_secs(10), lines.next())
                .await
                .map_err(|_| io::Error::other("no answer within 10 s"))?
                .ok_or("the server closed early")??;
            if echoed != format!("LINE {i}") {
                return Err(format!("line {i}: got {echoed:?}").into());
            }
        }
        let per_line = start.elapsed() / count.max(1) as u32;
        drop(lines); // EOF: the server's loop ends
        let answered = server.await?;
        println!(
            "{answered} lines echoed by tokio-util's LinesCodec on solo: {per_line:?} per round trip, no tokio runtime"
        );
        Ok(())
    })
}
