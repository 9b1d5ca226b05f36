//! Shutdown: dropping an executor with live tasks, resources that outlive their executor, a
//! runtime in a thread-local, `Task`s awaited after the executor is gone and a forgotten
//! executor (scenarios 9, 17, 18, 21 and 22).
//!
//! Every test here holds `fd_lock()`: some count the process's file descriptors.

mod support;

use std::cell::Cell;
use std::future::{Future, pending, poll_fn};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use solo::{Async, LocalExecutor, Task};
use support::{
    DropLog, counting_waker, epoll_fds, expect_panic, fd_lock, open_sockets, registrations_of,
    tcp_pair, unix_pair, watchdog,
};

/// Reads from a blocking std socket until EOF, with a timeout so a bug cannot hang the test.
fn assert_peer_sees_eof(mut peer: &UnixStream) {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) => panic!("expected EOF (the other end closed), got {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 17 (and issue 2's "executor drop with pending tasks")

/// Every kind of pending task at drop time: never polled, pending, woken from another thread
/// (sitting in the inbox), woken locally (in the queue), and one whose drop cancels another.
#[test]
fn executor_drop_drops_every_pending_task_once_on_the_owner_thread() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let ex = LocalExecutor::new();
    let stash = |ex: &LocalExecutor<'_>, probe| {
        let wakers = wakers.clone();
        ex.spawn(poll_fn(move |cx| {
            let _ = &probe;
            wakers.lock().unwrap().push(cx.waker().clone());
            Poll::<()>::Pending
        }))
        .detach();
    };
    for _ in 0..4 {
        stash(&ex, log.probe());
    }
    // A task that owns the handle of another pending task: dropping it cancels that one.
    let (p1, p2) = (log.probe(), log.probe());
    let victim = ex.spawn(async move {
        let _p = p1;
        pending::<()>().await
    });
    ex.spawn(async move {
        let _p = p2;
        let _victim: Task<()> = victim;
        pending::<()>().await
    })
    .detach();
    ex.run_until_stalled();
    let stashed = wakers.lock().unwrap().clone();
    stashed[0].wake_by_ref(); // queued locally
    let remote = stashed[1].clone();
    thread::spawn(move || remote.wake()).join().unwrap(); // in the inbox
    // Never polled.
    let p = log.probe();
    ex.spawn(async move {
        let _p = p;
    })
    .detach();
    assert_eq!(ex.len(), 7);
    assert_eq!(log.dropped(), 0);
    drop(ex);
    log.assert_all_dropped_once_on(thread::current().id());
    assert_eq!(log.dropped(), 7);
    // Later wakes are no-ops.
    for w in stashed {
        w.wake();
    }
}

