//! `Async<T>` over Unix sockets: bad input (regular files, double registration), EOF and
//! half-close, zero-length buffers and spurious readiness (scenarios 34-36 on a Unix pair, and
//! issue 2's "Bad input").
//!
//! Every test holds `fd_lock()`: some inspect this process's epoll registrations.

mod support;

use std::cell::Cell;
use std::fs::File;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::rc::Rc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use rustix::fs::{OFlags, fcntl_getfl};
use solo::{Async, LocalExecutor};
use support::{fd_lock, fill_socket, registrations_of, tcp_pair, unix_pair, watchdog};
use tokio_test::{assert_ready, task};

fn temp_file() -> File {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "solo-async-io-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

fn is_nonblocking(fd: &impl std::os::fd::AsFd) -> bool {
    fcntl_getfl(fd).unwrap().contains(OFlags::NONBLOCK)
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn async_new_on_regular_file_fails_and_registers_nothing() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let file = temp_file();
    let fd = file.as_raw_fd();
    let err = Async::new(&file).expect_err("epoll cannot poll a regular file");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    assert_eq!(registrations_of(fd), 0, "nothing registered");
    assert!(
        !is_nonblocking(&file),
        "the fd's flags are left as they were"
    );
    // The owned form drops (closes) the file with the error.
    let err = Async::new(temp_file()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    // The reactor is unaffected.
    let (a, mut b) = unix_pair();
    let a = Async::new(a).unwrap();
    b.write_all(b"ok").unwrap();
    let mut buf = [0u8; 2];
    solo::block_on((&a).read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"ok");
}

#[test]
fn double_registration_fails_with_already_exists_and_the_first_still_works() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let fd = a.as_raw_fd();
    let first = Async::new(&a).unwrap();
    let err = Async::new(&a).expect_err("the fd is already registered");
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(registrations_of(fd), 1);
    // The first registration still delivers events (this read has to wait for one).
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        b.write_all(b"still works").unwrap();
        b
    });
    let mut buf = [0u8; 11];
    let n = solo::block_on(first.read_with(|s| {
        let mut s: &UnixStream = s;
        s.read(&mut buf)
    }))
    .unwrap();
    assert_eq!(&buf[..n], b"still works");
    let _b = writer.join().unwrap();
    drop(first);
    assert_eq!(registrations_of(fd), 0, "dropping it deregisters");
}

#[test]
fn into_inner_deregisters_and_restores_blocking_mode() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, _b) = unix_pair();
    let fd = a.as_raw_fd();
    let a = Async::new(a).unwrap();
    assert!(is_nonblocking(a.get_ref()));
    assert_eq!(registrations_of(fd), 1);
    let a = a.into_inner().unwrap();
    assert!(!is_nonblocking(&a));
    assert_eq!(registrations_of(fd), 0);
    // It can be registered again.
    let a = Async::new(a).unwrap();
    assert_eq!(registrations_of(fd), 1);
    drop(a);
}

// ---------------------------------------------------------------------------------------------
// Scenario 34 (on a Unix pair): EOF and half-close

#[test]
fn read_after_eof_returns_ok_zero_every_time_without_blocking() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let mut a = Async::new(a).unwrap();
    b.write_all(b"last").unwrap();
    drop(b);
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let mut buf = [0u8; 16];
        assert_eq!(a.read(&mut buf).await.unwrap(), 4);
        assert_eq!(a.read(&mut buf).await.unwrap(), 0, "EOF");
        for _ in 0..100 {
            // Ready on the first poll, every time.
            let mut read = task::spawn(a.read(&mut buf));
            assert_eq!(assert_ready!(read.poll()).unwrap(), 0);
        }
        let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        assert_eq!(n, 0);
    });
}

/// The peer's last data and its FIN (or close) arrive together, in one readiness edge, while
/// the reader waits. Reading that data is a short read, but the buffer is not "drained" in
/// the sense that matters: EOF is still to be read, and no further edge will ever come. The
/// reader must see EOF, not wait forever.
#[test]
fn unix_peer_writes_then_closes_in_one_edge_and_read_to_end_sees_eof() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    let reader = ex.spawn(async {
        let mut got = Vec::new();
        (&a).read_to_end(&mut got).await.unwrap();
        got
    });
    ex.run_until_stalled(); // the reader tried, got WouldBlock, and waits
    (&b).write_all(b"last words").unwrap();
    drop(b);
    assert_eq!(ex.block_on(reader), b"last words");
}

