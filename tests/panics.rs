//! Panics in tasks, in the `block_on` future, in destructors, in wakers and while spawning
//! (scenarios 11-16).
//!
//! Panics printed by the default hook during these tests are expected.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending};
use std::io::Write;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use solo::{Async, LocalExecutor};
use support::{
    DropLog, counting_waker, expect_panic, panic_message, panicking_waker, slack, unix_pair,
    watchdog,
};

// ---------------------------------------------------------------------------------------------
// Scenario 11: a task panics in poll

#[test]
fn task_panics_in_poll_then_executor_continues_and_await_reraises() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let others_ran = Cell::new(0);
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let bad = ex.spawn(async move {
        let _state = probe;
        solo::yield_now().await;
        panic!("task blew up");
    });
    for _ in 0..3 {
        ex.spawn(async {
            solo::yield_now().await;
            solo::yield_now().await;
            others_ran.set(others_ran.get() + 1);
        })
        .detach();
    }
    assert_eq!(ex.len(), 4);
    ex.run_until_stalled();
    assert_eq!(others_ran.get(), 3, "the other tasks ran to completion");
    assert!(bad.is_finished());
    assert_eq!(ex.len(), 0, "the panicked task is no longer counted");
    log.assert_all_dropped_once_on(thread::current().id());
    // Awaiting its Task re-raises the panic, with the original payload.
    let msg = expect_panic(|| ex.block_on(bad));
    assert_eq!(msg, "task blew up");
    // The executor is still usable.
    assert_eq!(ex.block_on(ex.spawn(async { 3 })), 3);
}

#[test]
fn panicking_task_awaited_by_another_task_propagates_to_that_task_only() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let bad = ex.spawn(async { panic!("inner") });
    let awaiter = ex.spawn(async move {
        bad.await;
    });
    let bystander = ex.spawn(async { "fine" });
    ex.run_until_stalled();
    assert_eq!(ex.len(), 0);
    assert_eq!(expect_panic(|| ex.block_on(awaiter)), "inner");
    assert_eq!(ex.block_on(bystander), "fine");
}

#[test]
fn detached_task_panic_is_contained() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.spawn(async { panic!("detached") }).detach();
    let after = ex.spawn(async { 1 });
    assert_eq!(ex.run_until_stalled(), 2);
    assert!(ex.is_empty());
    assert_eq!(ex.block_on(after), 1);
}

// ---------------------------------------------------------------------------------------------
// Scenario 12: the block_on future panics

#[test]
fn block_on_future_panics_reaches_caller_and_next_block_on_works() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let pending_task = ex.spawn(async {
        // Long enough to be still pending after the panic below, even under valgrind.
        solo::time::sleep(slack(Duration::from_millis(100))).await;
        "survived"
    });
    let msg = expect_panic(|| {
        ex.block_on(async {
            solo::yield_now().await;
            panic!("main future");
        })
    });
    assert_eq!(msg, "main future");
    // The thread's "current executor" was reset: spawn_local now goes to the default one.
    let default_task = solo::spawn_local(async { "default" });
    assert_eq!(ex.len(), 1, "not spawned onto `ex`");
    assert_eq!(solo::block_on(default_task), "default");
    // And `ex` works, with its task intact.
    assert_eq!(ex.block_on(pending_task), "survived");
}

#[test]
fn solo_block_on_future_panics_then_solo_block_on_works() {
    let _w = watchdog(Duration::from_secs(10));
    let msg = expect_panic(|| solo::block_on(async { panic!("default main") }));
    assert_eq!(msg, "default main");
    let t = solo::spawn_local(async { 2 });
    assert_eq!(solo::block_on(async { t.await * 2 }), 4);
}

#[test]
fn panic_in_nested_block_on_caught_by_outer_task_restores_outer_executor() {
    let _w = watchdog(Duration::from_secs(10));
    let outer = LocalExecutor::new();
    let inner = LocalExecutor::new();
    let out = outer.block_on(async {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.block_on(async { panic!("nested") })
        }));
        assert!(caught.is_err());
        // spawn_local goes to the outer executor again.
        let t = solo::spawn_local(async { 5 });
        assert_eq!(outer.len(), 1);
        assert_eq!(inner.len(), 0);
        t.await
    });
    assert_eq!(out, 5);
}

