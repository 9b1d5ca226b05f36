//! The peers of `http_per_core` for `benches/http_compare.sh`: the same HTTP handler
//! (`examples/support/http.rs`) on tokio, in two shapes.
//!
//! - `--runtime multi`: one listener, tokio's multi-thread (work-stealing) runtime with
//!   `--threads` workers.
//! - `--runtime current`: `--threads` OS threads, each with its own current-thread runtime
//!   and its own `SO_REUSEPORT` listener (thread-per-core, like `http_per_core`).
//!
//! ```sh
//! cargo run --release --example http_tokio -- --runtime multi --threads 2 --port 0
//! ```
//!
//! The first line on stdout is `listening on ADDR`. `--duration-secs S` exits after S
//! seconds; by default it runs until killed. The runtime shapes and the command line are in
//! `examples/support/tokio_server.rs`, shared with `hyper_tokio`.

#[path = "support/http.rs"]
mod http;

#[path = "support/tokio_server.rs"]
mod tokio_server;

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The same loop as `http_per_core`'s, on tokio's traits.
async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    const READ: usize = 4096;
    let mut input = Vec::with_capacity(READ);
    let mut output = Vec::with_capacity(READ);
    loop {
        let filled = input.len();
        input.resize(filled + READ, 0);
        let n = stream.read(&mut input[filled..]).await?;
        input.truncate(filled + n);
        if n == 0 {
            return Ok(());
        }
        let answered = http::answer_all(&input, &mut output);
        input.drain(..answered.consumed);
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if answered.close {
            return Ok(());
        }
    }
}

fn main() -> io::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio_server::run("http_tokio", "multi", threads, || {
        |stream| async move {
            let _ = serve_connection(stream).await;
        }
    })
}
