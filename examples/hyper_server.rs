//! hyper 1.x on solo (feature `hyper`): an HTTP/1.1 and HTTP/2 (h2c, prior knowledge) server
//! whose handler shares `Rc<RefCell<_>>` state across requests and connections.
//!
//! Every connection is a local task; the first bytes decide the protocol (the HTTP/2 preface
//! or not). HTTP/2 streams are spawned with `solo::compat::HyperExecutor` (`spawn_local`), so
//! nothing needs to be `Send`. With `--threads N` it runs N solo runtimes (`solo::pool`), each
//! with its own `SO_REUSEPORT` listener and its own state.
//!
//! ```sh
//! cargo run --release --features hyper --example hyper_server -- --port 8080
//! # listening on 127.0.0.1:8080
//! curl http://127.0.0.1:8080/                                # Hello, World!
//! curl --http2-prior-knowledge http://127.0.0.1:8080/hits    # requests this worker answered
//! curl -d 'some body' http://127.0.0.1:8080/echo
//! wrk -t1 -c50 -d5s --latency http://127.0.0.1:8080/
//! ```
//!
//! Options: `--port N` (default 8080; 0 picks a free port), `--threads N` (default 1),
//! `--duration-secs S` (stop after S seconds; default: run until killed), `--slow-poll-ms MS`
//! (solo's slow-poll detection threshold, default 10; 0 turns it off). The first line on
//! stdout is `listening on ADDR`. `examples/hyper_client.rs` is a client for it;
//! `benches/hyper_compare.sh` compares it with the same handler on hyper + tokio.

#[path = "support/hyper_app.rs"]
mod app;
#[path = "support/reuseport.rs"]
mod reuseport;

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use solo::compat::{HyperExecutor, HyperIo, HyperTimer};
use solo::net::{TcpListener, TcpStream};
use solo::pool::Builder;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port, shared by every worker.
    pub addr: SocketAddr,
    /// How many workers (solo runtimes, threads).
    pub threads: usize,
}

pub use reuseport::Server;

/// One worker's state, shared by all its connections and requests (never by two threads).
#[derive(Debug, Default)]
struct State {
    requests: u64,
}

/// Starts the workers; returns once every one of them listens.
pub fn start(config: Config) -> io::Result<Server> {
    let builder = Builder::new().threads(config.threads).thread_name("hyper");
    reuseport::start(builder, config.addr, accept_loop)
}

async fn accept_loop(listener: TcpListener) {
    let state = Rc::new(RefCell::new(State::default()));
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                solo::spawn_local(serve(stream, state.clone())).detach();
            }
            // Out of descriptors (or memory): back off instead of spinning on the backlog.
            Err(_) => solo::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Waits for enough of the first bytes to tell HTTP/2's preface from HTTP/1.1, without
/// consuming them. Gives up (as HTTP/1.1, which then times out or fails) after 10 s.
async fn sniff(stream: &TcpStream) -> io::Result<app::Protocol> {
    let mut buf = [0; app::H2_PREFACE.len()];
    for _ in 0..10_000 {
        let n = stream.peek(&mut buf).await?;
        match app::sniff(&buf[..n]) {
            app::Protocol::Unknown => solo::time::sleep(Duration::from_millis(1)).await,
            known => return Ok(known),
        }
    }
    Ok(app::Protocol::Http1)
}

/// Serves one connection with hyper, HTTP/1.1 (keep-alive, pipelining) or HTTP/2.
async fn serve(stream: TcpStream, state: Rc<RefCell<State>>) {
    let Ok(protocol) = sniff(&stream).await else {
        return;
    };
    let io = HyperIo::new(stream);
    let service = service_fn(move |req| {
        let hits = {
            let mut state = state.borrow_mut();
            state.requests += 1;
            state.requests
        };
        app::respond(req, hits)
    });
    // Errors (a reset, a malformed request, a header timeout) only end this connection.
    if protocol == app::Protocol::Http2 {
        let _ = http2::Builder::new(HyperExecutor)
            .timer(HyperTimer)
            .serve_connection(io, service)
            .await;
    } else {
        let _ = http1::Builder::new()
            .timer(HyperTimer)
            .serve_connection(io, service)
            .await;
    }
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> io::Result<()> {
    let mut config = Config {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
        threads: 1,
    };
    let mut duration = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| io::Error::other(format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--port" => config.addr.set_port(
                u16::try_from(value("--port")?).map_err(|_| io::Error::other("bad --port"))?,
            ),
            "--threads" => config.threads = value("--threads")?.max(1) as usize,
            "--duration-secs" => duration = Some(Duration::from_secs(value("--duration-secs")?)),
            // solo's slow-poll detection (on by default, 10 ms): 0 turns it off.
            "--slow-poll-ms" => solo::diag::set_slow_poll_threshold(
                Some(Duration::from_millis(value("--slow-poll-ms")?)).filter(|d| !d.is_zero()),
            ),
            other => {
                return Err(io::Error::other(format!(
                    "unknown argument {other}; usage: hyper_server [--port N] [--threads N] \
                     [--duration-secs S] [--slow-poll-ms MS]"
                )));
            }
        }
    }
    let server = start(config)?;
    println!("listening on {}", server.addr());
    io::Write::flush(&mut io::stdout())?;
    let outcome = match duration {
        Some(d) => {
            std::thread::sleep(d);
            server.shutdown()
        }
        None => server.join(),
    };
    outcome.map_err(io::Error::other)
}
