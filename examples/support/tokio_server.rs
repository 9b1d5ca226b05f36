//! The tokio side of the server comparisons (`http_tokio`, `hyper_tokio`): the command line,
//! `SO_REUSEPORT` listeners and tokio's two runtime shapes, around a per-connection handler.
//!
//! - `--runtime multi`: one listener, tokio's multi-thread (work-stealing) runtime with
//!   `--threads` workers.
//! - `--runtime current`: `--threads` OS threads, each with its own current-thread runtime
//!   and its own `SO_REUSEPORT` listener (thread-per-core, like solo's `solo::pool`).
//!
//! The first line on stdout is `listening on ADDR`. `--duration-secs S` exits after S
//! seconds; by default the server runs until killed.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

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

async fn accept_loop<S, Fut>(listener: TcpListener, serve: S)
where
    S: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Parses the command line (`--runtime multi|current`, `--port N`, `--threads N`,
/// `--duration-secs S`) and serves every accepted connection with a handler made by `make`,
/// called once per listener (so per-listener state stays on its runtime's threads).
pub fn run<M, S, Fut>(
    name: &str,
    default_runtime: &str,
    default_threads: usize,
    make: M,
) -> io::Result<()>
where
    M: Fn() -> S + Send + Sync + 'static,
    S: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
    let mut threads = default_threads;
    let mut runtime = String::from(default_runtime);
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
                    "unknown argument {other}; usage: {name} [--runtime multi|current] \
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
            rt.spawn(accept_loop(listener, make()));
            announce(addr)?;
            park(duration);
        }
        "current" => {
            // The first listener is handed to worker 0; the others bind the resolved port.
            let make = Arc::new(make);
            let mut first = Some(std_listener);
            let (bound_tx, bound_rx) = std::sync::mpsc::channel();
            for _ in 0..threads {
                let listener = match first.take() {
                    Some(l) => l,
                    None => bind_reuseport(addr)?,
                };
                let bound_tx = bound_tx.clone();
                let make = make.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime");
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(listener).expect("register");
                        bound_tx.send(()).expect("main waits");
                        accept_loop(listener, make()).await
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
