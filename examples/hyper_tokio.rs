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

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

/// A non-blocking std listener with `SO_REUSEADDR` and `SO_REUSEPORT`.
fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept_loop(listener: TcpListener) {
    let hits = Arc::new(AtomicU64::new(0));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, hits.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

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
    let mut addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
    let mut threads = 1;
    let mut runtime = String::from("current");
    let mut duration = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| io::Error::other(format!("{arg} needs a value")))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| io::Error::other(format!("{arg} needs a number")))
        };
        match arg.as_str() {
            "--port" => addr.set_port(number()? as u16),
            "--threads" => threads = number()?.max(1) as usize,
            "--duration-secs" => duration = Some(Duration::from_secs(number()?)),
            "--runtime" => runtime = value,
            other => {
                return Err(io::Error::other(format!(
                    "unknown argument {other}; usage: hyper_tokio [--runtime current|multi] \
                     [--port N] [--threads N] [--duration-secs S]"
                )));
            }
        }
    }
    let std_listener = bind_reuseport(addr)?;
    let addr = std_listener.local_addr()?;
    match runtime.as_str() {
        "multi" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()?;
            let listener = rt.block_on(async { TcpListener::from_std(std_listener) })?;
            rt.spawn(accept_loop(listener));
            announce(addr)?;
            park(duration);
        }
        "current" => {
            let mut first = Some(std_listener);
            let (bound_tx, bound_rx) = std::sync::mpsc::channel();
            for _ in 0..threads {
                let listener = match first.take() {
                    Some(l) => l,
                    None => bind_reuseport(addr)?,
                };
                let bound_tx = bound_tx.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime");
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(listener).expect("register");
                        bound_tx.send(()).expect("main waits");
                        accept_loop(listener).await
                    });
                });
            }
            for _ in 0..threads {
                bound_rx
                    .recv()
                    .map_err(|_| io::Error::other("a worker died"))?;
            }
            announce(addr)?;
            park(duration);
        }
        other => return Err(io::Error::other(format!("unknown runtime {other}"))),
    }
    std::process::exit(0)
}

fn announce(addr: SocketAddr) -> io::Result<()> {
    println!("listening on {addr}");
    io::Write::flush(&mut io::stdout())
}

fn park(duration: Option<Duration>) {
    match duration {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
}
