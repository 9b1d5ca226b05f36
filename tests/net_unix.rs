//! Unix domain sockets: listener and stream echo, pairs, half-close, EOF, zero-length
//! buffers, writes to a closed peer without SIGPIPE, datagrams.

mod net_support;

use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use net_support::{default_sigpipe, is_child, run_child, watchdog};
use solo::net::{UnixDatagram, UnixListener, UnixStream};
use solo::time::timeout;

/// A fresh socket path for one test, removed on drop.
struct SockPath(PathBuf);

impl SockPath {
    fn new(name: &str) -> SockPath {
        let p = std::env::temp_dir().join(format!("solo-net-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        SockPath(p)
    }
}

impl Drop for SockPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn echo(mut s: UnixStream) -> io::Result<u64> {
    let mut buf = vec![0; 4096];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

#[test]
fn unix_listener_serves_many_clients_on_one_thread() {
    let _w = watchdog("unix_echo", 60);
    let path = SockPath::new("echo");
    solo::block_on(async {
        let listener = UnixListener::bind(&path.0)?;
        let server = solo::spawn_local(async move {
            let mut incoming = listener.incoming();
            let mut conns = Vec::new();
            for _ in 0..100 {
                conns.push(solo::spawn_local(echo(incoming.next().await.unwrap()?)));
            }
            let mut total = 0;
            for c in conns {
                total += c.await?;
            }
            io::Result::Ok(total)
        });
        let mut clients = Vec::new();
        for i in 0..100u8 {
            let p = path.0.clone();
            clients.push(solo::spawn_local(async move {
                let mut s = UnixStream::connect(&p).await?;
                s.write_all(&[i; 64]).await?;
                let mut back = [0; 64];
                s.read_exact(&mut back).await?;
                assert_eq!(back, [i; 64]);
                io::Result::Ok(())
            }));
        }
        for c in clients {
            c.await?;
        }
        assert_eq!(server.await?, 100 * 64);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn std_client_on_another_thread_talks_to_unix_listener() {
    let _w = watchdog("unix_std_client", 60);
    let path = SockPath::new("std");
    let listener = UnixListener::bind(&path.0);
    let p = path.0.clone();
    solo::block_on(async {
        let listener = listener?;
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::os::unix::net::UnixStream::connect(p).unwrap();
            s.write_all(b"from std").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).unwrap();
            back
        });
        let (conn, peer) = listener.accept().await?;
        assert!(peer.is_unnamed());
        echo(conn).await?;
        assert_eq!(client.join().unwrap(), b"from std");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_half_close_and_eof_stays_zero() {
    let _w = watchdog("unix_half_close", 60);
    solo::block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        a.write_all(b"question").await?;
        a.close().await?; // shutdown(Write)
        let mut q = Vec::new();
        b.read_to_end(&mut q).await?;
        assert_eq!(q, b"question");
        b.write_all(b"answer").await?;
        drop(b);
        let mut ans = Vec::new();
        a.read_to_end(&mut ans).await?;
        assert_eq!(ans, b"answer");
        for _ in 0..3 {
            assert_eq!(a.read(&mut [0; 8]).await?, 0);
        }
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_zero_length_read_and_write_return_at_once() {
    let _w = watchdog("unix_zero_length", 60);
    solo::block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        assert_eq!(
            poll_once(a.read(&mut [])).await.map(Result::unwrap),
            Some(0)
        );
        assert_eq!(poll_once(a.write(&[])).await.map(Result::unwrap), Some(0));
        b.write_all(b"ok").await?;
        let mut buf = [0; 2];
        a.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ok");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_peer_writes_then_closes_in_one_edge_and_read_to_end_sees_eof() {
    let _w = watchdog("unix_write_close_one_edge", 60);
    solo::block_on(async {
        let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
        let mut ours = UnixStream::try_from(b)?;
        assert!(poll_once(ours.read(&mut [0; 64])).await.is_none()); // waiting, EAGAIN seen
        use std::io::Write;
        a.write_all(b"bye")?;
        drop(a);
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await?;
        assert_eq!(got, b"bye");
        io::Result::Ok(())
    })
    .unwrap();
}

fn closed_peer_scenario() {
    default_sigpipe();
    solo::block_on(async {
        let (a, b) = UnixStream::pair()?;
        let a = Rc::new(a);
        let reader = a.clone();
        let read_task = solo::spawn_local(async move { (&*reader).read(&mut [0; 8]).await });
        solo::yield_now().await;
        drop(b);
        assert_eq!(read_task.await?, 0); // EOF wakes the waiting reader
        let err = (&*a).write_all(b"into the void").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        io::Result::Ok(())
    })
    .unwrap();
    println!("UNIX PIPE SCENARIO OK");
}

#[test]
fn unix_write_to_closed_peer_is_broken_pipe_not_sigpipe() {
    if is_child("unix_pipe") {
        return closed_peer_scenario();
    }
    let _w = watchdog("unix_sigpipe", 60);
    let out = run_child(
        "unix_write_to_closed_peer_is_broken_pipe_not_sigpipe",
        "unix_pipe",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("UNIX PIPE SCENARIO OK"),
        "child: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unix_connect_errors() {
    let _w = watchdog("unix_connect_errors", 60);
    let path = SockPath::new("refused");
    solo::block_on(async {
        let err = UnixStream::connect(&path.0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        // A socket file nobody listens on any more.
        drop(UnixListener::bind(&path.0)?);
        let err = UnixStream::connect(&path.0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // Binding an existing path fails.
        assert_eq!(
            UnixListener::bind(&path.0).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_accept_is_cancel_safe() {
    let _w = watchdog("unix_accept_cancel", 60);
    let path = SockPath::new("cancel");
    solo::block_on(async {
        let listener = UnixListener::bind(&path.0)?;
        let mut waiting = Box::pin(listener.accept());
        assert!(poll_once(&mut waiting).await.is_none());
        let _client = UnixStream::connect(&path.0).await?;
        drop(waiting);
        let accepted = timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(matches!(accepted, Ok(Ok(_))));
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_datagrams_bound_unbound_and_paired() {
    let _w = watchdog("unix_datagram", 60);
    let server_path = SockPath::new("dgram-server");
    solo::block_on(async {
        let server = UnixDatagram::bind(&server_path.0)?;
        let client = UnixDatagram::unbound()?;
        client.send_to(b"hello", &server_path.0).await?;
        client.send_to(b"", &server_path.0).await?;
        let mut buf = [0; 16];
        let (n, from) = server.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from.is_unnamed()), (&b"hello"[..], true));
        assert_eq!(server.recv_from(&mut buf).await?.0, 0); // the empty datagram

        client.connect(&server_path.0)?;
        client.send(b"connected").await?;
        let n = server.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"connected");

        let (a, b) = UnixDatagram::pair()?;
        let b = Rc::new(b);
        let r = b.clone();
        let waiting = solo::spawn_local(async move { r.recv(&mut [0; 8]).await });
        solo::yield_now().await;
        a.send(b"pair").await?;
        assert_eq!(timeout(Duration::from_secs(5), waiting).await.unwrap()?, 4);
        a.shutdown(Shutdown::Both)?;
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn std_unix_sockets_convert() {
    let _w = watchdog("unix_try_from", 60);
    let path = SockPath::new("tryfrom");
    let std_listener = std::os::unix::net::UnixListener::bind(&path.0).unwrap();
    let (d1, d2) = std::os::unix::net::UnixDatagram::pair().unwrap();
    solo::block_on(async {
        let listener = UnixListener::try_from(std_listener)?;
        let std_client = std::os::unix::net::UnixStream::connect(&path.0)?;
        let mut client = UnixStream::try_from(std_client)?;
        let (mut conn, _) = listener.accept().await?;
        client.write_all(b"x").await?;
        let mut one = [0; 1];
        conn.read_exact(&mut one).await?;
        let (d1, d2) = (UnixDatagram::try_from(d1)?, UnixDatagram::try_from(d2)?);
        d1.send(b"d").await?;
        assert_eq!(d2.recv(&mut [0; 4]).await?, 1);
        io::Result::Ok(())
    })
    .unwrap();
}
