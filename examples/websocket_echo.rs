//! A WebSocket echo server and client on solo with async-tungstenite, a crate written on
//! futures-io (`futures_lite::AsyncRead`/`AsyncWrite`), which is solo's own I/O interface:
//! `solo::net::TcpStream` goes in as it is, with no adapter and no runtime feature of
//! async-tungstenite (no tokio, no async-std).
//!
//! ```sh
//! cargo run --release --example websocket_echo            # 1,000 round trips, then close
//! cargo run --release --example websocket_echo -- 10000
//! ```
//!
//! The server task answers every text or binary message with the same message; the client
//! checks each answer, then closes with the closing handshake.

use std::io;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use solo::net::{TcpListener, TcpStream};

/// Accepts connections and echoes every data message on each, until the listener's task is
/// dropped. Each connection is a local task.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            solo::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        solo::spawn_local(async move {
            // A failed handshake or a reset only ends this connection.
            let _ = echo(stream).await;
        })
        .detach();
    }
}

/// Echoes one connection's text and binary messages until the client closes.
pub async fn echo(stream: TcpStream) -> Result<(), async_tungstenite::tungstenite::Error> {
    let mut ws = async_tungstenite::accept_async(stream).await?;
    while let Some(message) = ws.next().await {
        // Pings are answered by tungstenite itself; a close is answered, then the stream ends.
        if let message @ (Message::Text(_) | Message::Binary(_)) = message? {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// Connects to `addr`, sends `count` messages (text and binary in turn) and checks each echo;
/// closes with the closing handshake. Returns the time per round trip.
pub async fn client(
    addr: std::net::SocketAddr,
    count: usize,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut ws, response) =
        async_tungstenite::client_async(format!("ws://{addr}/echo"), stream).await?;
    if response.status() != 101 {
        return Err(format!("handshake answered {}", response.status()).into());
    }
    let start = Instant::now();
    for i in 0..count {
        let message = if i % 2 == 0 {
            Message::text(format!("message {i}"))
        } else {
            Message::binary(vec![i as u8; i % 1000])
        };
        ws.send(message.clone()).await?;
        match ws.next().await {
            Some(Ok(echoed)) if echoed == message => {}
            other => return Err(format!("message {i}: expected an echo, got {other:?}").into()),
        }
    }
    let per_trip = start.elapsed() / count.max(1) as u32;
    ws.close(None).await?;
    // The server answers the close; the stream then ends.
    while let Some(message) = ws.next().await {
        if let Err(e) = message {
            return Err(e.into());
        }
    }
    Ok(per_trip)
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|_| io::Error::other("usage: websocket_echo [COUNT]"))?,
        None => 1000,
    };
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = solo::spawn_local(serve(listener));
        let per_trip = solo::time::timeout(Duration::from_secs(60), client(addr, count))
            .await
            .map_err(|_| io::Error::other("the client timed out"))??;
        println!("{count} WebSocket echoes on {addr}: {per_trip:?} per round trip");
        drop(server); // cancels the accept loop
        Ok(())
    })
}