// ---------------------------------------------------------------------------------------------
// Scenario 13: a future's Drop panics when it is cancelled
//
// solo's choice: when solo drops a future (task cancel, executor drop), a panic in its `Drop`
// is caught and contained: the default panic hook reports it, the executor keeps dropping
// the other futures, and nothing aborts. (async-task alone would abort the process.) When
// *user code* drops a future, e.g. an elapsed `timeout` dropped inside a task, the panic is
// that task's panic: it is re-raised where the task is awaited, like any other.

struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[test]
fn future_drop_panics_on_task_cancel_is_contained() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let task = ex.spawn(async move {
        let _p = probe;
        let _bomb = PanicOnDrop("drop panics on cancel");
        pending::<()>().await
    });
    ex.run_until_stalled();
    drop(task); // cancel
    ex.run_until_stalled();
    assert!(ex.is_empty());
    log.assert_all_dropped_once_on(thread::current().id());
    assert_eq!(ex.block_on(ex.spawn(async { 1 })), 1);
}

#[test]
fn future_drop_panics_via_cancel_await_is_contained() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(async {
        let _bomb = PanicOnDrop("drop panics on cancel().await");
        pending::<()>().await
    });
    ex.run_until_stalled();
    assert_eq!(ex.block_on(task.cancel()), None);
    assert!(ex.is_empty());
}

#[test]
fn future_drop_panics_on_executor_drop_rest_still_dropped() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    for i in 0..6 {
        let probe = log.probe();
        ex.spawn(async move {
            // Declared first, dropped last: the bomb goes off before the probe is dropped.
            let _p = probe;
            let _bomb = (i % 2 == 1).then(|| PanicOnDrop("drop panics at executor drop"));
            pending::<()>().await
        })
        .detach();
    }
    ex.run_until_stalled();
    drop(ex); // must not abort or unwind
    log.assert_all_dropped_once_on(thread::current().id());
    assert_eq!(log.dropped(), 6);
}

#[test]
fn future_drop_panics_inside_elapsed_timeout_is_a_panic_of_the_task() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(async {
        let slow = async {
            let _bomb = PanicOnDrop("drop panics when the timeout drops it");
            pending::<()>().await
        };
        let res = solo::time::timeout(Duration::from_millis(1), slow).await;
        assert!(res.is_err(), "elapsed");
        // The Timeout (and the inner future) is dropped at the end of the statement above.
        unreachable!("the inner future's drop panicked");
    });
    let msg = expect_panic(|| ex.block_on(task));
    assert_eq!(msg, "drop panics when the timeout drops it");
    assert!(ex.is_empty());
    assert_eq!(ex.block_on(ex.spawn(async { 1 })), 1);
}

/// Panic messages seen by the process's panic hook, with the thread that panicked. Installed
/// once, in front of the default hook (which still prints them); other tests' panics pass
/// through it too, so each test filters by its own thread.
fn reported_panics() -> &'static Mutex<Vec<(thread::ThreadId, String)>> {
    static REPORTS: OnceLock<Mutex<Vec<(thread::ThreadId, String)>>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = panic_message(info.payload());
            if let Ok(mut r) = REPORTS.get().expect("initialised").lock() {
                r.push((thread::current().id(), msg));
            }
            previous(info);
        }));
        Mutex::new(Vec::new())
    })
}

