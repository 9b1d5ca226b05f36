//! The peers of `echo_server` for `benches/echo_compare.sh`: the same TCP echo (16 KiB read
//! buffer, `TCP_NODELAY`, one task per connection, one thread) on tokio's current-thread
//! runtime and on smol's `async-executor` + `async-io`.
//!
//! ```sh
//! cargo run --release --example echo_peers -- --runtime tokio --secs 5
//! cargo run --release --example echo_peers -- --runtime async-io --secs 5
//! ```
//!
//! The first line on stdout is `listening on ADDR`; the server exits after `--secs` seconds.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

fn main() -> io::Result<()> {
    let mut runtime = String::from("tokio");
    let mut secs = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| io::Error::other(format!("{arg} needs a value")))?;
        match arg.as_str() {
            "--runtime" => runtime = value,
            "--secs" => {
                secs = value
                    .parse()
                    .map_err(|_| io::Error::other("--secs needs a number"))?
            }
            other => {
                return Err(io::Error::other(format!(
                    "unknown argument {other}; usage: echo_peers --runtime tokio|async-io \
                     [--secs S]"
                )));
            }
        }
    }
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", listener.local_addr()?);
    io::Write::flush(&mut io::stdout())?;
    let run_for = Duration::from_secs(secs);
    match runtime.as_str() {
        "tokio" => tokio_echo(listener, run_for),
        "async-io" => async_io_echo(listener, run_for),
        other => Err(io::Error::other(format!("unknown runtime {other}"))),
    }
}

fn tokio_echo(listener: TcpListener, run_for: Duration) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let accept_loop = async {
            loop {
                let (mut stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::task::spawn_local(async move {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
            #[allow(unreachable_code)]
            io::Result::Ok(())
        };
        match tokio::time::timeout(run_for, accept_loop).await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    })
}

fn async_io_echo(listener: TcpListener, run_for: Duration) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
    let ex = Rc::new(async_executor::LocalExecutor::new());
    let listener = async_io::Async::new(listener)?;
    let serve = {
        let ex = ex.clone();
        async move {
            loop {
                let (stream, _) = listener.accept().await?;
                stream.get_ref().set_nodelay(true)?;
                let mut stream = stream;
                ex.spawn(async move {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
            #[allow(unreachable_code)]
            io::Result::Ok(())
        }
    };
    let stop = async {
        async_io::Timer::after(run_for).await;
        Ok(())
    };
    async_io::block_on(ex.run(serve.or(stop)))
}
