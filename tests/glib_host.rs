//! A GLib main loop drives solo through `solo::glib::attach` (needs `--features glib`):
//! timers, loopback TCP and cross-thread wakes complete while only GLib runs the thread, and
//! the loop sleeps instead of spinning.

use std::cell::{Cell, RefCell};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glib::thread_guard::ThreadGuard;
use glib::{ControlFlow, MainContext, MainLoop, Priority};
use solo::{Async, LocalExecutor};

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

/// `glib::timeout_add_local` for a context other than the global default (each test runs on
/// its own thread with its own context).
fn add_timeout(
    context: &MainContext,
    interval: Duration,
    f: impl FnMut() -> ControlFlow + 'static,
) {
    let f = ThreadGuard::new(RefCell::new(f));
    glib::timeout_source_new(interval, None, Priority::DEFAULT, move || {
        (f.get_ref().borrow_mut())()
    })
    .attach(Some(context));
}

/// Quits `main_loop` after `after` whatever happens (the tests' own bound on run time).
fn quit_after(context: &MainContext, main_loop: &MainLoop, after: Duration) {
    let l = main_loop.clone();
    add_timeout(context, after, move || {
        l.quit();
        ControlFlow::Break
    });
}

#[test]
fn main_loop_runs_timer_tcp_and_cross_thread_wake_then_quits() {
    let _w = watchdog(
        "main_loop_runs_timer_tcp_and_cross_thread_wake_then_quits",
        30,
    );
    let context = MainContext::new();
    let main_loop = MainLoop::new(Some(&context), false);
    let ex = Rc::new(LocalExecutor::new());
    let attached = solo::glib::attach(ex.clone(), &context);
    let log = Rc::new(RefCell::new(Vec::<&'static str>::new()));

    let l = log.clone();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(20)).await;
        l.borrow_mut().push("timer");
    })
    .detach();

    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let l = log.clone();
    ex.spawn(async move {
        let (stream, _) = listener.read_with(|l| l.accept()).await.unwrap();
        let mut stream = Async::new(stream).unwrap();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        stream.write_all(b"pong").await.unwrap();
        l.borrow_mut().push("server");
    })
    .detach();
    let l = log.clone();
    ex.spawn(async move {
        let stream = solo::unblock(move || TcpStream::connect(addr))
            .await
            .unwrap();
        let mut stream = Async::new(stream).unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        l.borrow_mut().push("client");
    })
    .detach();

    let (tx, rx) = async_channel::bounded::<u32>(1);
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(40));
        tx.send_blocking(7).unwrap();
    });
    let l = log.clone();
    ex.spawn(async move {
        assert_eq!(rx.recv().await.unwrap(), 7);
        l.borrow_mut().push("cross-thread");
    })
    .detach();

    // A GLib callback reads the tasks' state and quits when all four reported.
    let (l, ml) = (log.clone(), main_loop.clone());
    let reads = Rc::new(Cell::new(0));
    let r = reads.clone();
    add_timeout(&context, Duration::from_millis(5), move || {
        r.set(r.get() + 1);
        if l.borrow().len() == 4 {
            ml.quit();
            return ControlFlow::Break;
        }
        ControlFlow::Continue
    });
    main_loop.run();
    sender.join().unwrap();

    let mut log = log.borrow().clone();
    log.sort_unstable();
    assert_eq!(log, ["client", "cross-thread", "server", "timer"]);
    assert!(ex.is_empty());
    assert!(reads.get() >= 1);
    // Start-up, a few I/O readiness edges, the timer, the unblock and channel wakes: a
    // handful of runs, not a spinning loop.
    assert!(
        attached.runs() < 40,
        "GLib dispatched solo {} times",
        attached.runs()
    );
}

#[test]
fn idle_executor_is_not_dispatched_while_a_long_timer_waits() {
    let _w = watchdog(
        "idle_executor_is_not_dispatched_while_a_long_timer_waits",
        30,
    );
    let context = MainContext::new();
    let main_loop = MainLoop::new(Some(&context), false);
    let ex = Rc::new(LocalExecutor::new());
    let attached = solo::glib::attach(ex.clone(), &context);
    let sleeper = ex.spawn(solo::time::sleep(Duration::from_secs(60)));

    quit_after(&context, &main_loop, Duration::from_millis(200));
    main_loop.run();
    // The start-up run registers the timer; then GLib sleeps until its own quit timer.
    assert_eq!(attached.runs(), 1, "the host loop spun while idle");
    assert!(!sleeper.is_finished());
}

