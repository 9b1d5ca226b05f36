//! A TCP echo server: every connection is a task on this one thread.
//!
//! ```text
//! cargo run --release --example echo_server                       # port 0, stops after 10 s
//! cargo run --release --example echo_server -- --port 7000 --secs 0   # runs until killed
//! cargo run --release --example echo_server -- --slow-poll off       # no slow-poll monitor
//! ```
//!
//! It prints `listening on ADDR` and, when it stops, how many connections and echoes
//! (reads with data) it served, how many times it waited in `epoll_pwait2`, and its thread's
//! user and system CPU time per echo. Out of
//! file descriptors (`EMFILE`/`ENFILE`), `accept` fails while the connection waits in the
//! backlog, so the listener stays readable: the loop sleeps a few milliseconds before trying
//! again instead of spinning a core.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{TcpListener, TcpStream};
use solo::time::sleep;

/// How long to wait after `EMFILE`/`ENFILE` before accepting again.
const BACKOFF: Duration = Duration::from_millis(5);

thread_local! {
    /// Reads that returned data (one per echoed message when the client waits for each echo).
    static ECHOES: Cell<u64> = const { Cell::new(0) };
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(()); // the client closed
        }
        ECHOES.with(|e| e.set(e.get() + 1));
        stream.write_all(&buf[..n]).await?;
    }
}

/// This thread's (user, system) CPU time in microseconds.
#[cfg(target_os = "linux")]
fn thread_cpu_us() -> (f64, f64) {
    // SAFETY: `getrusage` fills the zeroed struct we pass; RUSAGE_THREAD is Linux's.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (us(usage.ru_utime), us(usage.ru_stime))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_us() -> (f64, f64) {
    (0.0, 0.0)
}

fn report(served: u64, start: solo::diag::Stats, cpu: (f64, f64)) {
    let stats = solo::diag::stats();
    let waits =
        (stats.reactor_sleeps + stats.reactor_polls) - (start.reactor_sleeps + start.reactor_polls);
    let echoes = ECHOES.with(Cell::get);
    // Per-echo figures of a run with no echo are per one (not a division by zero).
    let per = echoes.max(1) as f64;
    let (user, sys) = thread_cpu_us();
    println!(
        "served {served} connections, {echoes} echoes; {waits} epoll waits ({:.3} per echo); \
         server thread CPU per echo: user {:.2} us, system {:.2} us",
        waits as f64 / per,
        (user - cpu.0) / per,
        (sys - cpu.1) / per,
    );
}

fn main() -> io::Result<()> {
    let mut port = 0u16;
    let mut secs = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--port" => port = value.parse().expect("--port N"),
            "--secs" => secs = value.parse().expect("--secs N (0: forever)"),
            // `--slow-poll off`: no slow-poll monitor, to measure what its sampling costs.
            "--slow-poll" => match value.as_str() {
                "off" => solo::diag::set_slow_poll_threshold(None),
                other => {
                    panic!("--slow-poll takes `off` (the monitor is on by default), not {other:?}")
                }
            },
            other => panic!("unknown argument {other}; use --port N --secs N [--slow-poll off]"),
        }
    }

    let (stats, cpu) = (solo::diag::stats(), thread_cpu_us());
    solo::block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        println!("listening on {}", listener.local_addr()?);
        let served = Rc::new(Cell::new(0u64));
        let accept_loop = async {
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        served.set(served.get() + 1);
                        solo::spawn_local(async move {
                            if let Err(e) = serve(stream).await {
                                eprintln!("connection: {e}");
                            }
                        })
                        .detach();
                    }
                    Err(e) if is_out_of_fds(&e) => {
                        eprintln!("accept: {e}; backing off {BACKOFF:?}");
                        sleep(BACKOFF).await;
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        };
        if secs == 0 {
            accept_loop.await
        } else {
            let _ = solo::time::timeout(Duration::from_secs(secs), accept_loop).await;
            report(served.get(), stats, cpu);
            Ok(())
        }
    })
}

fn is_out_of_fds(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}