/// Tasks holding sockets (Unix and TCP), timers and `Rc`s: dropping the executor drops each
/// future once on the owner, deregisters every socket before closing it, removes every timer
/// (and the wakers it held), and brings the fd count back to its baseline.
#[test]
fn executor_drop_with_tasks_holding_sockets_timers_and_rcs_releases_everything() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    drop(LocalExecutor::new()); // create this thread's reactor before the baseline
    let baseline = open_sockets();
    let log = DropLog::new();
    let rc = Rc::new(());
    let (timer_waker, timer_wakers) = counting_waker();
    let mut unix_peers = Vec::new();
    let mut tcp_peers = Vec::new();
    // A dup of each socket keeps its open file alive after solo closes its fd, so a missing
    // `epoll_ctl(DEL)` would still be listed in /proc/self/fdinfo of the epoll fd.
    let mut dups = Vec::new();
    let mut fds = Vec::new();
    let ex = LocalExecutor::new();
    for _ in 0..8 {
        let (a, b) = unix_pair();
        dups.push(a.try_clone().unwrap());
        fds.push(a.as_raw_fd());
        unix_peers.push(b);
        let a = Async::new(a).unwrap();
        let (c, d) = tcp_pair();
        fds.push(c.as_raw_fd());
        tcp_peers.push(d);
        let c = Async::new(c).unwrap();
        let (probe, rc, timer_waker) = (log.probe(), rc.clone(), timer_waker.clone());
        ex.spawn(async move {
            let _probe = probe;
            let _rc = rc;
            // A timer registered with a waker we can count.
            let mut sleep = pin!(solo::time::sleep(Duration::from_secs(3600)));
            let _ = sleep.as_mut().poll(&mut Context::from_waker(&timer_waker));
            let mut buf = [0u8; 1];
            let _ = a.read_with(|mut s| s.read(&mut buf)).await;
            let _ = c.read_with(|mut s| s.read(&mut buf)).await;
            unreachable!("nobody writes");
        })
        .detach();
    }
    ex.run_until_stalled();
    assert_eq!(ex.len(), 8);
    for &fd in &fds {
        assert_eq!(registrations_of(fd), 1, "fd {fd} is registered once");
    }
    assert_eq!(
        timer_wakers.live(),
        1 + 8 + 8,
        "ours, the tasks' clones, the heap's"
    );
    assert_eq!(Rc::strong_count(&rc), 9);

    drop(ex);

    log.assert_all_dropped_once_on(thread::current().id());
    assert_eq!(Rc::strong_count(&rc), 1);
    assert_eq!(
        timer_wakers.live(),
        1,
        "the heap released every timer's waker"
    );
    for &fd in &fds {
        assert_eq!(registrations_of(fd), 0, "fd {fd} was deregistered");
    }
    drop(dups);
    for peer in &unix_peers {
        assert_peer_sees_eof(peer);
    }
    for peer in &tcp_peers {
        let mut buf = [0u8; 1];
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!((&*peer).read(&mut buf).unwrap(), 0, "TCP peer sees EOF");
    }
    drop(unix_peers);
    drop(tcp_peers);
    assert_eq!(open_sockets(), baseline, "socket count back to baseline");
}

/// Scenario 17's channel halves: tasks blocked on a oneshot, on an mpsc `recv`, on a full
/// bounded `send` and on a watch, and tasks that hold the only senders. Dropping the executor
/// drops each future once on the owner thread (the value inside the blocked `send` included),
/// and the halves held outside see their channels closed at once.
#[test]
fn executor_drop_with_tasks_holding_channel_halves_closes_every_channel() {
    use solo::sync::{mpsc, oneshot, watch};
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();

    // A task waits on a oneshot whose sender we keep.
    let (once_tx, once_rx) = oneshot::channel::<u32>();
    let p = log.probe();
    ex.spawn(async move {
        let _p = p;
        let _ = once_rx.await;
        unreachable!("nobody sends");
    })
    .detach();
    // A task holds the only mpsc sender; we keep the receiver.
    let (m_tx, mut m_rx) = mpsc::unbounded::<u32>();
    let p = log.probe();
    ex.spawn(async move {
        let _p = p;
        let _tx = m_tx;
        pending::<()>().await
    })
    .detach();
    // A task blocked sending a probe into a full bounded channel; we keep the receiver.
    let (full_tx, mut full_rx) = mpsc::channel(1);
    full_tx.try_send(log.probe()).unwrap();
    let blocked = log.probe();
    ex.spawn(async move {
        let _ = full_tx.send(blocked).await;
        unreachable!("the channel stays full");
    })
    .detach();
    // A task waits for a watch change; we keep the sender.
    let (w_tx, mut w_rx) = watch::channel(0u32);
    let p = log.probe();
    ex.spawn(async move {
        let _p = p;
        let _ = w_rx.changed().await;
        unreachable!("nobody sends");
    })
    .detach();
    // A task waits on its own mpsc receiver whose sender we keep.
    let (r_tx, mut r_rx) = mpsc::unbounded::<u32>();
    let p = log.probe();
    ex.spawn(async move {
        let _p = p;
        let _ = r_rx.recv().await;
        unreachable!("nobody sends");
    })
    .detach();

    ex.run_until_stalled();
    assert_eq!(ex.len(), 5);
    assert!(!once_tx.is_closed() && !w_tx.is_closed() && !r_tx.is_closed());
    assert_eq!(log.dropped(), 0);

    drop(ex);

    // Every probe dropped once on this thread, except the one still buffered in `full_rx`.
    assert_eq!(log.dropped(), log.created() - 1);
    assert!(
        log.drops()
            .iter()
            .all(|(_, t)| *t == thread::current().id())
    );
    assert!(once_tx.is_closed(), "the oneshot receiver is gone");
    assert_eq!(once_tx.send(7), Err(7));
    assert!(w_tx.is_closed(), "every watch receiver is gone");
    assert!(r_tx.is_closed(), "the mpsc receiver is gone");
    assert!(r_tx.try_send(1).is_err());
    // Receivers drain what was buffered, then see the end at once (no wait).
    assert_eq!(solo::block_on(m_rx.recv()), None);
    let buffered = solo::block_on(full_rx.recv()).expect("the buffered probe");
    assert_eq!(solo::block_on(full_rx.recv()).map(|p| p.id), None);
    drop(buffered);
    log.assert_all_dropped_once_on(thread::current().id());
}

