//! The executor: spawning, FIFO order and `yield_now`, fairness against self-waking tasks
//! (scenario 5), the `Task` matrix (scenario 23), `spawn_local` and the default executor, and
//! which types are `Send`.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::io::{Read, Write};
use std::rc::Rc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use solo::{Async, LocalExecutor, Task};
use support::{DropLog, unix_pair, watchdog};

/// A future that wakes itself and returns `Pending` forever, counting its polls.
fn spinner(polls: Rc<Cell<usize>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

// ---------------------------------------------------------------------------------------------
// Auto traits: what must and must not be Send.

/// Fails to compile if `$t` implements `$trait` (the ambiguity trick of `static_assertions`).
macro_rules! assert_not_impl {
    ($t:ty, $trait:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            impl<T: ?Sized + $trait> AmbiguousIfImpl<u8> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    // Wakers cross threads; so do task handles of Send outputs (awaiting or dropping one on
    // another thread goes through async-task's atomics and solo's inbox).
    send_sync::<std::task::Waker>();
    send::<Task<i32>>();
    send_sync::<solo::time::Elapsed>();
};
// Everything that touches the thread's executor, reactor or timer heap stays on its thread.
assert_not_impl!(LocalExecutor<'static>, Send);
assert_not_impl!(LocalExecutor<'static>, Sync);
assert_not_impl!(solo::time::Sleep, Send);
assert_not_impl!(solo::time::Interval, Send);
assert_not_impl!(solo::time::Timeout<std::future::Ready<()>>, Send);
assert_not_impl!(Async<std::os::unix::net::UnixStream>, Send);
assert_not_impl!(Async<std::os::unix::net::UnixStream>, Sync);

// ---------------------------------------------------------------------------------------------
// Order

#[test]
fn spawned_tasks_run_in_fifo_order() {
    let _w = watchdog(Duration::from_secs(10));
    let order = RefCell::new(Vec::new());
    let ex = LocalExecutor::new();
    for i in 0..10 {
        let order = &order;
        ex.spawn(async move { order.borrow_mut().push(i) }).detach();
    }
    assert_eq!(ex.run_until_stalled(), 10);
    assert_eq!(*order.borrow(), (0..10).collect::<Vec<_>>());
}

#[test]
fn yield_now_lets_every_other_ready_task_run_before_resuming() {
    let _w = watchdog(Duration::from_secs(10));
    let order = RefCell::new(Vec::new());
    let ex = LocalExecutor::new();
    for id in 0..3 {
        let order = &order;
        ex.spawn(async move {
            for round in 0..3 {
                order.borrow_mut().push((round, id));
                solo::yield_now().await;
            }
        })
        .detach();
    }
    ex.run_until_stalled();
    // Round-robin: every task finishes round r before any task starts round r + 1.
    let expected: Vec<_> = (0..3)
        .flat_map(|round| (0..3).map(move |id| (round, id)))
        .collect();
    assert_eq!(*order.borrow(), expected);
}

#[test]
fn yield_now_in_block_on_future_lets_spawned_tasks_run() {
    let _w = watchdog(Duration::from_secs(10));
    let ran = Cell::new(false);
    let ex = LocalExecutor::new();
    ex.spawn(async { ran.set(true) }).detach();
    ex.block_on(async {
        assert!(!ran.get(), "tasks run only once the executor runs");
        solo::yield_now().await;
        assert!(
            ran.get(),
            "yield_now in the main future lets the ready task run"
        );
    });
}

#[test]
fn len_counts_live_tasks_through_spawn_finish_and_cancel() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    assert!(ex.is_empty());
    let quick = ex.spawn(async { 1 });
    let stuck = ex.spawn(pending::<()>());
    let detached = ex.spawn(async { solo::yield_now().await });
    assert_eq!(ex.len(), 3);
    detached.detach();
    ex.run_until_stalled();
    assert_eq!(ex.len(), 1, "only the pending task is left");
    assert!(quick.is_finished());
    assert_eq!(ex.block_on(quick), 1);
    drop(stuck);
    ex.run_until_stalled();
    assert!(ex.is_empty());
}

// ---------------------------------------------------------------------------------------------
// spawn_local and the default executor

#[test]
fn spawn_local_outside_any_runtime_lands_on_default_executor_and_runs_at_next_block_on() {
    let _w = watchdog(Duration::from_secs(10));
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let task = solo::spawn_local(async move {
        r.set(true);
        5
    });
    thread::sleep(Duration::from_millis(5));
    assert!(!ran.get(), "nothing runs until a block_on on this thread");
    assert_eq!(solo::block_on(task), 5);
    assert!(ran.get());
}

#[test]
fn spawn_local_inside_local_executor_block_on_targets_that_executor() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let out = ex.block_on(async {
        let task = solo::spawn_local(async { 7 });
        assert_eq!(
            ex.len(),
            1,
            "spawned onto the running executor, not the default one"
        );
        task.await
    });
    assert_eq!(out, 7);
    // After block_on returns, spawn_local goes back to the default executor.
    let task = solo::spawn_local(async { 8 });
    assert_eq!(ex.len(), 0);
    assert_eq!(solo::block_on(task), 8);
}

#[test]
fn spawn_local_inside_run_until_stalled_targets_that_executor() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let child_ran = Rc::new(Cell::new(false));
    let c = child_ran.clone();
    ex.spawn(async move {
        solo::spawn_local(async move { c.set(true) }).detach();
    })
    .detach();
    ex.run_until_stalled();
    assert!(
        child_ran.get(),
        "the child ran in the same run_until_stalled call"
    );
}

// ---------------------------------------------------------------------------------------------
// Fairness (scenario 5)

/// A task that wakes itself forever cannot starve other tasks, timers or I/O: `block_on`
/// still completes a future that needs all three.
#[test]
fn self_waking_task_does_not_starve_tasks_timers_or_io() {
    let _w = watchdog(Duration::from_secs(20));
    let (a, mut b) = unix_pair();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        b.write_all(b"io").unwrap();
        b
    });
    let a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    let spins = Rc::new(Cell::new(0));
    let spin_task = ex.spawn(spinner(spins.clone()));
    let yields = ex.spawn(async {
        for _ in 0..100 {
            solo::yield_now().await;
        }
        "yields"
    });
    let timer = ex.spawn(async {
        solo::time::sleep(Duration::from_millis(5)).await;
        "timer"
    });
    let io = ex.spawn(async {
        let mut buf = [0u8; 2];
        let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"io");
        "io"
    });
    let got = ex.block_on(async { (yields.await, timer.await, io.await) });
    assert_eq!(got, ("yields", "timer", "io"));
    assert!(spins.get() > 100, "the spinner kept running meanwhile");
    assert!(!spin_task.is_finished());
    writer.join().unwrap();
}