/// The "then report" half of scenario 13: every panicking destructor met while an executor
/// is dropped (and while cancelled tasks are dropped) reaches the panic hook once, on the
/// owner thread; all the other futures are still dropped there; nothing aborts.
#[test]
fn future_drops_panicking_at_cancel_and_executor_drop_are_each_reported_by_the_panic_hook() {
    let _w = watchdog(Duration::from_secs(10));
    let reports = reported_panics();
    let me = thread::current().id();
    let mine = || -> Vec<String> {
        let r = reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        r.iter()
            .filter(|(t, _)| *t == me)
            .map(|(_, m)| m.clone())
            .collect()
    };
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    const MESSAGES: [&str; 3] = ["report bomb 0", "report bomb 1", "report bomb 2"];
    let mut cancelled = Vec::new();
    for i in 0..6 {
        let probe = log.probe();
        let task = ex.spawn(async move {
            let _p = probe;
            let _bomb = (i % 2 == 0).then(|| PanicOnDrop(MESSAGES[i / 2]));
            pending::<()>().await
        });
        if i == 0 {
            cancelled.push(task);
        } else {
            task.detach();
        }
    }
    ex.run_until_stalled();
    drop(cancelled); // cancels task 0: its bomb goes off when the executor drops its future
    ex.run_until_stalled();
    assert_eq!(mine(), [MESSAGES[0]], "the cancel's panic was reported");
    drop(ex);
    let mut seen = mine();
    seen.sort();
    assert_eq!(
        seen, MESSAGES,
        "each destructor panic reported exactly once"
    );
    log.assert_all_dropped_once_on(me);
    assert_eq!(log.dropped(), 6);
}

// ---------------------------------------------------------------------------------------------
// Scenario 14: a user waker panics when the reactor wakes it

#[test]
fn panicking_waker_in_timer_batch_does_not_stop_the_others() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let (good, counts) = counting_waker();
    let bad = panicking_waker();
    let deadline = Instant::now() + slack(Duration::from_millis(20));
    let mut sleeps: Vec<_> = (0..4)
        .map(|_| Box::pin(solo::time::sleep_until(deadline)))
        .collect();
    ex.block_on(async {
        // Register: bad, good, bad, good, all due at the same instant.
        for (i, s) in sleeps.iter_mut().enumerate() {
            let w = if i % 2 == 0 { &bad } else { &good };
            assert!(s.as_mut().poll(&mut Context::from_waker(w)).is_pending());
        }
        // Busy until the timers fired (see the I/O variant below for why not a sleep).
        while counts.wakes() < 2 {
            solo::yield_now().await;
        }
    });
    assert_eq!(counts.wakes(), 2, "both good wakers were woken");
    // The timer state is consistent: every sleep is now complete.
    for s in &mut sleeps {
        assert!(s.as_mut().poll(&mut Context::from_waker(&good)).is_ready());
    }
    // And timers keep working.
    let start = Instant::now();
    ex.block_on(solo::time::sleep(Duration::from_millis(2)));
    assert!(start.elapsed() >= Duration::from_millis(2));
}

#[test]
fn panicking_waker_in_io_batch_does_not_stop_the_others() {
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    let (good, counts) = counting_waker();
    let bad = panicking_waker();
    let mut waits: Vec<Pin<Box<dyn Future<Output = std::io::Result<()>>>>> =
        (0..4).map(|_| Box::pin(a.readable()) as _).collect();
    ex.block_on(async {
        for (i, f) in waits.iter_mut().enumerate() {
            let w = if i % 2 == 0 { &bad } else { &good };
            let _ = f.as_mut().poll(&mut Context::from_waker(w));
        }
        b.write_all(b"x").unwrap();
        // Keep the executor busy (not a sleep: under valgrind a short sleep can be due before
        // its first poll and complete without a reactor turn). The reactor runs every 128
        // polls and dispatches the event.
        while counts.wakes() < 2 {
            solo::yield_now().await;
        }
    });
    assert_eq!(counts.wakes(), 2, "both good wakers were woken");
    for f in &mut waits {
        assert!(matches!(
            f.as_mut().poll(&mut Context::from_waker(&good)),
            Poll::Ready(Ok(()))
        ));
    }
    drop(waits);
    // The reactor still delivers events.
    let mut buf = [0u8; 8];
    let n = ex
        .block_on(a.read_with(|mut s| std::io::Read::read(&mut s, &mut buf)))
        .unwrap();
    assert_eq!(&buf[..n], b"x");
}

// Scenario 14 for channels: `solo::sync` wakes every waiter of a batch, then re-raises the
// first waker panic in the caller that triggered the batch (`notify_waiters`, `close`, ...).
// The primitive's state is updated before any waker runs, so it stays consistent. (The
// reactor, which has no caller to report to, only lets the panic hook report it.)

