//! Load for an echo server: N connections on one thread, each sending 64-byte messages and
//! waiting for the echo, for D seconds; prints round trips per second and p50/p99 latency.
//!
//! ```text
//! cargo run --release --example echo_client                          # starts its own server
//! cargo run --release --example echo_client -- 127.0.0.1:7000 --conns 50 --secs 5
//! ```
//!
//! Without an address it starts a solo echo server on a second thread (two cores: one
//! server thread, one client thread).
//!
//! Slow-poll reports (see `solo::diag`) are counted rather than printed one by one: a load
//! generator on a shared or virtual machine sees its thread descheduled for tens of
//! milliseconds now and then, and the summary on stderr says how often and how long, since
//! those stalls land in the p99.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{TcpListener, TcpStream};

const MESSAGE: usize = 64;

/// Drives one connection until `deadline`; returns the latency of every round trip.
async fn drive(addr: SocketAddr, deadline: Instant) -> io::Result<Vec<u32>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let msg = [b'x'; MESSAGE];
    let mut back = [0; MESSAGE];
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let start = Instant::now();
        if start >= deadline {
            return Ok(latencies);
        }
        stream.write_all(&msg).await?;
        stream.read_exact(&mut back).await?;
        latencies.push(start.elapsed().as_nanos().min(u32::MAX as u128) as u32);
    }
}

/// A solo echo server on its own thread, for runs without an address.
fn spawn_server() -> io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        solo::block_on(async move {
            let listener = TcpListener::try_from(listener)?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                solo::spawn_local(async move {
                    stream.set_nodelay(true)?;
                    let mut buf = vec![0; 16 * 1024];
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
            #[allow(unreachable_code)]
            io::Result::Ok(())
        })
        .expect("echo server");
    });
    Ok(addr)
}

fn main() -> io::Result<()> {
    let mut addr = None;
    let mut conns = 50usize;
    let mut secs = 3u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--conns" => conns = args.next().and_then(|v| v.parse().ok()).expect("--conns N"),
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).expect("--secs N"),
            a => addr = Some(a.parse::<SocketAddr>().expect("ADDR like 127.0.0.1:7000")),
        }
    }
    let addr = match addr {
        Some(a) => a,
        None => {
            let a = spawn_server()?;
            println!("no address given: started a solo echo server on {a}");
            a
        }
    };

    // (count, longest) of the slow polls seen while the load runs.
    let slow = Arc::new(Mutex::new((0usize, Duration::ZERO)));
    let seen = slow.clone();
    solo::diag::set_slow_poll_handler(move |report| {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.0 += 1;
        seen.1 = seen.1.max(report.duration);
    });

    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut latencies: Vec<u32> = solo::block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| solo::spawn_local(drive(addr, deadline)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await?);
        }
        io::Result::Ok(all)
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or(0) as f64 / 1e3
    };
    println!(
        "{conns} connections, {MESSAGE}-byte messages, {secs} s: {} round trips, {:.0}/s, \
         p50 {:.1} us, p99 {:.1} us",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
    let (count, longest) = *slow.lock().unwrap_or_else(|e| e.into_inner());
    if count > 0 {
        eprintln!(
            "echo_client: {count} slow-poll report(s), the longest {:.1} ms: a solo thread \
             (the client, or the built-in server) was busy or descheduled that long, and the \
             round trips in flight then count in the p99",
            longest.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