#[test]
fn timeout_source_follows_the_earliest_deadline() {
    let _w = watchdog("timeout_source_follows_the_earliest_deadline", 30);
    let context = MainContext::new();
    let main_loop = MainLoop::new(Some(&context), false);
    let ex = Rc::new(LocalExecutor::new());
    let _attached = solo::glib::attach(ex.clone(), &context);
    ex.spawn(solo::time::sleep(Duration::from_secs(60)))
        .detach();

    let start = Instant::now();
    let woke = Rc::new(Cell::new(None));
    let (w, ml) = (woke.clone(), main_loop.clone());
    ex.spawn(async move {
        // A shorter timer registered after the long one: the GLib timeout must move up.
        solo::time::sleep(Duration::from_millis(10)).await;
        solo::time::sleep(Duration::from_millis(15)).await;
        w.set(Some(start.elapsed()));
        ml.quit();
    })
    .detach();
    quit_after(&context, &main_loop, Duration::from_secs(10));
    main_loop.run();
    let elapsed = woke.get().expect("the short timers never fired");
    assert!(
        elapsed >= Duration::from_millis(25),
        "woke early: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "woke late: {elapsed:?}");
}

#[test]
fn task_storm_lets_glib_dispatch_between_batches() {
    let _w = watchdog("task_storm_lets_glib_dispatch_between_batches", 60);
    let context = MainContext::new();
    let main_loop = MainLoop::new(Some(&context), false);
    let ex = Rc::new(LocalExecutor::new());
    let attached = solo::glib::attach(ex.clone(), &context);
    let budget = 128;
    attached.set_budget(budget);

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
    // An always-ready host source records how many polls ran between two of its dispatches.
    // It shares the adapter's idle priority: GLib dispatches every ready source of the best
    // ready priority each iteration, so an always-ready source above DEFAULT_IDLE would
    // starve solo (as it would starve any idle handler).
    let (p, ml, ex2) = (polls.clone(), main_loop.clone(), ex.clone());
    let last = Cell::new(0usize);
    let host_turns = Rc::new(Cell::new(0usize));
    let (h, max_gap) = (host_turns.clone(), Rc::new(Cell::new(0usize)));
    let g = max_gap.clone();
    let guard = ThreadGuard::new(move || {
        h.set(h.get() + 1);
        // From the host's second turn on: before its first, the fd source (made readable
        // by the tasks queued at attach) may run a batch at a better priority.
        if h.get() > 1 {
            g.set(g.get().max(p.get() - last.get()));
        }
        last.set(p.get());
        if ex2.is_empty() {
            ml.quit();
            return ControlFlow::Break;
        }
        ControlFlow::Continue
    });
    let guard = RefCell::new(guard);
    glib::idle_source_new(None, Priority::DEFAULT_IDLE, move || {
        (guard.borrow_mut().get_mut())()
    })
    .attach(Some(&context));
    main_loop.run();

    assert_eq!(polls.get(), 40_000);
    assert!(
        max_gap.get() <= budget,
        "{} polls ran without returning to GLib (budget {budget})",
        max_gap.get()
    );
    assert!(attached.runs() >= (40_000 / budget) as u64);
    assert!(host_turns.get() >= 40_000 / budget);
}

#[test]
fn dropping_the_guard_detaches_every_source() {
    let _w = watchdog("dropping_the_guard_detaches_every_source", 30);
    let context = MainContext::new();
    let ex = Rc::new(LocalExecutor::new());
    let attached = solo::glib::attach(ex.clone(), &context);
    ex.spawn(solo::time::sleep(Duration::from_millis(5)))
        .detach();
    context.iteration(false);
    assert_eq!(attached.runs(), 1);
    drop(attached);

    // The fd, timeout and idle sources are gone: GLib has nothing left to dispatch.
    let task = ex.spawn(async { 3 });
    thread::sleep(Duration::from_millis(10));
    while context.pending() {
        context.iteration(false);
    }
    assert!(!task.is_finished(), "a detached executor ran");
    // The executor itself lives on and can be driven some other way.
    assert_eq!(ex.block_on(task), 3);
}

#[test]
fn a_task_may_drop_the_guard_while_it_runs() {
    let _w = watchdog("a_task_may_drop_the_guard_while_it_runs", 30);
    let context = MainContext::new();
    let ex = Rc::new(LocalExecutor::new());
    let attached = Rc::new(RefCell::new(Some(solo::glib::attach(ex.clone(), &context))));
    let a = attached.clone();
    ex.spawn(async move {
        drop(a.borrow_mut().take());
    })
    .detach();
    ex.spawn(solo::time::sleep(Duration::from_millis(1)))
        .detach();
    context.iteration(false);
    assert!(attached.borrow().is_none());
    thread::sleep(Duration::from_millis(5));
    while context.pending() {
        context.iteration(false);
    }
    assert_eq!(ex.len(), 1, "the timer task must not run after detaching");
}