/// As above, over TCP, where a FIN alone raises no `EPOLLHUP`.
#[test]
fn tcp_peer_writes_then_closes_in_one_edge_and_read_to_end_sees_eof() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (client, server) = tcp_pair();
    let client = Async::new(client).unwrap();
    let ex = LocalExecutor::new();
    let reader = ex.spawn(async {
        let mut got = Vec::new();
        (&client).read_to_end(&mut got).await.unwrap();
        got
    });
    ex.run_until_stalled();
    (&server).write_all(b"response").unwrap();
    drop(server);
    // Let the data and the FIN both land before the reactor looks.
    thread::sleep(Duration::from_millis(10));
    assert_eq!(ex.block_on(reader), b"response");
}

#[test]
fn shutdown_write_gives_the_peer_eof_while_reads_still_work() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
    let ex = LocalExecutor::new();
    ex.block_on(async {
        (&a).write_all(b"bye").await.unwrap();
        a.get_ref().shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye", "the peer saw the data, then EOF");
        // The other direction still works, and has to wait for the data.
        let reader = ex.spawn(async {
            let mut buf = [0u8; 5];
            (&a).read_exact(&mut buf).await.unwrap();
            buf
        });
        solo::time::sleep(Duration::from_millis(2)).await;
        (&b).write_all(b"reply").await.unwrap();
        assert_eq!(&reader.await, b"reply");
    });
}

// ---------------------------------------------------------------------------------------------
// Scenario 35: zero-length buffers

#[test]
fn zero_length_read_returns_ok_zero_at_once_and_does_not_mark_eof() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let mut a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    ex.block_on(async {
        // Nothing is queued: a real read would block.
        let mut empty = [0u8; 0];
        for _ in 0..3 {
            assert_eq!(
                assert_ready!(task::spawn(a.read(&mut empty)).poll()).unwrap(),
                0
            );
        }
        b.write_all(b"x").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(a.read(&mut buf).await.unwrap(), 1, "not EOF");
        assert_eq!(buf[0], b'x');
    });
}

#[test]
fn zero_length_write_returns_ok_zero_at_once_even_when_the_buffer_is_full() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let mut a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let filled = fill_socket(a.get_ref());
        assert!(filled > 0);
        assert_eq!(assert_ready!(task::spawn(a.write(&[])).poll()).unwrap(), 0);
        // A real write must wait now.
        let mut write = task::spawn(a.write(b"more"));
        assert!(write.poll().is_pending());
        drop(write);
        // Drain the peer, and the write goes through.
        let drainer = thread::spawn(move || {
            let mut b = b;
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0;
            while total < filled + 4 {
                total += b.read(&mut buf).unwrap();
            }
            total
        });
        a.write_all(b"more").await.unwrap();
        assert_eq!(drainer.join().unwrap(), filled + 4);
    });
}

#[test]
fn empty_datagram_is_sent_and_received_as_ok_zero() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = UnixDatagram::pair().unwrap();
    let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let receiver = ex.spawn(async {
            let mut buf = [0u8; 8];
            let first = b.read_with(|s| s.recv(&mut buf)).await.unwrap();
            let second = b.read_with(|s| s.recv(&mut buf)).await.unwrap();
            (first, second, buf[0])
        });
        solo::yield_now().await; // the receiver waits
        assert_eq!(a.write_with(|s| s.send(&[])).await.unwrap(), 0);
        assert_eq!(a.write_with(|s| s.send(b"z")).await.unwrap(), 1);
        assert_eq!(receiver.await, (0, 1, b'z'));
    });
}

// ---------------------------------------------------------------------------------------------
// Scenario 36: spurious readiness

/// The reader is woken by a readiness event, but another task drains the data first: the
/// reader's operation sees `WouldBlock`, and it waits again (no busy loop) until new data
/// brings a new event.
#[test]
fn readiness_event_without_data_makes_the_read_wait_again_without_spinning() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ops = Rc::new(Cell::new(0));
    let o = ops.clone();
    let ex = LocalExecutor::new();
    // Registered first, so woken first: steals the data.
    let thief = ex.spawn(async {
        a.readable().await.unwrap();
        let mut buf = [0u8; 16];
        a.get_ref().read(&mut buf).unwrap()
    });
    let reader = ex.spawn(async {
        let mut buf = [0u8; 16];
        a.read_with(|mut s| {
            o.set(o.get() + 1);
            s.read(&mut buf)
        })
        .await
        .unwrap()
    });
    ex.run_until_stalled();
    assert_eq!(ops.get(), 1, "tried once, WouldBlock");
    (&b).write_all(b"stolen").unwrap();
    let stolen = ex.block_on(thief);
    assert_eq!(stolen, 6);
    ex.run_until_stalled();
    assert_eq!(
        ops.get(),
        2,
        "woken by the event, found nothing, waits again"
    );
    // Waiting costs no further attempts.
    ex.block_on(solo::time::sleep(Duration::from_millis(20)));
    assert_eq!(ops.get(), 2, "no busy loop");
    assert!(!reader.is_finished());
    // New data: a new event arrives and the read completes.
    (&b).write_all(b"mine!").unwrap();
    assert_eq!(ex.block_on(reader), 5);
    assert_eq!(ops.get(), 3);
}