#[test]
fn panicking_waker_in_notify_waiters_batch_wakes_the_others_then_reaches_the_notifier() {
    let _w = watchdog(Duration::from_secs(10));
    let notify = solo::sync::Notify::new();
    let (good, counts) = counting_waker();
    let bad = panicking_waker();
    let mut waits: Vec<_> = (0..4).map(|_| Box::pin(notify.notified())).collect();
    for (i, f) in waits.iter_mut().enumerate() {
        let w = if i % 2 == 0 { &bad } else { &good };
        assert!(f.as_mut().poll(&mut Context::from_waker(w)).is_pending());
    }
    let msg = expect_panic(|| notify.notify_waiters());
    assert_eq!(msg, "test waker panics on purpose");
    assert_eq!(counts.wakes(), 2, "both good wakers were woken");
    for f in &mut waits {
        assert!(f.as_mut().poll(&mut Context::from_waker(&good)).is_ready());
    }
    drop(waits);
    // Consistent afterwards: a new waiter is woken by notify_one, and no permit was stored.
    let mut next = Box::pin(notify.notified());
    assert!(
        next.as_mut()
            .poll(&mut Context::from_waker(&good))
            .is_pending()
    );
    notify.notify_one();
    assert_eq!(counts.wakes(), 3);
    assert!(
        next.as_mut()
            .poll(&mut Context::from_waker(&good))
            .is_ready()
    );
}

#[test]
fn panicking_waker_among_blocked_senders_at_close_wakes_the_others_then_reaches_the_closer() {
    let _w = watchdog(Duration::from_secs(10));
    let (tx, mut rx) = solo::sync::mpsc::channel::<u32>(1);
    tx.try_send(0).unwrap();
    let (good, counts) = counting_waker();
    let bad = panicking_waker();
    let mut sends: Vec<_> = (1..=4).map(|i| Box::pin(tx.send(i))).collect();
    for (i, f) in sends.iter_mut().enumerate() {
        let w = if i % 2 == 0 { &bad } else { &good };
        assert!(f.as_mut().poll(&mut Context::from_waker(w)).is_pending());
    }
    let msg = expect_panic(|| rx.close());
    assert_eq!(msg, "test waker panics on purpose");
    assert_eq!(counts.wakes(), 2, "both good wakers were woken");
    // Every blocked sender gets its value back; the buffered message is still delivered.
    for (i, f) in sends.iter_mut().enumerate() {
        match f.as_mut().poll(&mut Context::from_waker(&good)) {
            Poll::Ready(Err(e)) => assert_eq!(e.0, i as u32 + 1),
            other => panic!("sender {i}: expected its value back, got {other:?}"),
        }
    }
    drop(sends);
    assert_eq!(rx.try_recv().ok(), Some(0));
    assert!(rx.try_recv().is_err());
    assert!(tx.try_send(9).is_err(), "closed");
}

// ---------------------------------------------------------------------------------------------
// Scenario 15: panics in the middle of spawning

#[test]
fn panic_in_future_constructor_while_spawning_leaves_no_slot() {
    let _w = watchdog(Duration::from_secs(10));
    fn make(i: usize) -> impl Future<Output = usize> {
        assert!(i != 3, "constructor {i} panics");
        async move { i }
    }
    let ex = LocalExecutor::new();
    let mut tasks = Vec::new();
    let msg = expect_panic(|| {
        for i in 0..6 {
            tasks.push(ex.spawn(make(i)));
        }
    });
    assert_eq!(msg, "constructor 3 panics");
    assert_eq!(
        ex.len(),
        3,
        "the three spawned before the panic, nothing else"
    );
    let outputs: Vec<usize> = ex.block_on(async {
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await);
        }
        v
    });
    assert_eq!(outputs, [0, 1, 2]);
    assert!(ex.is_empty());
    // Slots are reused cleanly.
    let more: Vec<_> = (0..10).map(|i| ex.spawn(async move { i })).collect();
    assert_eq!(ex.len(), 10);
    assert_eq!(ex.block_on(async { more.len() }), 10);
}

