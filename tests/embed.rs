//! Embedding: foreign host loops drive solo through `as_fd`, `next_deadline`, `run_ready` and
//! the wake callback, and everything that works under `block_on` still works.

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use solo::{Async, LocalExecutor, RunStatus};

/// Fails the test (aborting the process) instead of hanging CI.
struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: test `{name}` hung for {secs} s");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

/// A one-shot signal completed from another thread (stands in for any Send waker source).
#[derive(Clone, Default)]
struct Remote(Arc<Mutex<(bool, Option<Waker>)>>);

impl Remote {
    fn fire(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Future for Remote {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock().unwrap();
        if state.0 {
            Poll::Ready(())
        } else {
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

fn fd_readable(ex: &LocalExecutor<'_>, timeout: Option<Duration>) -> bool {
    let fd = ex.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let ts = timeout.map(|t| Timespec::try_from(t).unwrap());
    poll(&mut fds, ts.as_ref()).unwrap() == 1
}

/// A host loop that sleeps in poll(2) on solo's fd, bounded by solo's deadline.
fn poll_host(ex: &LocalExecutor<'_>, budget: usize) -> usize {
    let mut iterations = 0;
    loop {
        iterations += 1;
        let status = ex.run_ready(budget);
        if ex.is_empty() {
            return iterations;
        }
        let timeout = match status {
            RunStatus::MoreWork => Some(Duration::ZERO),
            RunStatus::WaitUntil(t) => Some(t.saturating_duration_since(Instant::now())),
            RunStatus::Idle => None,
        };
        fd_readable(ex, timeout);
    }
}

#[test]
fn poll_host_completes_timers_io_and_remote_wakes() {
    let _w = watchdog("poll_host_completes_timers_io_and_remote_wakes", 30);
    let ex = LocalExecutor::new();
    let done = Rc::new(Cell::new(0));

    let d = done.clone();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(20)).await;
        d.set(d.get() + 1);
    })
    .detach();

    let (a, mut b) = UnixStream::pair().unwrap();
    let d = done.clone();
    ex.spawn(async move {
        let mut a = Async::new(a).unwrap();
        let mut buf = [0; 5];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        d.set(d.get() + 1);
    })
    .detach();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        b.write_all(b"hello").unwrap();
        b
    });

    let remote = Remote::default();
    let r = remote.clone();
    let d = done.clone();
    ex.spawn(async move {
        r.await;
        d.set(d.get() + 1);
    })
    .detach();
    let waker_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(40));
        remote.fire();
    });

    let iterations = poll_host(&ex, 64);
    assert_eq!(done.get(), 3);
    // The host slept between events instead of spinning: a handful of wake-ups, not
    // thousands (timer, I/O, remote wake, plus start-up and the odd spurious one).
    assert!(iterations < 30, "host loop spun: {iterations} iterations");
    writer.join().unwrap();
    waker_thread.join().unwrap();
}

#[test]
fn idle_fd_stays_quiet_until_a_remote_wake() {
    let _w = watchdog("idle_fd_stays_quiet_until_a_remote_wake", 30);
    let ex = LocalExecutor::new();
    let remote = Remote::default();
    let r = remote.clone();
    let task = ex.spawn(r);
    assert_eq!(ex.run_ready(16), RunStatus::Idle);
    assert!(
        !fd_readable(&ex, Some(Duration::ZERO)),
        "idle fd must not be readable"
    );
    assert!(!fd_readable(&ex, Some(Duration::from_millis(20))));

    let t = thread::spawn(move || remote.fire());
    assert!(
        fd_readable(&ex, Some(Duration::from_secs(10))),
        "remote wake must make the fd readable"
    );
    t.join().unwrap();
    assert_eq!(ex.run_ready(16), RunStatus::Idle);
    assert!(task.is_finished());
    assert!(
        !fd_readable(&ex, Some(Duration::ZERO)),
        "run_ready must drain the notification"
    );
}

