//! UDP: echo, empty datagrams, connected sockets, peeking, concurrent receivers, errors and
//! cancel safety.

mod net_support;

use std::io::{self, ErrorKind};
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::poll_once;
use net_support::watchdog;
use solo::net::UdpSocket;
use solo::time::timeout;

#[test]
fn udp_echo_round_trips() {
    let _w = watchdog("udp_echo", 60);
    solo::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let addr = server.local_addr()?;
        let echo = solo::spawn_local(async move {
            let mut buf = [0; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).await?;
                server.send_to(&buf[..n], from).await?;
            }
            io::Result::Ok(())
        });
        let client = UdpSocket::bind("127.0.0.1:0")?;
        client.connect(addr)?;
        let mut buf = [0; 1500];
        for i in 0..100u32 {
            let msg = i.to_le_bytes();
            client.send(&msg).await?;
            let n = client.recv(&mut buf).await?;
            assert_eq!(&buf[..n], &msg);
        }
        echo.await
    })
    .unwrap();
}

#[test]
fn empty_datagrams_are_sent_and_received_as_zero() {
    let _w = watchdog("udp_empty", 60);
    solo::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        assert_eq!(a.send_to(&[], b.local_addr()?).await?, 0);
        a.send_to(b"after", b.local_addr()?).await?;
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((n, from), (0, a.local_addr()?));
        // The empty datagram did not swallow the next one.
        let (n, _) = b.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"after");
        // A zero-length buffer still waits for, and consumes, a whole datagram.
        assert!(poll_once(b.recv_from(&mut [])).await.is_none());
        a.send_to(b"dropped", b.local_addr()?).await?;
        assert_eq!(b.recv_from(&mut []).await?.0, 0);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn peek_from_leaves_the_datagram_queued() {
    let _w = watchdog("udp_peek", 60);
    solo::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.send_to(b"peek me", b.local_addr()?).await?;
        let mut buf = [0; 16];
        let (n, from) = b.peek_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"peek me"[..], a.local_addr()?));
        let (n, _) = b.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"peek me");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn two_tasks_receive_on_one_socket_at_once() {
    let _w = watchdog("udp_two_receivers", 60);
    solo::block_on(async {
        let server = Rc::new(UdpSocket::bind("127.0.0.1:0")?);
        let addr = server.local_addr()?;
        let mut receivers = Vec::new();
        for _ in 0..2 {
            let server = server.clone();
            receivers.push(solo::spawn_local(async move {
                let mut buf = [0; 8];
                server.recv_from(&mut buf).await.map(|(n, _)| n)
            }));
        }
        solo::yield_now().await; // both wait
        let client = UdpSocket::bind("127.0.0.1:0")?;
        client.send_to(b"1", addr).await?;
        client.send_to(b"22", addr).await?;
        let mut sizes = Vec::new();
        for r in receivers {
            sizes.push(
                timeout(Duration::from_secs(5), r)
                    .await
                    .expect("both receive")?,
            );
        }
        sizes.sort();
        assert_eq!(sizes, [1, 2]);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn recv_from_is_cancel_safe() {
    let _w = watchdog("udp_cancel", 60);
    solo::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        let mut buf = [0; 8];
        assert!(
            timeout(Duration::from_millis(5), b.recv_from(&mut buf))
                .await
                .is_err()
        );
        let mut waiting = Box::pin(b.recv_from(&mut buf));
        assert!(poll_once(&mut waiting).await.is_none());
        a.send_to(b"kept", b.local_addr()?).await?;
        drop(waiting);
        let (n, _) = b.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"kept");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn connected_socket_learns_the_peer_port_is_closed() {
    let _w = watchdog("udp_refused", 60);
    solo::block_on(async {
        let closed = UdpSocket::bind("127.0.0.1:0")?.local_addr()?; // closed at once
        let s = Rc::new(UdpSocket::bind("127.0.0.1:0")?);
        s.connect(closed)?;
        assert_eq!(s.peer_addr()?, closed);
        let receiver = s.clone();
        let recv = solo::spawn_local(async move {
            let mut buf = [0; 8];
            receiver.recv(&mut buf).await
        });
        solo::yield_now().await; // the receive waits
        // Loopback answers with ICMP port unreachable: the error wakes the waiting receive.
        s.send(b"anyone?").await?;
        let res = timeout(Duration::from_secs(5), recv)
            .await
            .expect("the error wakes the receiver");
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        // The error was reported once; the socket blocks again afterwards (no busy loop).
        assert!(
            timeout(Duration::from_millis(20), s.recv(&mut [0; 8]))
                .await
                .is_err()
        );
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn broadcast_flag_round_trips() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(!s.broadcast().unwrap());
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
}

#[test]
fn std_socket_converts() {
    let _w = watchdog("udp_try_from", 60);
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    solo::block_on(async {
        let s = UdpSocket::try_from(std_socket)?;
        let peer = UdpSocket::bind("127.0.0.1:0")?;
        peer.send_to(b"x", s.local_addr()?).await?;
        assert_eq!(s.recv_from(&mut [0; 4]).await?.0, 1);
        // `send` without a peer is an error, not a wait.
        let err = s.send(b"no peer").await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::NotConnected | ErrorKind::InvalidInput
            ) || err.raw_os_error() == Some(libc::EDESTADDRREQ),
            "{err:?}"
        );
        io::Result::Ok(())
    })
    .unwrap();
}