/// solo checks I/O at least every `REACTOR_INTERVAL` (128) task polls while tasks are always
/// ready. A spinner writes to a socket that another task waits on; the reader must run within
/// a few batches of polls, not whenever the spinner happens to stop.
#[test]
fn io_readiness_is_seen_within_a_bounded_number_of_polls_while_a_task_spins() {
    let _w = watchdog(Duration::from_secs(20));
    let (a, b) = unix_pair();
    let a = Async::new(a).unwrap();
    let ex = LocalExecutor::new();
    let spins = Rc::new(Cell::new(0usize));
    let written_at = Rc::new(Cell::new(None::<usize>));
    let reader = ex.spawn({
        let spins = spins.clone();
        let a = &a;
        async move {
            let mut buf = [0u8; 1];
            a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            spins.get()
        }
    });
    let s = spins.clone();
    let w = written_at.clone();
    let mut b = Some(b);
    ex.spawn(poll_fn(move |cx| {
        s.set(s.get() + 1);
        if s.get() == 1000 {
            b.as_mut().unwrap().write_all(b"x").unwrap();
            w.set(Some(s.get()));
        }
        cx.waker().wake_by_ref();
        Poll::<()>::Pending
    }))
    .detach();
    let seen_at = ex.block_on(reader);
    let written_at = written_at.get().expect("the spinner wrote");
    assert!(
        seen_at - written_at <= 2 * 128 + 8,
        "I/O seen {} spinner polls after it became ready",
        seen_at - written_at
    );
}

