//! Re-entrancy: nested `block_on` on the same and on another executor, and solo futures used
//! where no executor runs (scenarios 10, 24 and 25).

mod support;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use solo::LocalExecutor;
use support::{expect_panic, watchdog};

// ---------------------------------------------------------------------------------------------
// Scenario 24: nested block_on

/// A task calls `block_on` on its own executor (a GUI modal loop): the nested loop keeps
/// running the executor's other tasks, timers included, and returns; the outer loop then
/// carries on.
#[test]
fn block_on_same_executor_from_inside_a_task_runs_the_other_tasks() {
    let _w = watchdog(Duration::from_secs(10));
    // In an `Rc`: a task cannot borrow the executor that owns it.
    let ex = Rc::new(LocalExecutor::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let other = ex.spawn(async move {
        l.borrow_mut().push("other: start");
        solo::time::sleep(Duration::from_millis(2)).await;
        l.borrow_mut().push("other: after sleep");
        3
    });
    let (l, ex2) = (log.clone(), ex.clone());
    let modal = ex.spawn(async move {
        l.borrow_mut().push("modal: open");
        // Nested loop on the same executor; `other` makes progress inside it.
        let got = ex2.block_on(other);
        l.borrow_mut().push("modal: closed");
        got
    });
    assert_eq!(ex.block_on(modal), 3);
    assert_eq!(
        *log.borrow(),
        [
            "other: start",
            "modal: open",
            "other: after sleep",
            "modal: closed"
        ]
    );
    assert!(ex.is_empty());
}

/// The same through the thread's default executor: `solo::block_on` inside a task spawned
/// with `solo::spawn_local`.
#[test]
fn solo_block_on_from_inside_a_default_executor_task_runs_the_other_tasks() {
    let _w = watchdog(Duration::from_secs(10));
    let other = solo::spawn_local(async {
        solo::time::sleep(Duration::from_millis(1)).await;
        "other"
    });
    let modal = solo::spawn_local(async { solo::block_on(other) });
    assert_eq!(solo::block_on(modal), "other");
}

#[test]
fn block_on_another_executor_from_inside_a_task() {
    let _w = watchdog(Duration::from_secs(10));
    let inner = LocalExecutor::new();
    let outer = LocalExecutor::new(); // declared last, dropped first: its task borrows `inner`
    let inner_task = inner.spawn(async {
        solo::time::sleep(Duration::from_millis(1)).await;
        "inner"
    });
    let t = outer.spawn(async { inner.block_on(inner_task) });
    assert_eq!(outer.block_on(t), "inner");
}

#[test]
fn block_on_inside_the_block_on_future_of_the_same_executor() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let out = ex.block_on(async {
        let t = ex.spawn(async { 2 });
        let nested = ex.block_on(async {
            solo::yield_now().await;
            t.await * 10
        });
        nested + 1
    });
    assert_eq!(out, 21);
}

#[test]
fn solo_block_on_nested_inside_solo_block_on() {
    let _w = watchdog(Duration::from_secs(10));
    let out = solo::block_on(async {
        let t = solo::spawn_local(async { 4 });
        solo::block_on(async move {
            solo::time::sleep(Duration::from_millis(1)).await;
            t.await
        })
    });
    assert_eq!(out, 4);
}

#[test]
fn deeply_nested_block_on_calls_unwind_cleanly() {
    let _w = watchdog(Duration::from_secs(10));
    fn nest(ex: &LocalExecutor<'_>, depth: usize) -> usize {
        if depth == 0 {
            return ex.block_on(async {
                solo::time::sleep(Duration::from_micros(100)).await;
                0
            });
        }
        ex.block_on(async {
            solo::yield_now().await;
            nest(ex, depth - 1) + 1
        })
    }
    let ex = LocalExecutor::new();
    assert_eq!(nest(&ex, 50), 50);
    // Afterwards spawn_local goes to the default executor again.
    let t = solo::spawn_local(async { 1 });
    assert!(ex.is_empty());
    assert_eq!(solo::block_on(t), 1);
}

/// A nested loop waits on a wake from another thread while the outer loop's other tasks are
/// parked: no deadlock, and the remote wake reaches the nested sleeper.
#[test]
fn nested_block_on_sleeping_in_the_reactor_is_woken_from_another_thread() {
    let _w = watchdog(Duration::from_secs(10));
    let flag = Arc::new(AtomicBool::new(false));
    let waker_slot: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
    let (f, ws) = (flag.clone(), waker_slot.clone());
    let remote = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        f.store(true, SeqCst);
        if let Some(w) = ws.lock().unwrap().take() {
            w.wake();
        }
    });
    let t = solo::spawn_local(async move {
        solo::block_on(poll_fn(|cx| {
            *waker_slot.lock().unwrap() = Some(cx.waker().clone());
            if flag.load(SeqCst) {
                Poll::Ready("woken")
            } else {
                Poll::Pending
            }
        }))
    });
    assert_eq!(solo::block_on(t), "woken");
    remote.join().unwrap();
}

/// `spawn_local` inside a nested `block_on` of another executor targets the innermost one,
/// and the outer one again once the nested call returns.
#[test]
fn spawn_local_targets_the_innermost_running_executor() {
    let _w = watchdog(Duration::from_secs(10));
    let outer = LocalExecutor::new();
    let inner = LocalExecutor::new();
    outer.block_on(async {
        inner.block_on(async {
            let t = solo::spawn_local(async { 1 });
            assert_eq!((outer.len(), inner.len()), (0, 1));
            t.await
        });
        let t = solo::spawn_local(async { 2 });
        assert_eq!((outer.len(), inner.len()), (1, 0));
        t.await
    });
}

