//! The task toolkit: `unblock`, signals, `TaskGroup`, and the future combinators.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use solo::TaskGroup;
use solo::future::{Either, select};
use solo::signal::{Signal, SignalKind};
use solo::time::sleep;

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

fn raise(signal: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::getpid(), signal).unwrap();
}

#[test]
fn unblock_wakes_the_sleeping_runtime_from_the_pool_thread() {
    let _w = watchdog("unblock", 30);
    let before = solo::diag::stats();
    let main_thread = thread::current().id();
    let (value, pool_thread) = solo::block_on(solo::unblock(|| {
        thread::sleep(Duration::from_millis(30));
        (42, thread::current().id())
    }));
    assert_eq!(value, 42);
    assert_ne!(pool_thread, main_thread, "the job ran on the pool");
    let after = solo::diag::stats();
    assert!(
        after.reactor_sleeps > before.reactor_sleeps,
        "the runtime slept meanwhile"
    );
}

#[test]
fn unblock_awaited_in_a_task_wakes_it_through_the_cross_thread_inbox() {
    let _w = watchdog("unblock remote wake", 30);
    let before = solo::diag::stats();
    // The job waits for a gate that opens only after the task has parked on it, so the
    // task's wake always comes from the pool thread (a plain sleep in the job could end
    // before the task's first poll under valgrind, and the task then never parked).
    let (gate, gated) = std::sync::mpsc::channel::<()>();
    let value = solo::block_on(async move {
        let task = solo::spawn_local(solo::unblock(move || {
            gated.recv().unwrap();
            7
        }));
        solo::yield_now().await; // the task runs first and parks on the job
        gate.send(()).unwrap();
        task.await
    });
    assert_eq!(value, 7);
    let after = solo::diag::stats();
    // The pool thread's wake of the task went through the inbox, not the local queue.
    assert!(
        after.wakes_remote > before.wakes_remote,
        "no cross-thread wake: {before:?} -> {after:?}"
    );
}