/// The same bound for timers: a due timer fires within a few batches of a spinner's polls.
#[test]
fn due_timer_fires_within_a_bounded_number_of_polls_while_a_task_spins() {
    let _w = watchdog(Duration::from_secs(20));
    let ex = LocalExecutor::new();
    let spins = Rc::new(Cell::new(0usize));
    let due_at = Rc::new(Cell::new(None::<usize>));
    let deadline = Instant::now() + Duration::from_millis(2);
    let timer = ex.spawn({
        let spins = spins.clone();
        async move {
            solo::time::sleep_until(deadline).await;
            spins.get()
        }
    });
    let s = spins.clone();
    let d = due_at.clone();
    ex.spawn(poll_fn(move |cx| {
        s.set(s.get() + 1);
        if d.get().is_none() && Instant::now() >= deadline {
            d.set(Some(s.get()));
        }
        cx.waker().wake_by_ref();
        Poll::<()>::Pending
    }))
    .detach();
    let fired_at = ex.block_on(timer);
    let due_at = due_at.get().expect("the spinner saw the deadline pass");
    assert!(
        fired_at.saturating_sub(due_at) <= 2 * 128 + 8,
        "timer fired {} spinner polls after it was due",
        fired_at - due_at
    );
}

/// The `block_on` future itself yields in a loop, waiting for tasks that wait on a timer and
/// on a socket: its polls count toward the reactor interval like a task's, so the timer and
/// the socket are still checked.
#[test]
fn block_on_future_that_keeps_yielding_does_not_starve_timers_or_io() {
    let _w = watchdog(Duration::from_secs(10));
    let (a, mut b) = unix_pair();
    let a = Async::new(a).unwrap();
    let timer_done = Cell::new(false);
    let io_done = Cell::new(false);
    let ex = LocalExecutor::new();
    ex.spawn(async {
        solo::time::sleep(Duration::from_millis(2)).await;
        timer_done.set(true);
    })
    .detach();
    ex.spawn(async {
        let mut buf = [0u8; 1];
        a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        io_done.set(true);
    })
    .detach();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        b.write_all(b"x").unwrap();
        b
    });
    ex.block_on(async {
        while !(timer_done.get() && io_done.get()) {
            solo::yield_now().await;
        }
    });
    writer.join().unwrap();
    // The same on the default executor, with nothing spawned at all: only the main future.
    let deadline = Instant::now() + Duration::from_millis(2);
    let mut sleep = Box::pin(solo::time::sleep_until(deadline));
    solo::block_on(poll_fn(|cx| {
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref(); // busy: always ready to be polled again
        Poll::Pending
    }));
    assert!(Instant::now() >= deadline);
}

#[test]
fn run_until_stalled_returns_once_nothing_is_ready_and_counts_polls() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.spawn(async {
        solo::yield_now().await;
        solo::yield_now().await;
    })
    .detach();
    let sleeper = ex.spawn(solo::time::sleep(Duration::from_secs(3600)));
    assert_eq!(ex.run_until_stalled(), 3 + 1);
    assert_eq!(
        ex.run_until_stalled(),
        0,
        "nothing ready: no poll, no block"
    );
    assert!(!sleeper.is_finished());
}

// ---------------------------------------------------------------------------------------------
// The Task matrix (scenario 23)
//
// solo's semantics: dropping a `Task` cancels it (the future is dropped the next time the
// executor runs, on the owner thread); `detach` lets it run; `cancel().await` returns the
// output if it had finished, `None` otherwise. Every future is dropped exactly once.

#[test]
fn task_dropped_before_completion_cancels_and_drops_future_once() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let polled = Cell::new(0);
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let task = ex.spawn(async {
        let _p = probe;
        polled.set(polled.get() + 1);
        pending::<()>().await
    });
    ex.run_until_stalled();
    assert_eq!(polled.get(), 1);
    drop(task);
    ex.run_until_stalled();
    assert_eq!(polled.get(), 1, "a cancelled task is never polled again");
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(ex.is_empty());
}

#[test]
fn task_dropped_before_first_poll_is_never_polled() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let polled = Cell::new(false);
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let task = ex.spawn(async {
        let _p = probe;
        polled.set(true);
    });
    drop(task);
    // The executor still runs the cancelled task's `Runnable` once (that is where its future
    // is dropped); async-task does not poll a closed task's future.
    ex.run_until_stalled();
    assert!(!polled.get());
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(ex.is_empty());
}

