//! Wakers are `Send + Sync` even on a local runtime: wakes, clones and drops from other
//! threads, before and after the executor is gone (scenarios 1-4, 6-8 and 10).

// Waking a clone by value is the point: it exercises the by-value wake path from other threads.
#![allow(clippy::waker_clone_wake)]

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use solo::LocalExecutor;
use support::{DropLog, Rng, scaled, watchdog};

/// A future that stores its waker where other threads can reach it, and completes once
/// another thread sets `done` (then wakes it). Counts its polls.
#[derive(Clone, Default)]
struct Remote {
    waker: Arc<Mutex<Option<Waker>>>,
    done: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
}

impl Remote {
    fn new() -> Self {
        Self::default()
    }

    fn future(&self) -> impl Future<Output = ()> + Send + 'static {
        let this = self.clone();
        poll_fn(move |cx| {
            this.polls.fetch_add(1, SeqCst);
            // Store first, then check: a finisher that sets `done` after our check wakes the
            // waker we stored.
            *this.waker.lock().unwrap() = Some(cx.waker().clone());
            if this.done.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn waker(&self) -> Option<Waker> {
        self.waker.lock().unwrap().clone()
    }

    fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }

    /// Completes the future from the calling thread.
    fn finish(&self) {
        self.done.store(true, SeqCst);
        let waker = self.waker.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: wakes after the executor is gone

#[test]
fn remote_wake_wake_by_ref_and_drop_after_executor_drop_are_noops() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let (probe, fut) = (log.probe(), remote.future());
    let task = ex.spawn(async move {
        let _p = probe;
        fut.await
    });
    ex.run_until_stalled();
    let waker = remote.waker().expect("the task stored its waker");
    drop(ex);
    // The future was dropped at executor drop, on this thread.
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(
        task.is_finished(),
        "a task whose executor is gone is closed"
    );
    thread::spawn(move || {
        let clone = waker.clone();
        waker.wake_by_ref();
        clone.wake();
        let another = waker.clone();
        drop(waker);
        another.wake_by_ref();
        drop(another);
    })
    .join()
    .expect("no panic on the foreign thread");
    assert_eq!(remote.polls(), 1, "never polled again");
    drop(task);
    assert_eq!(log.dropped(), 1);
}

#[test]
fn block_on_waker_woken_on_another_thread_after_executor_drop() {
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let mut fut = Box::pin(remote.future());
    // Poll the future once inside block_on so it stores block_on's own waker, then finish.
    ex.block_on(poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    }));
    let waker = remote.waker().unwrap();
    drop(ex);
    thread::spawn(move || {
        waker.wake_by_ref();
        waker.clone().wake();
        waker.wake();
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: the last waker dies on a foreign thread

#[test]
fn last_waker_of_pending_detached_task_dropped_on_foreign_thread_drops_future_on_owner() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let (probe, fut) = (log.probe(), remote.future());
    ex.spawn(async move {
        let _p = probe;
        fut.await
    })
    .detach();
    ex.run_until_stalled();
    let waker = remote.waker.lock().unwrap().take().unwrap();
    thread::spawn(move || drop(waker)).join().unwrap();
    assert_eq!(
        log.dropped(),
        0,
        "the future is still alive (and not on that thread)"
    );
    assert_eq!(ex.run_until_stalled(), 0, "dropping a waker is not a wake");
    assert_eq!(ex.len(), 1);
    drop(ex);
    log.assert_all_dropped_once_on(thread::current().id());
}

#[test]
fn last_waker_of_detached_task_dropped_on_foreign_thread_after_executor_drop() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let (probe, fut) = (log.probe(), remote.future());
    ex.spawn(async move {
        let _p = probe;
        fut.await
    })
    .detach();
    ex.run_until_stalled();
    let waker = remote.waker.lock().unwrap().take().unwrap();
    drop(ex);
    log.assert_all_dropped_once_on(thread::current().id());
    thread::spawn(move || {
        waker.wake_by_ref();
        drop(waker);
    })
    .join()
    .unwrap();
    assert_eq!(log.dropped(), 1);
}

#[test]
fn only_waker_of_detached_task_woken_by_value_on_foreign_thread_runs_task_on_owner() {
    let _w = watchdog(Duration::from_secs(10));
    let owner = thread::current().id();
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let (fut, r) = (remote.future(), ran_on.clone());
    ex.spawn(async move {
        fut.await;
        r.lock().unwrap().push(thread::current().id());
    })
    .detach();
    ex.run_until_stalled();
    let r2 = remote.clone();
    thread::spawn(move || r2.finish()).join().unwrap();
    assert_eq!(ex.run_until_stalled(), 1);
    assert_eq!(*ran_on.lock().unwrap(), [owner]);
    assert!(ex.is_empty());
}

/// `Task<T: Send>` is `Send`. Dropping it on another thread cancels the task; the future is
/// still dropped on the owner, the next time the executor runs.
#[test]
fn task_handle_dropped_on_foreign_thread_cancels_and_drops_future_on_owner() {
    let _w = watchdog(Duration::from_secs(10));
    let log = DropLog::new();
    let ex = LocalExecutor::new();
    let probe = log.probe();
    let task = ex.spawn(async move {
        let _p = probe;
        std::future::pending::<()>().await
    });
    ex.run_until_stalled();
    thread::spawn(move || drop(task)).join().unwrap();
    assert_eq!(log.dropped(), 0);
    ex.run_until_stalled();
    log.assert_all_dropped_once_on(thread::current().id());
    assert!(ex.is_empty());
}

/// A `Task` awaited by a foreign executor on another thread gets the output, and its waker is
/// woken from the owner thread.
#[test]
fn task_handle_awaited_on_foreign_thread_receives_output() {
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let fut = remote.future();
    let task = ex.spawn(async move {
        fut.await;
        99
    });
    ex.run_until_stalled();
    let awaiter = thread::spawn(move || futures_executor::block_on(task));
    let r = remote.clone();
    let finisher = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        r.finish();
    });
    ex.block_on(async {
        while !ex.is_empty() {
            solo::time::sleep(Duration::from_millis(1)).await;
        }
    });
    finisher.join().unwrap();
    assert_eq!(awaiter.join().unwrap(), 99);
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: a wake storm during executor drop

