//! The peer of `hyper_server` for `benches/hyper_compare.sh`: the same hyper handler
//! (`examples/support/hyper_app.rs`) and the same hyper settings (HTTP/1.1 or h2c by the
//! first bytes, a timer, so the same header-read timeout), on hyper + tokio via hyper-util's
//! `TokioIo`/`TokioTimer`/`TokioExecutor`, in two shapes:
//!
//! - `--runtime current`: `--threads` OS threads, each with its own current-thread runtime and
//!   its own `SO_REUSEPORT` listener (like `hyper_server --threads N`).
//! - `--runtime multi`: one listener on tokio's multi-thread runtime with `--threads` workers.
//!
//! ```sh
//! cargo run --release --features hyper --example hyper_tokio -- --runtime current --port 0
//! ```
//!
//! The first line on stdout is `listening on ADDR`. `--duration-secs S` exits after S
//! seconds; by default it runs until killed. Request counts live in an `AtomicU64` per
//! listener (tokio's spawn needs `Send`), where `hyper_server` uses an `Rc<RefCell<_>>`.

#[path = "support/hyper_app.rs"]
mod app;

#[path = "support/tokio_server.rs"]
mod tokio_server;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

/// The same preface check as `hyper_server`'s.
async fn sniff(stream: &TcpStream) -> io::Result<app::Protocol> {
    let mut buf = [0; app::H2_PREFACE.len()];
    for _ in 0..10_000 {
        let n = stream.peek(&mut buf).await?;
        match app::sniff(&buf[..n]) {
            app::Protocol::Unknown => tokio::time::sleep(Duration::from_millis(1)).await,
            known => return Ok(known),
        }
    }
    Ok(app::Protocol::Http1)
}

async fn serve(stream: TcpStream, hits: Arc<AtomicU64>) {
    let Ok(protocol) = sniff(&stream).await else {
        return;
    };
    let io = TokioIo::new(stream);
    let service = service_fn(move |req| {
        let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
        app::respond(req, n)
    });
    if protocol == app::Protocol::Http2 {
        let _ = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(io, service)
            .await;
    }
}

fn main() -> io::Result<()> {
    // One request counter per listener: per runtime thread with `--runtime current`.
    tokio_server::run("hyper_tokio", "current", 1, || {
        let hits = Arc::new(AtomicU64::new(0));
        move |stream| serve(stream, hits.clone())
    })
}
