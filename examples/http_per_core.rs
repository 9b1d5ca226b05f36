//! An HTTP/1.1 server with one solo runtime per core (`solo::pool`).
//!
//! Every worker binds its own listener on the same port with `SO_REUSEPORT`, so the kernel
//! spreads connections over the workers and nothing is shared between them: each connection
//! lives and dies on one thread, as `!Send` tasks. Keep-alive and pipelining are supported
//! (every complete request in the buffer is answered, in order, in one write).
//!
//! ```sh
//! cargo run --release --example http_per_core -- --port 8080 --threads 2
//! # listening on 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/
//! wrk -t1 -c100 -d5s --latency http://127.0.0.1:8080/
//! ```
//!
//! Options: `--port N` (default 8080; 0 picks a free port), `--threads N` (default: one per
//! CPU), `--pin` (pin each worker to a CPU), `--duration-secs S` (stop after S seconds;
//! default: run until killed). The first line on stdout is `listening on ADDR`.
//!
//! `benches/http_compare.sh` runs this server against the same handler on tokio.

#[path = "support/http.rs"]
mod http;
#[path = "support/reuseport.rs"]
mod reuseport;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::pool::Builder;

use solo::net::{TcpListener, TcpStream};

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port, shared by every worker.
    pub addr: SocketAddr,
    /// How many workers (runtimes, threads).
    pub threads: usize,
    /// Pin each worker to one CPU.
    pub pin: bool,
}

pub use reuseport::Server;

/// Starts the workers; returns once every one of them listens.
pub fn start(config: Config) -> io::Result<Server> {
    let builder = Builder::new()
        .threads(config.threads)
        .thread_name("http")
        .pin_to_cores(config.pin);
    reuseport::start(builder, config.addr, accept_loop)
}

/// Accepts connections forever, each served by its own local task.
async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                // Small responses must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                solo::spawn_local(async move {
                    // A reset or a broken pipe only ends this connection.
                    let _ = serve_connection(stream).await;
                })
                .detach();
            }
            // Out of file descriptors or memory: the connection stays in the backlog and
            // the listener stays readable, so back off instead of spinning on the error.
            Err(e) if is_resource_exhaustion(&e) => {
                solo::time::sleep(Duration::from_millis(10)).await;
            }
            // The peer gave up before we accepted (ECONNABORTED) and the like.
            Err(_) => {}
        }
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// Reads requests and answers them until the peer closes or asks to close.
async fn serve_connection(stream: TcpStream) -> io::Result<()> {
    const READ: usize = 4096;
    let mut input = Vec::with_capacity(READ);
    let mut output = Vec::with_capacity(READ);
    loop {
        let filled = input.len();
        input.resize(filled + READ, 0);
        let n = (&stream).read(&mut input[filled..]).await?;
        input.truncate(filled + n);
        if n == 0 {
            return Ok(()); // the peer closed; a partial request is dropped
        }
        let answered = http::answer_all(&input, &mut output);
        input.drain(..answered.consumed);
        if !output.is_empty() {
            (&stream).write_all(&output).await?;
            output.clear();
        }
        if answered.close {
            return Ok(());
        }
    }
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> io::Result<()> {
    let mut config = Config {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        pin: false,
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
            "--pin" => config.pin = true,
            other => {
                return Err(io::Error::other(format!(
                    "unknown argument {other}; usage: http_per_core [--port N] [--threads N] \
                     [--pin] [--duration-secs S]"
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