#[test]
fn foreign_thread_wakes_in_tight_loop_while_owner_drops_executor() {
    let _w = watchdog(Duration::from_secs(30));
    let owner = thread::current().id();
    for round in 0..scaled(50) {
        let log = DropLog::new();
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
        let ex = LocalExecutor::new();
        let mut handles = Vec::new();
        for i in 0..16 {
            let (probe, wakers) = (log.probe(), wakers.clone());
            let task = ex.spawn(poll_fn(move |cx| {
                let _ = &probe;
                wakers.lock().unwrap().push(cx.waker().clone());
                Poll::<()>::Pending
            }));
            if i % 2 == 0 {
                task.detach();
            } else {
                handles.push(task);
            }
        }
        ex.run_until_stalled();
        let stop = Arc::new(AtomicBool::new(false));
        let (mine, s) = (wakers.lock().unwrap().clone(), stop.clone());
        let (started_tx, started_rx) = mpsc::channel();
        let storm = thread::spawn(move || {
            let mut n = 0u64;
            loop {
                for w in &mine {
                    w.wake_by_ref();
                    if n % 3 == 0 {
                        w.clone().wake();
                    }
                    n += 1;
                }
                if n == 16 * 4 {
                    started_tx.send(()).unwrap();
                }
                if s.load(SeqCst) {
                    break n;
                }
            }
        });
        started_rx.recv().unwrap();
        // Let the owner consume some of the storm, then drop the executor mid-storm.
        if round % 2 == 0 {
            ex.run_until_stalled();
        }
        drop(ex);
        log.assert_all_dropped_once_on(owner);
        // Keep storming a little after the drop.
        thread::sleep(Duration::from_micros(200));
        stop.store(true, SeqCst);
        assert!(storm.join().unwrap() > 0);
        for task in &handles {
            assert!(task.is_finished());
        }
        drop(handles);
        drop(wakers);
        assert_eq!(log.dropped(), 16, "round {round}: nothing dropped twice");
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: waking a sleeping owner

#[test]
fn remote_wake_of_block_on_future_while_owner_sleeps_without_timeout() {
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let r = remote.clone();
    let start = Instant::now();
    let waker_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        r.finish();
    });
    // No timer, no I/O: the owner sleeps in the reactor with no timeout.
    solo::block_on(remote.future());
    let elapsed = start.elapsed();
    waker_thread.join().unwrap();
    assert!(elapsed >= Duration::from_millis(50));
    assert!(
        elapsed < Duration::from_secs(5),
        "woke promptly: {elapsed:?}"
    );
    assert!(
        remote.polls() <= 3,
        "no busy polling: {} polls",
        remote.polls()
    );
}

#[test]
fn remote_wake_of_spawned_task_while_owner_sleeps_without_timeout() {
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let task = ex.spawn(remote.future());
    let r = remote.clone();
    let start = Instant::now();
    let waker_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        r.finish();
    });
    ex.block_on(task);
    let elapsed = start.elapsed();
    waker_thread.join().unwrap();
    assert!(elapsed >= Duration::from_millis(50));
    assert!(
        elapsed < Duration::from_secs(5),
        "woke promptly: {elapsed:?}"
    );
    assert!(
        remote.polls() <= 3,
        "no busy polling: {} polls",
        remote.polls()
    );
}