#[test]
fn dropped_unblock_still_runs_its_job_to_completion() {
    let _w = watchdog("unblock detach", 30);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    solo::block_on(async move {
        let job = solo::unblock(move || {
            thread::sleep(Duration::from_millis(20));
            r.store(true, Ordering::SeqCst);
        });
        // Cancel it right away.
        let _ = solo::time::timeout(Duration::ZERO, job).await;
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ran.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the detached job never ran");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigint_sent_to_the_process_reaches_every_listener() {
    let _w = watchdog("sigint", 30);
    solo::block_on(async {
        let mut a = Signal::new(SignalKind::Interrupt).unwrap();
        let mut b = Signal::new(SignalKind::Interrupt).unwrap();
        let waiter = solo::spawn_local(async move {
            b.recv().await.unwrap();
        });
        raise(rustix::process::Signal::INT);
        a.recv().await.unwrap();
        waiter.await;
        // A second delivery is seen again by a listener that stays.
        raise(rustix::process::Signal::INT);
        a.recv().await.unwrap();
    });
}

#[test]
fn ctrl_c_future_completes_on_sigint() {
    let _w = watchdog("ctrl_c", 30);
    // SIGINT is shared with the test above: hold a listener the whole time so that no
    // delivery ever hits the default action (which would end the test process).
    let _guard = Signal::new(SignalKind::Interrupt).unwrap();
    solo::block_on(async {
        let ctrl_c = solo::spawn_local(solo::signal::ctrl_c());
        // Let it install its listener, then signal.
        solo::yield_now().await;
        raise(rustix::process::Signal::INT);
        ctrl_c.await.unwrap();
    });
}

#[test]
fn three_ctrl_c_futures_installed_then_one_sigint_completes_all_three() {
    let _w = watchdog("ctrl_c x3", 30);
    // As above: a listener for the whole test keeps SIGINT away from its default action.
    let _guard = Signal::new(SignalKind::Interrupt).unwrap();
    solo::block_on(async {
        let mut waiters: Vec<_> = (0..3).map(|_| Box::pin(solo::signal::ctrl_c())).collect();
        // The first poll installs each listener. (A SIGINT raised meanwhile by a test running
        // in parallel may already complete one; that one is simply done.)
        let mut done = [false; 3];
        for (waiter, done) in waiters.iter_mut().zip(&mut done) {
            if let Some(result) = futures_lite::future::poll_once(waiter.as_mut()).await {
                result.unwrap();
                *done = true;
            }
        }
        raise(rustix::process::Signal::INT);
        for (waiter, done) in waiters.into_iter().zip(done) {
            if !done {
                waiter.await.unwrap();
            }
        }
    });
}

#[test]
fn sigterm_reaches_a_terminate_listener_on_another_thread() {
    let _w = watchdog("sigterm", 30);
    let (ready_tx, ready_rx) = mpsc::channel();
    let listener = thread::spawn(move || {
        solo::block_on(async move {
            let mut term = Signal::new(SignalKind::Terminate).unwrap();
            ready_tx.send(()).unwrap();
            term.recv().await.unwrap();
        })
    });
    ready_rx.recv().unwrap();
    raise(rustix::process::Signal::TERM);
    listener.join().unwrap();
}

#[test]
fn task_group_yields_results_in_completion_order() {
    let _w = watchdog("group order", 30);
    solo::block_on(async {
        let mut group = TaskGroup::new();
        // Ahead of the first polls even under valgrind (a sleep already due at its first poll
        // completes in poll order).
        let slack = if std::env::var_os("SOLO_UNDER_VALGRIND").is_some() {
            500
        } else {
            20
        };
        let start = solo::time::now() + Duration::from_millis(slack);
        for (id, ms) in [(1, 25), (2, 5), (3, 15)] {
            group.spawn(async move {
                solo::time::sleep_until(start + Duration::from_millis(ms)).await;
                id
            });
        }
        assert_eq!(group.len(), 3);
        let mut got = Vec::new();
        while let Some(id) = group.next().await {
            got.push(id);
        }
        assert_eq!(got, [2, 3, 1]);
        assert!(group.is_empty());
    });
}

#[test]
fn task_group_reraises_a_panic_and_keeps_the_others() {
    let _w = watchdog("group panic", 30);
    solo::block_on(async {
        let mut group = TaskGroup::new();
        group.spawn(async { panic!("boom in a group task") });
        group.spawn(async {
            sleep(Duration::from_millis(5)).await;
            7
        });
        let first =
            futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(group.next())).await;
        assert!(first.is_err(), "the panic is re-raised by next()");
        assert_eq!(group.next().await, Some(7));
        assert_eq!(group.next().await, None);
    });
}

#[test]
fn dropping_a_task_group_cancels_its_tasks() {
    let _w = watchdog("group drop", 30);
    struct CountDrop(Rc<Cell<usize>>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let finished = Rc::new(Cell::new(0));
    solo::block_on(async {
        let mut group = TaskGroup::new();
        for _ in 0..10 {
            let guard = CountDrop(dropped.clone());
            let f = finished.clone();
            group.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
                f.set(f.get() + 1);
            });
        }
        solo::yield_now().await; // all started
        drop(group);
        solo::yield_now().await; // the cancelled futures are dropped by the executor
    });
    assert_eq!(dropped.get(), 10);
    assert_eq!(finished.get(), 0);
}

#[test]
fn select_is_biased_and_drops_the_loser() {
    solo::block_on(async {
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Loser(Arc<AtomicUsize>);
        impl Drop for Loser {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let loser = Loser(dropped.clone());
        let slow = async move {
            let _l = loser;
            sleep(Duration::from_secs(60)).await;
        };
        assert_eq!(select(slow, async { 5 }).await, Either::Right(5));
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        // Both ready: the left one wins.
        assert_eq!(select(async { 1 }, async { 2 }).await, Either::Left(1));
        assert_eq!(solo::future::zip(async { 1 }, async { 2 }).await, (1, 2));
        assert_eq!(solo::future::or(async { 1 }, async { 2 }).await, 1);
    });
}