#[test]
fn owner_thread_wake_outside_run_ready_makes_fd_readable() {
    let _w = watchdog("owner_thread_wake_outside_run_ready_makes_fd_readable", 30);
    let ex = LocalExecutor::new();
    let remote = Remote::default();
    let task = ex.spawn(remote.clone());
    assert_eq!(ex.run_ready(16), RunStatus::Idle);
    assert!(!fd_readable(&ex, Some(Duration::ZERO)));
    // A host callback on the owner thread completes something a task waits on.
    remote.fire();
    assert!(fd_readable(&ex, Some(Duration::ZERO)));
    ex.run_ready(16);
    assert!(task.is_finished());
    // Spawning while idle is new work too.
    ex.spawn(async {}).detach();
    assert!(fd_readable(&ex, Some(Duration::ZERO)));
    assert_eq!(ex.run_ready(16), RunStatus::Idle);
    assert!(ex.is_empty());
}

#[test]
fn callback_host_without_fd_completes_everything() {
    let _w = watchdog("callback_host_without_fd_completes_everything", 30);
    let ex = LocalExecutor::new();
    // The std channel stands in for winit's EventLoopProxy::send_event.
    let (proxy, events) = mpsc::channel::<()>();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    ex.set_wake_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let _ = proxy.send(());
    });

    let done = Rc::new(Cell::new(0));
    let d = done.clone();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(15)).await;
        d.set(d.get() + 1);
    })
    .detach();
    let remote = Remote::default();
    let r = remote.clone();
    let d = done.clone();
    ex.spawn(async move {
        r.await;
        d.set(d.get() + 1);
    })
    .detach();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        remote.fire();
    });

    let mut iterations = 0;
    loop {
        iterations += 1;
        let status = ex.run_ready(64);
        if ex.is_empty() {
            break;
        }
        let wait = match status {
            RunStatus::MoreWork => Duration::ZERO,
            RunStatus::WaitUntil(t) => t.saturating_duration_since(Instant::now()),
            RunStatus::Idle => Duration::from_secs(20),
        };
        let _ = events.recv_timeout(wait);
    }
    t.join().unwrap();
    assert_eq!(done.get(), 2);
    assert!(iterations < 30, "host loop spun: {iterations} iterations");
    // The spawn into the idle executor calls back; the remote wake does too unless it lands
    // while the host is inside run_ready (then the executor finds the work by itself).
    assert!(
        calls.load(Ordering::SeqCst) >= 1,
        "the host was called back"
    );
}

/// A winit-style host learns of work only through the callback and its deadlines. A socket
/// that becomes readable wakes no task by itself; the executor's fd watcher must turn that
/// readiness into a callback, or the host would sleep through it.
#[test]
fn callback_host_is_called_back_when_a_socket_becomes_readable() {
    let _w = watchdog(
        "callback_host_is_called_back_when_a_socket_becomes_readable",
        60,
    );
    let ex = LocalExecutor::new();
    let (proxy, events) = mpsc::channel::<()>();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    ex.set_wake_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let _ = proxy.send(());
    });

    let (a, mut b) = UnixStream::pair().unwrap();
    let mut a = Async::new(a).unwrap();
    let got = ex.spawn(async move {
        let mut buf = [0; 5];
        a.read_exact(&mut buf).await.unwrap();
        buf
    });
    // The spawn found the executor idle, so it called back (or the watcher did first, for the
    // new socket's "writable" event): a host runs the executor for it. The task then waits on
    // the socket, and the callback is not called from inside.
    assert!(
        events.recv_timeout(Duration::from_secs(30)).is_ok(),
        "the spawn called back"
    );
    assert_eq!(ex.run_ready(64), RunStatus::Idle);
    assert!(
        events.try_recv().is_err(),
        "a callback from inside run_ready"
    );
    assert!(!got.is_finished());

    // The peer is a plain std thread: its write wakes no solo task, only the epoll set. It
    // writes once the host is idle, so the only way the host learns of it is the callback.
    let writer = thread::spawn(move || {
        b.write_all(b"hello").unwrap();
        b
    });
    let start = Instant::now();
    let woken = events.recv_timeout(Duration::from_secs(30));
    assert!(
        woken.is_ok(),
        "the host was not called back within 30 s of the socket becoming readable"
    );
    // Now a host loop: run until the task is done, waiting for a callback whenever solo is
    // idle. The data is there, so this takes one or two rounds, never a wait.
    let mut iterations = 0;
    while !got.is_finished() {
        iterations += 1;
        assert!(iterations < 10, "host loop spun: {iterations} iterations");
        match ex.run_ready(64) {
            RunStatus::MoreWork => {}
            RunStatus::Idle if got.is_finished() => {}
            RunStatus::Idle => {
                let woken = events.recv_timeout(Duration::from_secs(30));
                assert!(woken.is_ok(), "the host was not called back again");
            }
            RunStatus::WaitUntil(t) => panic!("no timer is pending, yet WaitUntil({t:?})"),
        }
    }
    let _b = writer.join().unwrap();
    assert_eq!(ex.block_on(got), *b"hello");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the spawn and the socket called back"
    );
}