#[test]
fn thousand_coalesced_remote_wakes_poll_the_task_once() {
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    ex.spawn(remote.future()).detach();
    assert_eq!(ex.run_until_stalled(), 1);
    let waker = remote.waker().unwrap();
    thread::spawn(move || {
        for i in 0..1000 {
            if i % 2 == 0 {
                waker.wake_by_ref();
            } else {
                waker.clone().wake();
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(ex.run_until_stalled(), 1, "1,000 wakes, one poll");
    assert_eq!(remote.polls(), 2);
    assert_eq!(ex.run_until_stalled(), 0);
}

/// The race between "queue is empty" and "go to sleep": a remote wake lands at a random moment
/// around the owner's decision to sleep. A lost wake-up hangs, and the watchdog fails the test.
#[test]
fn remote_wake_racing_the_owner_going_to_sleep_is_never_lost() {
    let _w = watchdog(Duration::from_secs(30));
    let (tx, rx) = mpsc::channel::<Option<(Remote, u32)>>();
    let helper = thread::spawn(move || {
        while let Some((remote, spin)) = rx.recv().unwrap() {
            // Wait until the owner has polled the future once, then wake it after a random
            // short delay, so the wake lands before, during or after the owner's sleep.
            while remote.waker.lock().unwrap().is_none() {
                std::hint::spin_loop();
            }
            for _ in 0..spin {
                std::hint::spin_loop();
            }
            remote.finish();
        }
    });
    let ex = LocalExecutor::new();
    let mut rng = Rng::new(0x5eed);
    for round in 0..scaled(2000) {
        let remote = Remote::new();
        tx.send(Some((remote.clone(), rng.below(20_000) as u32)))
            .unwrap();
        if round % 2 == 0 {
            ex.block_on(remote.future()); // the block_on waker path
        } else {
            let task = ex.spawn(remote.future()); // the inbox path
            ex.block_on(task);
        }
    }
    tx.send(None).unwrap();
    helper.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenario 6: wakes of a completed task

#[test]
fn completed_task_woken_by_value_and_by_ref_is_never_polled_again() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let polls = Rc::new(Cell::new(0));
    let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
    let (p, k) = (polls.clone(), kept.clone());
    let task = ex.spawn(poll_fn(move |cx| {
        p.set(p.get() + 1);
        *k.borrow_mut() = Some(cx.waker().clone());
        Poll::Ready(5)
    }));
    ex.run_until_stalled();
    assert!(task.is_finished());
    let waker = kept.borrow_mut().take().unwrap();
    waker.wake_by_ref();
    waker.clone().wake();
    let remote = waker.clone();
    thread::spawn(move || {
        remote.wake_by_ref();
        remote.wake();
    })
    .join()
    .unwrap();
    assert_eq!(ex.run_until_stalled(), 0);
    assert_eq!(polls.get(), 1);
    assert_eq!(ex.block_on(task), 5);
    waker.wake();
    assert_eq!(ex.run_until_stalled(), 0);
    assert_eq!(polls.get(), 1);
}

// ---------------------------------------------------------------------------------------------
// Scenario 7: many clones across threads

#[test]
fn hundred_thousand_waker_clones_across_threads_dropped_in_random_order() {
    let _w = watchdog(Duration::from_secs(60));
    let log = DropLog::new();
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let (probe, fut) = (log.probe(), remote.future());
    let task = ex.spawn(async move {
        let _p = probe;
        fut.await;
    });
    ex.run_until_stalled();
    let waker = remote.waker().unwrap();
    let total = scaled(100_000);
    let threads = 4;
    let mut clones: Vec<Vec<Waker>> = (0..threads)
        .map(|_| (0..total / threads).map(|_| waker.clone()).collect())
        .collect();
    let workers: Vec<_> = clones
        .drain(..)
        .enumerate()
        .map(|(t, mut mine)| {
            thread::spawn(move || {
                let mut rng = Rng::new(t as u64 + 1);
                rng.shuffle(&mut mine);
                while let Some(w) = mine.pop() {
                    match rng.below(4) {
                        0 => w.wake(),
                        1 => {
                            w.wake_by_ref();
                            drop(w);
                        }
                        2 => {
                            // Clone again and put it back somewhere random.
                            if mine.len() < total {
                                let at = rng.below(mine.len() + 1);
                                mine.insert(at, w.clone());
                            }
                            drop(w);
                        }
                        _ => drop(w),
                    }
                }
            })
        })
        .collect();
    // The owner keeps running meanwhile, polling the task whenever it is woken.
    let start = Instant::now();
    while workers.iter().any(|w| !w.is_finished()) {
        ex.run_until_stalled();
        assert!(start.elapsed() < Duration::from_secs(50));
        thread::yield_now();
    }
    for w in workers {
        w.join().unwrap();
    }
    ex.run_until_stalled();
    assert!(remote.polls() >= 2, "woken at least once");
    assert_eq!(log.dropped(), 0, "the task is still pending");
    // Complete it through the original waker.
    remote.finish();
    ex.block_on(task);
    drop(waker);
    log.assert_all_dropped_once_on(thread::current().id());
}

// ---------------------------------------------------------------------------------------------
// Scenario 8: wakes from thread-local destructors

/// Wakes its waker when dropped.
struct WakeOnDrop(Option<Waker>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            w.wake_by_ref();
            w.wake();
        }
    }
}

#[test]
fn waker_woken_from_tls_destructor_of_exiting_foreign_thread_runs_task_on_owner() {
    thread_local! {
        static HOLDER: RefCell<WakeOnDrop> = const { RefCell::new(WakeOnDrop(None)) };
    }
    let _w = watchdog(Duration::from_secs(10));
    let remote = Remote::new();
    let ex = LocalExecutor::new();
    let polled = Rc::new(Cell::new(0));
    let (fut, p) = (remote.future(), polled.clone());
    let task = ex.spawn(async move {
        p.set(p.get() + 1);
        fut.await;
        p.set(p.get() + 1);
    });
    ex.run_until_stalled();
    let waker = remote.waker().unwrap();
    remote.done.store(true, SeqCst);
    // The foreign thread stores the waker in its TLS and exits: the destructor wakes it.
    thread::spawn(move || HOLDER.with(|h| h.borrow_mut().0 = Some(waker)))
        .join()
        .expect("no panic in the foreign thread's TLS destructor");
    ex.block_on(task);
    assert_eq!(polled.get(), 2);
}

/// The owner thread's own TLS destructor wakes one of its tasks, both before and after the
/// thread's default executor (also in TLS) is destroyed. No "cannot access a TLS value" panic
/// (which would abort the process), and the future is dropped once, on the owner.
fn owner_tls_destructor_wake(holder_registered_first: bool) {
    thread_local! {
        static HOLDER: RefCell<WakeOnDrop> = const { RefCell::new(WakeOnDrop(None)) };
        // A holder with a lazy initialiser registers its destructor on first use (the const
        // one above registers it on first use too); touch order picks destructor order.
    }
    let log = DropLog::new();
    let l = log.clone();
    let owner = thread::spawn(move || {
        if holder_registered_first {
            HOLDER.with(|_| {});
        }
        let remote = Remote::new();
        let probe = l.probe();
        let fut = remote.future();
        solo::spawn_local(async move {
            let _p = probe;
            fut.await;
        })
        .detach();
        solo::block_on(solo::yield_now()); // polls the task once: it stores its waker
        let waker = remote.waker().unwrap();
        HOLDER.with(|h| h.borrow_mut().0 = Some(waker));
        thread::current().id()
    });
    let owner_id = owner.join().expect("no panic during TLS destruction");
    log.assert_all_dropped_once_on(owner_id);
}

#[test]
fn waker_woken_from_owner_tls_destructor_registered_before_default_executor() {
    let _w = watchdog(Duration::from_secs(10));
    owner_tls_destructor_wake(true);
}

#[test]
fn waker_woken_from_owner_tls_destructor_registered_after_default_executor() {
    let _w = watchdog(Duration::from_secs(10));
    owner_tls_destructor_wake(false);
}

// ---------------------------------------------------------------------------------------------
// Scenario 10: two executors on one thread

#[test]
fn two_executors_on_one_thread_never_cross_wake() {
    let _w = watchdog(Duration::from_secs(10));
    let a = LocalExecutor::new();
    let b = LocalExecutor::new();
    let remote_a = Remote::new();
    let remote_b = Remote::new();
    a.spawn(remote_a.future()).detach();
    b.spawn(remote_b.future()).detach();
    assert_eq!(a.run_until_stalled(), 1);
    assert_eq!(b.run_until_stalled(), 1);
    // Wake a's task (locally and from another thread): only a polls it.
    remote_a.waker().unwrap().wake();
    assert_eq!(b.run_until_stalled(), 0, "b never polls a's task");
    assert_eq!(remote_a.polls(), 1);
    assert_eq!(a.run_until_stalled(), 1);
    assert_eq!(remote_a.polls(), 2);
    let wb = remote_b.waker().unwrap();
    thread::spawn(move || wb.wake()).join().unwrap();
    assert_eq!(a.run_until_stalled(), 0, "a never polls b's task");
    assert_eq!(b.run_until_stalled(), 1);
    assert_eq!(remote_b.polls(), 2);
    assert_eq!((a.len(), b.len()), (1, 1));
}