// ---------------------------------------------------------------------------------------------
// Scenario 9: a runtime kept in a thread-local

#[test]
fn runtime_in_thread_local_dropped_at_thread_exit_drops_every_task() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    thread_local! {
        static EX: LocalExecutor<'static> = LocalExecutor::new();
    }
    let baseline = open_sockets();
    let log = DropLog::new();
    let l = log.clone();
    let worker = thread::spawn(move || {
        // Other test threads only close fds while we hold `fd_lock`, so the epoll fds that
        // appear now are this thread's reactor's.
        let before = epoll_fds();
        let (a, b) = unix_pair();
        let (c, d) = unix_pair();
        EX.with(|ex| {
            for i in 0..4 {
                let probe = l.probe();
                ex.spawn(async move {
                    let _p = probe;
                    solo::time::sleep(Duration::from_secs(3600 + i)).await;
                })
                .detach();
            }
            let probe = l.probe();
            let a = Async::new(a).unwrap();
            ex.spawn(async move {
                let _p = probe;
                let mut buf = [0u8; 1];
                let _ = a.read_with(|mut s| s.read(&mut buf)).await;
            })
            .detach();
            ex.run_until_stalled();
        });
        // The thread's default executor too (also a thread-local).
        let probe = l.probe();
        let c = Async::new(c).unwrap();
        solo::spawn_local(async move {
            let _p = probe;
            solo::time::sleep(Duration::from_secs(3600)).await;
            let mut buf = [0u8; 1];
            let _ = c.read_with(|mut s| s.read(&mut buf)).await;
        })
        .detach();
        solo::block_on(solo::yield_now());
        let mine: Vec<i32> = epoll_fds()
            .into_iter()
            .filter(|fd| !before.contains(fd))
            .collect();
        assert_eq!(mine.len(), 1, "one reactor per thread");
        (thread::current().id(), b, d, mine[0])
    });
    let (worker_id, b, d, worker_epoll) = worker.join().expect("no panic during TLS teardown");
    log.assert_all_dropped_once_on(worker_id);
    assert_eq!(log.dropped(), 6);
    assert_peer_sees_eof(&b);
    assert_peer_sees_eof(&d);
    drop((b, d));
    assert_eq!(open_sockets(), baseline);
    // The worker's reactor went with it.
    assert!(
        !epoll_fds().contains(&worker_epoll),
        "the worker's epoll fd {worker_epoll} was closed at thread exit"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 18: a socket or a Sleep outlives its executor
//
// solo's choice: timers and sockets belong to the *thread's* reactor, not to an executor. A
// `Sleep` or `Async` that outlives the executor it was first used under keeps working under
// any later solo executor on the same thread. Awaiting one where nothing could drive it (no
// solo executor running on the thread) panics with a message saying so instead of hanging.

#[test]
fn sleep_outliving_its_executor_panics_clearly_outside_a_runtime_and_completes_under_the_next() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let mut sleep = Box::pin(solo::time::sleep(Duration::from_millis(20)));
    {
        let ex = LocalExecutor::new();
        ex.block_on(poll_fn(|cx| {
            assert!(sleep.as_mut().poll(cx).is_pending(), "registered");
            Poll::Ready(())
        }));
    }
    // No executor runs: polling it again must not pretend to wait.
    let msg = expect_panic(|| {
        let _ = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "clear message, got: {msg}"
    );
    // Under the thread's next executor it completes, and not early.
    let start = Instant::now();
    let ex = LocalExecutor::new();
    ex.block_on(sleep.as_mut());
    assert!(sleep.is_elapsed());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn sleep_awaited_by_a_foreign_executor_panics_instead_of_hanging() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let msg =
        expect_panic(|| futures_executor::block_on(solo::time::sleep(Duration::from_secs(60))));
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
    // A registered sleep moved into a foreign executor, too.
    let mut sleep = Box::pin(solo::time::sleep(Duration::from_secs(60)));
    solo::block_on(poll_fn(|cx| {
        assert!(sleep.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    }));
    let msg = expect_panic(|| futures_executor::block_on(sleep.as_mut()));
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
}

#[test]
fn socket_outliving_its_executor_works_when_ready_panics_when_it_must_wait_and_closes_on_drop() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let a = Async::new(a).unwrap();
    {
        let ex = LocalExecutor::new();
        let t = ex.spawn(async {
            let mut buf = [0u8; 8];
            a.read_with(|mut s| s.read(&mut buf)).await
        });
        b.write_all(b"one").unwrap();
        assert_eq!(ex.block_on(t).unwrap(), 3);
    }
    // Data is there: the operation completes without waiting, even outside any runtime.
    b.write_all(b"two").unwrap();
    let mut buf = [0u8; 8];
    let n = futures_executor::block_on(a.read_with(|mut s| s.read(&mut buf))).unwrap();
    assert_eq!(&buf[..n], b"two");
    // Nothing there: it would have to wait, and nothing drives the reactor: a clear panic.
    let msg = expect_panic(|| futures_executor::block_on(a.read_with(|mut s| s.read(&mut buf))));
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
    // Under a new executor it waits and works.
    let ex = LocalExecutor::new();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        b.write_all(b"three").unwrap();
        b
    });
    let n = ex.block_on(a.read_with(|mut s| s.read(&mut buf))).unwrap();
    assert_eq!(&buf[..n], b"three");
    let b = writer.join().unwrap();
    let fd = a.as_raw_fd();
    drop(a);
    assert_eq!(registrations_of(fd), 0);
    assert_peer_sees_eof(&b);
}