#[test]
fn task_dropped_after_completion_drops_output_once() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let task = ex.spawn(async move { probe });
    ex.run_until_stalled();
    assert!(task.is_finished());
    assert_eq!(log.dropped(), 0, "the output waits in the task");
    drop(task);
    log.assert_all_dropped_once_on(thread::current().id());
}

#[test]
fn detached_task_runs_to_completion_and_drops_its_output() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    ex.spawn(async move {
        solo::time::sleep(Duration::from_millis(1)).await;
        probe
    })
    .detach();
    ex.block_on(solo::time::sleep(Duration::from_millis(5)));
    ex.run_until_stalled();
    assert!(ex.is_empty());
    log.assert_all_dropped_once_on(thread::current().id());
}

#[test]
fn task_cancelled_from_another_task_while_pending_returns_none() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let victim = ex.spawn(async move {
        let _p = probe;
        loop {
            solo::yield_now().await;
        }
    });
    let canceller = ex.spawn(async move {
        solo::yield_now().await; // the victim has run and is queued again
        victim.cancel().await
    });
    assert_eq!(ex.block_on(canceller), None::<()>);
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(ex.is_empty());
}

#[test]
fn task_cancelled_after_completion_returns_output() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let task = ex.spawn(async { 42 });
    ex.run_until_stalled();
    assert_eq!(ex.block_on(task.cancel()), Some(42));
}

/// A task drops its own `Task` handle in the middle of its poll: it is cancelled while
/// running. solo finishes that poll, then drops the future once; it is never polled again.
#[test]
fn task_handle_dropped_by_the_task_itself_while_running() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let slot: Rc<RefCell<Option<Task<()>>>> = Rc::new(RefCell::new(None));
    let polls = Rc::new(Cell::new(0));
    let (s, p, probe) = (slot.clone(), polls.clone(), log.probe());
    let task = ex.spawn(async move {
        let _probe = probe;
        loop {
            p.set(p.get() + 1);
            drop(s.borrow_mut().take()); // cancel ourselves
            solo::yield_now().await;
        }
    });
    *slot.borrow_mut() = Some(task);
    ex.run_until_stalled();
    assert_eq!(polls.get(), 1, "not polled after the cancel");
    assert!(ex.is_empty());
    log.assert_all_dropped_once_on(thread::current().id());
}

#[test]
fn cancel_of_a_task_woken_from_another_thread_drops_it_on_the_owner() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let waker_slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (ws, probe) = (waker_slot.clone(), log.probe());
    let task = ex.spawn(poll_fn(move |cx| {
        let _ = &probe;
        *ws.lock().unwrap() = Some(cx.waker().clone());
        Poll::<()>::Pending
    }));
    ex.run_until_stalled();
    let waker = waker_slot.lock().unwrap().take().unwrap();
    // Wake from another thread (the task is now in the inbox), then cancel it here.
    thread::spawn(move || waker.wake()).join().unwrap();
    assert_eq!(ex.block_on(task.cancel()), None);
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(ex.is_empty());
}

#[test]
fn task_matrix_never_double_drops_under_many_combinations() {
    let _w = watchdog(Duration::from_secs(20));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let mut handles = Vec::new();
    for i in 0..200usize {
        let probe = log.probe();
        let task = ex.spawn(async move {
            let _p = probe;
            for _ in 0..(i % 4) {
                solo::yield_now().await;
            }
            i
        });
        match i % 5 {
            0 => task.detach(),
            1 => drop(task),
            _ => handles.push(task),
        }
        if i % 7 == 0 {
            ex.run_until_stalled();
        }
    }
    let mut outputs = 0;
    ex.block_on(async {
        for (n, task) in handles.into_iter().enumerate() {
            match n % 3 {
                0 => {
                    task.await;
                    outputs += 1;
                }
                1 => {
                    if task.cancel().await.is_some() {
                        outputs += 1;
                    }
                }
                _ => drop(task),
            }
        }
    });
    assert!(outputs > 0);
    ex.run_until_stalled();
    assert!(ex.is_empty());
    log.assert_all_dropped_once_on(thread::current().id());
}