/// The watcher wakes the host once per new event, not once per poll of a readable fd: data
/// that the host has not consumed yet does not make it spin.
#[test]
fn fd_watcher_does_not_spin_while_data_waits_unread() {
    let _w = watchdog("fd_watcher_does_not_spin_while_data_waits_unread", 60);
    let ex = LocalExecutor::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    ex.set_wake_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut a = Async::new(a).unwrap();
    // A reader waiting for one byte at a time: the data it waits for stays queued (and the
    // fd readable) until the host runs the executor.
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    ex.spawn(async move {
        let mut byte = [0; 1];
        while a.read_exact(&mut byte).await.is_ok() {
            g.set(g.get() + 1);
        }
    })
    .detach();
    // Settle like a host: run whenever called back (the spawn and the new socket's "writable"
    // event may each have called, the watcher's from its own thread and possibly late), until
    // a quiet spell.
    let mut seen = usize::MAX;
    while calls.load(Ordering::SeqCst) != seen {
        seen = calls.load(Ordering::SeqCst);
        let mut rounds = 0;
        while ex.run_ready(64) == RunStatus::MoreWork {
            rounds += 1;
            assert!(rounds < 100, "run_ready keeps reporting MoreWork");
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got.get(), 0);
    let before = calls.load(Ordering::SeqCst);
    b.write_all(b"x").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while calls.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "no callback for a new event");
        thread::sleep(Duration::from_millis(1));
    }
    // Give a spinning watcher every chance to call again; a correct one stays quiet until the
    // host runs the executor.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
    assert_eq!(got.get(), 0, "nothing runs until the host does");
    // After the host ran (and took the event), a new event calls back once more.
    assert_eq!(ex.run_ready(64), RunStatus::Idle);
    assert_eq!(got.get(), 1);
    b.write_all(b"y").unwrap();
    while calls.load(Ordering::SeqCst) == before + 1 {
        assert!(
            Instant::now() < deadline,
            "no callback for the second event"
        );
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(200));
    assert_eq!(calls.load(Ordering::SeqCst), before + 2);
}

/// The watcher thread stops with its executor: no thread named `solo-fd-watcher` survives.
#[test]
fn wake_callback_is_never_called_inside_run_ready() {
    let _w = watchdog("wake_callback_is_never_called_inside_run_ready", 30);
    let ex = LocalExecutor::new();
    let inside = Rc::new(Cell::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    ex.set_wake_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let i = inside.clone();
    let before = calls.load(Ordering::SeqCst);
    ex.spawn(async move {
        i.set(true);
        for _ in 0..10 {
            solo::yield_now().await; // owner-thread wakes inside run_ready
        }
    })
    .detach();
    // The spawn itself (executor idle) may call back once.
    let after_spawn = calls.load(Ordering::SeqCst);
    assert!(after_spawn - before <= 1);
    while ex.run_ready(4) == RunStatus::MoreWork {}
    assert!(inside.get());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        after_spawn,
        "no callback from inside run_ready"
    );
}

