//! Loopback TCP echo of 64-byte messages over one connection: the round-trip time with a solo
//! server, a tokio current_thread server and an async-io (smol) server, in one group.
//!
//! The client is the same blocking std socket on the benchmark thread for every server, so
//! the difference between the lines is the server runtime (each on its own thread).
//!
//! ```text
//! cargo bench --bench net
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use criterion::{Criterion, criterion_group, criterion_main};

const MESSAGE: usize = 64;

type Server = fn(TcpListener);

fn solo_server(listener: TcpListener) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    solo::block_on(async move {
        let listener = solo::net::TcpListener::try_from(listener)?;
        let (mut s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        let mut buf = [0; 4096];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    })
    .unwrap();
}

fn tokio_server(listener: TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (mut s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        let mut buf = [0; 4096];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    })
    .unwrap();
}

fn async_io_server(listener: TcpListener) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    async_io::block_on(async move {
        let listener = async_io::Async::new(listener)?;
        let (mut s, _) = listener.accept().await?;
        s.get_ref().set_nodelay(true)?;
        let mut buf = [0; 4096];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    })
    .unwrap();
}

/// Starts `server` on its own thread and connects a blocking client to it.
fn start(server: Server) -> (TcpStream, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || server(listener));
    let client = TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    (client, handle)
}

fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo_64B_1conn");
    let servers: [(&str, Server); 3] = [
        ("solo", solo_server),
        ("tokio_current_thread", tokio_server),
        ("async_io", async_io_server),
    ];
    for (name, server) in servers {
        let (mut client, handle) = start(server);
        let msg = [7u8; MESSAGE];
        let mut back = [0u8; MESSAGE];
        group.bench_function(name, |b| {
            b.iter(|| {
                client.write_all(&msg).unwrap();
                client.read_exact(&mut back).unwrap();
            })
        });
        drop(client); // EOF: the server returns and its thread ends
        handle.join().unwrap();
    }
    group.finish();
}

criterion_group!(benches, tcp_echo);
criterion_main!(benches);
