//! A Unix-socket echo server and a few clients on one thread.
//!
//! ```text
//! cargo run --release --example unix_echo
//! ```

use std::io;
use std::time::Instant;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{UnixListener, UnixStream};

const CLIENTS: usize = 8;
const ROUND_TRIPS: usize = 5_000;

fn main() -> io::Result<()> {
    let path = std::env::temp_dir().join(format!("solo-unix-echo-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let result = solo::block_on(async {
        let listener = UnixListener::bind(&path)?;
        println!("unix echo server on {}", path.display());
        let server = solo::spawn_local(async move {
            for _ in 0..CLIENTS {
                let (mut stream, _) = listener.accept().await?;
                solo::spawn_local(async move {
                    let mut buf = [0; 4096];
                    loop {
                        let n = stream.read(&mut buf).await?;
                        if n == 0 {
                            return io::Result::Ok(());
                        }
                        stream.write_all(&buf[..n]).await?;
                    }
                })
                .detach();
            }
            io::Result::Ok(())
        });

        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let path = path.clone();
                solo::spawn_local(async move {
                    let mut s = UnixStream::connect(&path).await?;
                    let mut back = [0; 64];
                    for _ in 0..ROUND_TRIPS {
                        s.write_all(&[7; 64]).await?;
                        s.read_exact(&mut back).await?;
                    }
                    io::Result::Ok(())
                })
            })
            .collect();
        for c in clients {
            c.await?;
        }
        server.await?;
        let total = CLIENTS * ROUND_TRIPS;
        let elapsed = start.elapsed();
        println!(
            "{CLIENTS} clients x {ROUND_TRIPS} round trips of 64 bytes in {elapsed:?} ({:.0}/s)",
            total as f64 / elapsed.as_secs_f64()
        );
        io::Result::Ok(())
    });
    let _ = std::fs::remove_file(&path);
    result
}