#[test]
fn task_storm_returns_control_every_budget_polls() {
    let _w = watchdog("task_storm_returns_control_every_budget_polls", 60);
    let ex = LocalExecutor::new();
    let polls = Rc::new(Cell::new(0usize));
    for _ in 0..10_000 {
        let p = polls.clone();
        ex.spawn(async move {
            for _ in 0..3 {
                p.set(p.get() + 1);
                solo::yield_now().await;
            }
            p.set(p.get() + 1);
        })
        .detach();
    }
    let budget = 256;
    let mut calls = 0;
    loop {
        let before = polls.get();
        let status = ex.run_ready(budget);
        calls += 1;
        assert!(
            polls.get() - before <= budget,
            "run_ready exceeded its budget"
        );
        if status != RunStatus::MoreWork {
            break;
        }
    }
    assert_eq!(polls.get(), 40_000);
    assert!(calls >= 40_000 / budget);
    assert!(ex.is_empty());
}

#[test]
fn next_deadline_tracks_the_earliest_timer() {
    let ex = LocalExecutor::new();
    assert_eq!(ex.next_deadline(), None);
    let start = Instant::now();
    ex.spawn(solo::time::sleep(Duration::from_secs(30)))
        .detach();
    ex.spawn(solo::time::sleep(Duration::from_secs(10)))
        .detach();
    // Ready tasks: the host must come back now.
    assert!(ex.next_deadline().unwrap() <= Instant::now());
    match ex.run_ready(16) {
        RunStatus::WaitUntil(t) => {
            assert!(t >= start + Duration::from_secs(10));
            assert!(t < start + Duration::from_secs(11));
            assert_eq!(ex.next_deadline(), Some(t));
        }
        other => panic!("expected WaitUntil, got {other:?}"),
    }
}

#[test]
fn calloop_dispatch_drives_timers_io_and_remote_wakes() {
    use calloop::generic::Generic;
    use calloop::timer::{TimeoutAction, Timer};
    use calloop::{EventLoop, Interest, Mode, PostAction};

    let _w = watchdog("calloop_dispatch_drives_timers_io_and_remote_wakes", 30);
    let ex = Rc::new(LocalExecutor::new());
    let done = Rc::new(Cell::new(0));

    let d = done.clone();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(10)).await;
        d.set(d.get() + 1);
    })
    .detach();
    let remote = Remote::default();
    let r = remote.clone();
    let d = done.clone();
    ex.spawn(async move {
        r.await;
        d.set(d.get() + 1);
    })
    .detach();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        remote.fire();
    });
    // A loopback TCP exchange between two tasks on this thread.
    let listener = solo::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let d = done.clone();
    ex.spawn(async move {
        use futures_lite::AsyncWriteExt;
        let (mut server, _) = listener.accept().await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        d.set(d.get() + 1);
    })
    .detach();
    let d = done.clone();
    ex.spawn(async move {
        use futures_lite::AsyncWriteExt;
        let mut client = solo::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        d.set(d.get() + 1);
    })
    .detach();

    let mut event_loop: EventLoop<'_, ()> = EventLoop::try_new().unwrap();
    let handle = event_loop.handle();
    let fd = ex.as_fd().try_clone_to_owned().unwrap();
    let ex2 = ex.clone();
    handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            move |_, _, _| {
                ex2.run_ready(64);
                Ok(PostAction::Continue)
            },
        )
        .unwrap();
    let mut dispatches = 0;
    while done.get() < 4 {
        dispatches += 1;
        // The deadline becomes a calloop timer, re-armed after every dispatch.
        if let Some(deadline) = ex.next_deadline() {
            let ex3 = ex.clone();
            handle
                .insert_source(Timer::from_deadline(deadline), move |_, _, _| {
                    ex3.run_ready(64);
                    TimeoutAction::Drop
                })
                .unwrap();
        }
        event_loop
            .dispatch(Some(Duration::from_secs(5)), &mut ())
            .unwrap();
    }
    t.join().unwrap();
    assert!(
        dispatches < 50,
        "calloop loop spun: {dispatches} dispatches"
    );
}
