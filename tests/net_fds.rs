//! File descriptors and registrations: connect/close cycles leak nothing, dropping a socket
//! deregisters it, and a socket that reuses an fd number sees no stale readiness.
//!
//! These tests count the whole process's fds and epoll registrations, so they run one at a
//! time (`SERIAL`) and live in their own test binary.

mod net_support;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use net_support::{socket_count, socket_registrations, watchdog};
use solo::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use solo::time::timeout;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn ten_thousand_connect_close_cycles_leak_no_fd() {
    let _s = serial();
    let _w = watchdog("connect_close_cycles", 120);
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // Warm up (the reactor, the default executor) before taking the baseline.
        drop(TcpStream::connect(addr).await?);
        drop(listener.accept().await?);
        let (fds, regs) = (socket_count(), socket_registrations());
        for i in 0..10_000 {
            let client = TcpStream::connect(addr).await?;
            let (server, _) = listener.accept().await?;
            if i % 2 == 0 {
                drop(client);
                drop(server);
            } else {
                drop(server);
                drop(client);
            }
        }
        assert_eq!(socket_count(), fds, "sockets leaked");
        assert_eq!(socket_registrations(), regs, "registrations leaked");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn dropping_sockets_deregisters_and_closes_them() {
    let _s = serial();
    let _w = watchdog("drop_deregisters", 60);
    solo::block_on(async {
        let (fds, regs) = (socket_count(), socket_registrations());
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let (ua, ub) = UnixStream::pair()?;
        assert_eq!(socket_registrations(), regs + 6);
        assert_eq!(socket_count(), fds + 6);
        drop((listener, client, server, udp, ua, ub));
        assert_eq!(socket_registrations(), regs);
        assert_eq!(socket_count(), fds);

        // An attempt abandoned by a timeout closes its socket too.
        let closed_backlog = {
            let fd = rustix::net::socket(
                rustix::net::AddressFamily::INET,
                rustix::net::SocketType::STREAM,
                None,
            )?;
            let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
            rustix::net::bind(&fd, &any)?;
            rustix::net::listen(&fd, 0)?;
            std::net::TcpListener::from(fd)
        };
        let addr = closed_backlog.local_addr()?;
        let (fds, regs) = (socket_count(), socket_registrations());
        let mut queued = Vec::new();
        loop {
            match timeout(Duration::from_millis(30), TcpStream::connect(addr)).await {
                Ok(s) => queued.push(s?),
                Err(_) => break,
            }
            assert!(queued.len() < 64, "the backlog never filled");
        }
        drop(queued);
        assert_eq!(socket_count(), fds);
        assert_eq!(socket_registrations(), regs);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn a_socket_reusing_an_fd_number_sees_no_stale_readiness() {
    let _s = serial();
    let _w = watchdog("fd_reuse", 60);
    solo::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // `old` is readable (data queued, readiness recorded) when it is dropped.
        let mut peer_old = TcpStream::connect(addr).await?;
        let (old, _) = listener.accept().await?;
        peer_old.write_all(b"stale").await?;
        old.readable().await?;
        let old_fd = old.as_raw_fd();
        drop(old);

        // The next socket gets the same fd number, with nothing to read.
        let mut peer_new = TcpStream::connect(addr).await?;
        let (mut new, _) = listener.accept().await?;
        let new_fd = new.as_raw_fd();
        if new_fd != old_fd {
            // The client's socket took the number: check it instead.
            assert_eq!(
                peer_new.as_raw_fd(),
                old_fd,
                "no socket reused the fd number"
            );
            std::mem::swap(&mut new, &mut peer_new);
        }
        // Neither `readable` nor a read may see the old socket's readiness or data.
        assert!(
            timeout(Duration::from_millis(30), new.readable())
                .await
                .is_err()
        );
        let mut buf = [0; 8];
        assert!(
            timeout(Duration::from_millis(30), new.read(&mut buf))
                .await
                .is_err()
        );
        peer_new.write_all(b"fresh").await?;
        let n = new.read(&mut buf).await?;
        assert_eq!(&buf[..n], b"fresh");
        drop(peer_old);
        io::Result::Ok(())
    })
    .unwrap();
}