// ---------------------------------------------------------------------------------------------
// Scenario 10: nested block_on across executors never cross-polls

/// While a task of `outer` runs `inner.block_on`, `outer`'s tasks are not polled (they wait
/// for the outer loop), even when woken; `inner` never polls them.
#[test]
fn nested_block_on_of_another_executor_never_polls_the_outer_tasks() {
    let _w = watchdog(Duration::from_secs(10));
    let outer = LocalExecutor::new();
    let inner = LocalExecutor::new();
    let outer_polls = Rc::new(Cell::new(0));
    let outer_waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let (p, w) = (outer_polls.clone(), outer_waker.clone());
    outer
        .spawn(poll_fn(move |cx| {
            p.set(p.get() + 1);
            *w.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }))
        .detach();
    outer.run_until_stalled();
    assert_eq!(outer_polls.get(), 1);
    let polls_seen_inside = outer.block_on(async {
        inner.block_on(async {
            outer_waker.borrow().as_ref().unwrap().wake_by_ref();
            for _ in 0..10 {
                solo::yield_now().await;
            }
            solo::time::sleep(Duration::from_millis(1)).await;
            outer_polls.get()
        })
    });
    assert_eq!(polls_seen_inside, 1, "inner never polled outer's task");
    outer.run_until_stalled();
    assert_eq!(outer_polls.get(), 2, "outer polls it once it runs again");
}

// ---------------------------------------------------------------------------------------------
// Scenario 25: solo futures on a thread where no executor is running

#[test]
fn sleep_polled_without_a_runtime_panics_with_a_clear_message_at_the_caller() {
    let _w = watchdog(Duration::from_secs(10));
    let mut sleep = Box::pin(solo::time::sleep(Duration::from_secs(1)));
    let msg = expect_panic(|| {
        let _ = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
    assert!(msg.contains("solo::time::Sleep"), "{msg}");
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
}

#[test]
fn ready_sleeps_work_without_a_runtime() {
    let _w = watchdog(Duration::from_secs(10));
    let mut cx = Context::from_waker(Waker::noop());
    let mut zero = Box::pin(solo::time::sleep(Duration::ZERO));
    assert!(zero.as_mut().poll(&mut cx).is_ready());
    let mut past = Box::pin(solo::time::sleep_until(
        Instant::now() - Duration::from_millis(1),
    ));
    assert!(past.as_mut().poll(&mut cx).is_ready());
    let mut every = solo::time::interval(Duration::from_secs(1));
    assert!(
        every.poll_tick(&mut cx).is_ready(),
        "the first tick is immediate"
    );
}

#[test]
fn sleep_created_outside_a_runtime_works_once_awaited_inside_block_on() {
    let _w = watchdog(Duration::from_secs(10));
    let start = Instant::now();
    let sleep = solo::time::sleep(Duration::from_millis(5));
    thread::sleep(Duration::from_millis(1));
    solo::block_on(sleep);
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn timeout_polled_without_a_runtime_panics_instead_of_hanging() {
    let _w = watchdog(Duration::from_secs(10));
    let msg = expect_panic(|| {
        futures_executor::block_on(solo::time::timeout(
            Duration::from_secs(1),
            std::future::pending::<()>(),
        ))
    });
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
}

#[test]
fn spawn_local_never_panics_for_lack_of_a_runtime_on_a_fresh_thread() {
    let _w = watchdog(Duration::from_secs(10));
    let out = thread::spawn(|| {
        let t = solo::spawn_local(async {
            solo::time::sleep(Duration::from_millis(1)).await;
            "ran later"
        });
        solo::block_on(t)
    })
    .join()
    .unwrap();
    assert_eq!(out, "ran later");
}

/// `solo::net::TcpStream::connect` polled where no solo executor runs: a non-blocking
/// connect on loopback must wait for the handshake (`EINPROGRESS`), and nothing would drive
/// the wait, so it panics with the clear message instead of hanging; the attempt's socket is
/// closed as the future unwinds (the listener's accepted end sees EOF). The same call awaited
/// inside `solo::block_on` connects.
#[test]
fn tcp_connect_polled_without_a_runtime_panics_clearly_closes_its_socket_and_works_in_block_on() {
    use std::io::Read;
    let _w = watchdog(Duration::from_secs(10));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let msg = expect_panic(|| futures_executor::block_on(solo::net::TcpStream::connect(addr)));
    assert!(msg.contains("an I/O future"), "{msg}");
    assert!(
        msg.contains("must be awaited inside a solo runtime"),
        "{msg}"
    );
    // The kernel finished the handshake on its own; solo closed its end while unwinding.
    let (mut orphan, _) = listener.accept().unwrap();
    orphan
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        orphan.read(&mut [0u8; 8]).unwrap(),
        0,
        "EOF: the socket was closed"
    );

    // Created outside a runtime, awaited inside one: it connects.
    let connect = solo::net::TcpStream::connect(addr);
    let stream = solo::block_on(connect).unwrap();
    let (_server, peer) = listener.accept().unwrap();
    assert_eq!(peer, stream.local_addr().unwrap());
}