#[test]
fn panic_in_iterator_of_futures_inside_a_task_while_spawning() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let spawned = Rc::new(Cell::new(0));
    let s = spawned.clone();
    let spawner = ex.spawn(async move {
        let futures = (0..10).map(|i| {
            assert!(i < 4, "iterator panics at {i}");
            let s = s.clone();
            async move { s.set(s.get() + 1) }
        });
        for f in futures {
            solo::spawn_local(f).detach();
        }
    });
    ex.run_until_stalled();
    assert_eq!(spawned.get(), 4, "the four spawned children ran");
    assert!(ex.is_empty());
    assert_eq!(
        expect_panic(|| ex.block_on(spawner)),
        "iterator panics at 4"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 16: panics while solo's internal state is borrowed

/// A panic at each point where solo calls user code (a task's poll, a waker's `wake` inside
/// the reactor, a destructor during shutdown or cancel, a nested `block_on`) leaves no
/// `RefCell` borrowed: the next API call works instead of failing with "already borrowed".
#[test]
fn panics_at_every_reentry_point_leave_no_refcell_borrowed() {
    let _w = watchdog(Duration::from_secs(10));
    // In an `Rc` so that a task can call `block_on` on its own executor.
    let ex = Rc::new(LocalExecutor::new());
    let check = |ex: &LocalExecutor<'_>| {
        ex.run_until_stalled(); // whatever the previous step left queued
        assert!(ex.is_empty());
        let t = ex.spawn(async {
            solo::time::sleep(Duration::from_micros(100)).await;
            solo::yield_now().await;
            7
        });
        assert_eq!(ex.len(), 1);
        assert_eq!(ex.block_on(t), 7);
        ex.run_until_stalled();
    };

    // 1. A panic in a task's poll.
    ex.spawn(async { panic!("poll") }).detach();
    ex.run_until_stalled();
    check(&ex);

    // 2. A waker that re-enters solo (spawns, registers a timer) and then panics inside the
    //    reactor's wake loop.
    struct Reentrant;
    impl std::task::Wake for Reentrant {
        fn wake(self: std::sync::Arc<Self>) {
            solo::spawn_local(async {}).detach();
            let mut s = Box::pin(solo::time::sleep(Duration::from_secs(60)));
            let _ = s
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()));
            panic!("waker re-entered and panicked");
        }
    }
    let reentrant = std::task::Waker::from(std::sync::Arc::new(Reentrant));
    let mut s = Box::pin(solo::time::sleep(slack(Duration::from_millis(20))));
    ex.block_on(async {
        assert!(
            s.as_mut()
                .poll(&mut Context::from_waker(&reentrant))
                .is_pending()
        );
        solo::time::sleep_until(s.deadline() + Duration::from_millis(2)).await;
    });
    check(&ex);

    // 3. A destructor panicking during cancel.
    let t = ex.spawn(async {
        let _b = PanicOnDrop("cancel");
        pending::<()>().await
    });
    ex.run_until_stalled();
    drop(t);
    ex.run_until_stalled();
    check(&ex);

    // 4. A nested block_on whose future panics, caught inside a task.
    let ex2 = ex.clone();
    let t = ex.spawn(async move {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ex2.block_on(async { panic!("nested") })
        }));
        r.is_err()
    });
    assert!(ex.block_on(t));
    check(&ex);

    // 5. A task panicking while it holds a RefCell of its own is no business of solo's, but
    //    the next task sees the cell released by unwinding.
    let cell = Rc::new(RefCell::new(0));
    let c = cell.clone();
    ex.spawn(async move {
        let _guard = c.borrow_mut();
        panic!("while borrowed");
    })
    .detach();
    ex.run_until_stalled();
    assert_eq!(*cell.borrow(), 0);
    check(&ex);
}

#[test]
fn panic_payload_of_task_is_the_original_value() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(async { std::panic::panic_any(42u32) });
    ex.run_until_stalled();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.block_on(task)))
        .expect_err("re-raised");
    assert_eq!(err.downcast_ref::<u32>(), Some(&42));
    assert_eq!(panic_message(&*err), "<non-string panic payload>");
}