/// The same for a `solo::net::TcpStream` connected under an executor that is then dropped.
#[test]
fn tcp_stream_outliving_its_executor_reads_what_is_there_panics_when_it_must_wait_and_closes_on_drop()
 {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut stream = {
        let ex = LocalExecutor::new();
        ex.block_on(solo::net::TcpStream::connect(addr)).unwrap()
    };
    let (mut peer, _) = listener.accept().unwrap();
    peer.write_all(b"ready").unwrap();
    let mut buf = [0u8; 16];
    // Wait until the bytes have arrived, without a runtime: `peek` on a dup of the socket
    // (non-blocking, like the original: the flag is shared, so it must not be changed).
    let dup = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned().unwrap());
    let arrived_by = Instant::now() + Duration::from_secs(5);
    while !matches!(dup.peek(&mut buf), Ok(5)) {
        assert!(
            Instant::now() < arrived_by,
            "the peer's bytes never arrived"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let n = futures_executor::block_on(stream.read(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"ready");
    assert_eq!(
        futures_executor::block_on(stream.write(b"back")).unwrap(),
        4,
        "writes with buffer space complete too"
    );
    let msg = expect_panic(|| futures_executor::block_on(stream.read(&mut buf)));
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
    let fd = stream.as_fd().as_raw_fd();
    drop(stream);
    assert_eq!(registrations_of(fd), 0, "deregistered at drop");
    drop(dup);
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(
        got, b"back",
        "the peer got the write, then EOF: the socket was closed"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 21: a Task awaited after its executor is dropped

#[test]
fn task_finished_before_executor_drop_yields_its_output_afterwards() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(async { String::from("kept") });
    ex.run_until_stalled();
    drop(ex);
    assert!(task.is_finished());
    assert_eq!(solo::block_on(task), "kept");
}

#[test]
fn task_unfinished_at_executor_drop_panics_with_clear_message_when_awaited() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let started = ex.spawn(pending::<u8>());
    let finished = ex.spawn(async { 1u8 });
    ex.block_on(solo::yield_now()); // polls `started` (pending) and `finished` (done)
    let unpolled = ex.spawn(async { 2u8 });
    drop(ex);
    for task in [started, unpolled] {
        assert!(task.is_finished());
        let line = task.location().line();
        let msg = expect_panic(|| solo::block_on(task));
        assert!(
            msg.contains("executor was dropped before the task finished"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("{}:{line}", file!())),
            "names the spawn site: {msg}"
        );
    }
    // The one that did finish still hands over its output.
    assert_eq!(solo::block_on(finished), 1);
}

#[test]
fn task_cancel_after_executor_drop_returns_none_without_hanging() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(pending::<()>());
    ex.run_until_stalled();
    drop(ex);
    assert_eq!(solo::block_on(task.cancel()), None);
}

// ---------------------------------------------------------------------------------------------
// Scenario 22: mem::forget of an executor

/// `mem::forget` leaks the executor and its tasks (their futures are never dropped, the
/// memory stays allocated): that is the documented cost and the reason this test's name ends
/// in `leaks_by_design` (`.ci/valgrind-tests` runs it without leak errors). Nothing else may
/// break: no UB (valgrind still checks memory errors), the thread's other executors, timers,
/// sockets and wakes keep working, and waking or cancelling a leaked task is harmless.
#[test]
fn forgotten_executor_leaks_by_design_and_the_thread_keeps_working() {
    let _l = fd_lock();
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let (a, mut b) = unix_pair();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let w = wakers.clone();
    let handle = ex.spawn(async move {
        let _p = probe;
        poll_fn(|cx| {
            w.lock().unwrap().push(cx.waker().clone());
            Poll::<()>::Pending
        })
        .await;
    });
    let probe = log.probe();
    ex.spawn(async move {
        let _p = probe;
        solo::time::sleep(Duration::from_millis(2)).await; // fires after the forget
        pending::<()>().await
    })
    .detach();
    let a = Async::new(a).unwrap();
    let probe = log.probe();
    ex.spawn(async move {
        let _p = probe;
        let mut buf = [0u8; 1];
        let _ = a.read_with(|mut s| s.read(&mut buf)).await;
        pending::<()>().await
    })
    .detach();
    ex.run_until_stalled();
    std::mem::forget(ex);

    // The leaked tasks get woken by their timer, their socket, a local and a remote wake.
    b.write_all(b"x").unwrap();
    let stashed = wakers.lock().unwrap().clone();
    stashed[0].wake_by_ref();
    let remote = stashed[0].clone();
    thread::spawn(move || remote.wake()).join().unwrap();
    // Another executor on the thread works, timers and all.
    let ex2 = LocalExecutor::new();
    let t = ex2.spawn(async {
        solo::time::sleep(Duration::from_millis(5)).await;
        solo::yield_now().await;
        "alive"
    });
    assert_eq!(ex2.block_on(t), "alive");
    assert_eq!(solo::block_on(async { 1 }), 1);
    // Cancelling a leaked task is harmless (it can never be dropped: its executor is gone
    // without a trace).
    assert!(!handle.is_finished());
    drop(handle);
    assert_eq!(
        log.dropped(),
        0,
        "a forgotten executor's futures are never dropped"
    );
    drop(stashed);
    let used = Cell::new(0);
    ex2.block_on(async { used.set(1) });
    assert_eq!(used.get(), 1);
}