/// Spurious *task* wakes (the task is polled for another reason) do not retry a read that is
/// known not to be ready: no syscall, no spin.
#[test]
fn spurious_task_wakes_do_not_retry_a_read_known_not_ready() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ops = Cell::new(0);
    let ex = LocalExecutor::new();
    let got = ex.block_on(async {
        let mut buf = [0u8; 8];
        let read = a.read_with(|mut s| {
            ops.set(ops.get() + 1);
            s.read(&mut buf)
        });
        let mut spurious = 0;
        let noise = poll_fn(|cx| {
            spurious += 1;
            if spurious == 200 {
                (&b).write_all(b"hi").unwrap();
            }
            cx.waker().wake_by_ref();
            Poll::<io::Result<usize>>::Pending
        });
        future::or(read, noise).await.unwrap()
    });
    assert_eq!(got, 2);
    assert_eq!(
        ops.get(),
        2,
        "one WouldBlock, then one read after the event"
    );
}

/// A socket's wake is spent when it fires: a task that read and then waits on something else
/// is not polled again because more data arrived, until it asks to read again.
#[test]
fn later_data_does_not_wake_a_task_that_stopped_reading() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    let polls = Rc::new(Cell::new(0));
    let task = {
        let polls = polls.clone();
        let mut work = Box::pin(async move {
            // A task parked before (as most readers are) is woken through its executor slot.
            solo::yield_now().await;
            let mut buf = [0u8; 8];
            let n = (&a).read(&mut buf).await.unwrap();
            // Waits forever, registering nothing.
            std::future::pending::<()>().await;
            n
        });
        ex.spawn(poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            work.as_mut().poll(cx)
        }))
    };
    let settle = || ex.block_on(solo::time::sleep(Duration::from_millis(20)));
    settle();
    assert_eq!(polls.get(), 2, "the second poll waits to read");
    (&b).write_all(b"hi").unwrap();
    settle();
    assert_eq!(
        polls.get(),
        3,
        "the data woke the reader, which then waits on `pending`"
    );
    (&b).write_all(b"more").unwrap();
    settle();
    assert_eq!(
        polls.get(),
        3,
        "later data must not wake a task that stopped reading"
    );
    drop(task);
    ex.run_until_stalled();
    assert!(ex.is_empty());
}

/// After a partial drain (a short read proves the buffer empty), the next read waits, and a
/// later arrival still produces an event.
#[test]
fn partial_drain_then_new_data_still_produces_an_event() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = unix_pair();
    let mut a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    (&b).write_all(b"0123456789").unwrap();
    ex.block_on(async {
        let mut buf = [0u8; 4];
        assert_eq!(a.read(&mut buf).await.unwrap(), 4);
        assert_eq!(a.read(&mut buf).await.unwrap(), 4);
        assert_eq!(a.read(&mut buf).await.unwrap(), 2, "short read: drained");
        let mut next = task::spawn(a.read(&mut buf));
        assert!(next.poll().is_pending());
        drop(next);
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            (&b).write_all(b"abc").unwrap();
            b
        });
        assert_eq!(a.read(&mut buf).await.unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        drop(writer.join().unwrap());
        assert_eq!(a.read(&mut buf).await.unwrap(), 0, "then EOF");
    });
}

// ---------------------------------------------------------------------------------------------
// Plain round trips

#[test]
fn async_unix_pair_round_trip_of_a_megabyte_in_both_directions() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(20));
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
    let size = support::scaled(1 << 20);
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let writer = ex.spawn(async {
            (&a).write_all(&data).await.unwrap();
            let mut back = vec![0u8; size];
            (&a).read_exact(&mut back).await.unwrap();
            back
        });
        let echo = ex.spawn(async {
            let mut buf = vec![0u8; size];
            (&b).read_exact(&mut buf).await.unwrap();
            (&b).write_all(&buf).await.unwrap();
        });
        echo.await;
        assert!(writer.await == data);
    });
}
