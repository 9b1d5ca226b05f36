//! Diagnostics: slow-poll reports, runtime stats, and the paused test clock.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use solo::diag::{SlowPoll, stats};
use solo::time::{advance, pause, resume, sleep, timeout};
use solo::{LocalExecutor, task::Builder};

/// A test's watchdog, and its turn: the tests of this file run one at a time.
///
/// Slow-poll reports measure wall time inside a poll. Run side by side under valgrind (which
/// lets one thread run at a time), one test's runtime work could hold up another test's
/// thread mid-poll for more than a threshold (a "slow" fast task) or starve the monitor thread
/// through a whole 50 ms poll (a missed report); one at a time, neither happens.
struct Watchdog(
    #[allow(dead_code)] mpsc::Sender<()>,
    #[allow(dead_code)] MutexGuard<'static, ()>,
);

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let turn = one_at_a_time();
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: test `{name}` hung for {secs} s");
            std::process::abort();
        }
    });
    Watchdog(tx, turn)
}

/// How far ahead to put deadlines that must not pass before the first poll.
fn slack() -> Duration {
    if std::env::var_os("SOLO_UNDER_VALGRIND").is_some() {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(20)
    }
}

/// The slow-poll handler is process-wide: each test collects only reports of its own tasks.
fn collect_reports() -> Arc<Mutex<Vec<SlowPoll>>> {
    static REPORTS: std::sync::OnceLock<Arc<Mutex<Vec<SlowPoll>>>> = std::sync::OnceLock::new();
    REPORTS
        .get_or_init(|| {
            let reports = Arc::new(Mutex::new(Vec::new()));
            let r = reports.clone();
            solo::diag::set_slow_poll_handler(move |report| r.lock().unwrap().push(report.clone()));
            reports
        })
        .clone()
}

#[test]
fn task_blocking_50ms_in_poll_is_reported_once_with_its_spawn_location() {
    let _w = watchdog("slow poll", 60);
    let reports = collect_reports();
    let ex = LocalExecutor::new();
    let line = line!() + 1;
    let task = Builder::new().name("sleepy").spawn(&ex, async {
        std::thread::sleep(Duration::from_millis(50));
        solo::yield_now().await; // a second, fast poll must not be reported
        7
    });
    let id = task.id();
    assert_eq!(ex.block_on(task), 7);
    // The monitor samples every threshold / 2 and reports once the poll has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mine: Vec<SlowPoll> = reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.task == Some(id))
            .cloned()
            .collect();
        if !mine.is_empty() {
            // Give a duplicate report the chance to show up before counting.
            thread::sleep(Duration::from_millis(100));
            let mine: Vec<SlowPoll> = reports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|r| r.task == Some(id))
                .cloned()
                .collect();
            assert_eq!(mine.len(), 1, "exactly one report: {mine:?}");
            let report = &mine[0];
            assert_eq!(report.location.file(), file!());
            assert_eq!(report.location.line(), line);
            assert_eq!(report.name.as_deref(), Some("sleepy"));
            assert!(report.duration >= Duration::from_millis(20), "{report}");
            assert!(report.duration < Duration::from_secs(5), "{report}");
            let text = report.to_string();
            assert!(text.contains("sleepy") && text.contains(file!()), "{text}");
            return;
        }
        assert!(Instant::now() < deadline, "no slow-poll report within 10 s");
        thread::sleep(Duration::from_millis(10));
    }
}

/// A poll that never returns (a deadlock, an endless loop) must be reported while it still
/// runs, or it would never be reported at all. Here the "stuck" poll waits, inside the poll,
/// for that report to arrive; then it ends and its final report follows.
#[test]
fn a_poll_that_does_not_return_is_reported_while_it_runs() {
    let _w = watchdog("stuck poll", 60);
    let reports = collect_reports();
    let ex = LocalExecutor::new();
    let mine = move |id| -> Vec<SlowPoll> {
        reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.task == Some(id))
            .cloned()
            .collect()
    };
    let id = Rc::new(RefCell::new(None));
    let task = {
        let (id, mine) = (id.clone(), mine.clone());
        Builder::new().name("stuck").spawn(&ex, async move {
            let id = id.borrow().expect("id set before the first poll");
            let deadline = Instant::now() + Duration::from_secs(30);
            while mine(id).is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "no report while the poll ran, in 30 s"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            // Still in the same poll: a second "still running" report would be noise.
            std::thread::sleep(Duration::from_millis(300));
            mine(id)
        })
    };
    *id.borrow_mut() = Some(task.id());
    let task_id = task.id();
    let during = ex.block_on(task);
    assert_eq!(during.len(), 1, "one report while it ran: {during:?}");
    let running = &during[0];
    assert!(running.still_running, "{running}");
    assert!(
        running.duration >= Duration::from_millis(100),
        "ten thresholds: {running}"
    );
    assert!(
        running.to_string().contains("has been blocking"),
        "{running}"
    );
    // The end of the poll is reported as well, with the whole duration.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let all = mine(task_id);
        if all.len() > 1 {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "no report of the poll's end within 10 s"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(!after[1].still_running, "{}", after[1]);
    assert!(
        after[1].duration >= running.duration + Duration::from_millis(250),
        "{}",
        after[1]
    );
}

/// The monitor parks after a second in which no runtime polled anything; the first batch
/// after that must unpark it, or a slow poll after an idle spell would go unreported.
#[test]
fn slow_poll_after_an_idle_spell_that_parked_the_monitor_is_still_reported() {
    let _w = watchdog("slow poll after idle", 60);
    let reports = collect_reports();
    // Idle long enough for the monitor to park (other tests of this binary may keep it
    // awake; either way the report below must arrive).
    thread::sleep(Duration::from_millis(2500));
    let ex = LocalExecutor::new();
    let task = Builder::new().name("after-idle").spawn(&ex, async {
        std::thread::sleep(Duration::from_millis(60));
    });
    let id = task.id();
    ex.block_on(task);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reports
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|r| r.task == Some(id))
    {
        assert!(
            Instant::now() < deadline,
            "no report after the monitor parked"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fast_tasks_are_never_reported() {
    let _w = watchdog("fast tasks", 60);
    let reports = collect_reports();
    let ex = LocalExecutor::new();
    let mut ids = Vec::new();
    for _ in 0..100 {
        let task = ex.spawn(async {
            for _ in 0..10 {
                solo::yield_now().await;
            }
        });
        ids.push(task.id());
        task.detach();
    }
    ex.run_until_stalled();
    thread::sleep(Duration::from_millis(60));
    let reports = reports.lock().unwrap();
    assert!(
        !reports
            .iter()
            .any(|r| r.task.is_some_and(|t| ids.contains(&t))),
        "a fast task was reported"
    );
}

#[test]
fn stats_move_as_documented_for_a_scripted_workload() {
    let _w = watchdog("stats", 60);
    // Fresh thread: nothing else touches its counters.
    thread::spawn(|| {
        let before = stats();
        let ex = LocalExecutor::new();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        ex.block_on(async {
            // 3 tasks: one completes at once, one yields twice, one sleeps.
            let t1 = solo::spawn_local(async {});
            let t2 = solo::spawn_local(async {
                solo::yield_now().await;
                solo::yield_now().await;
            });
            // The sleep starts at the task's first poll, so that poll is always pending.
            let t3 = solo::spawn_local(async { sleep(Duration::from_millis(5)).await });
            // A task woken from another thread.
            let (tx, rx) = solo::sync::oneshot::channel::<()>();
            let remote = solo::Async::new(a).unwrap();
            let t4 = solo::spawn_local(async move {
                remote.readable().await.unwrap();
                drop(tx);
            });
            let writer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(10));
                use std::io::Write;
                (&b).write_all(b"x").unwrap();
                b
            });
            // One cancelled task.
            let t5 = solo::spawn_local(std::future::pending::<()>());
            drop(t5);
            t1.await;
            t2.await;
            t3.await;
            t4.await;
            assert!(rx.await.is_err());
            writer.join().unwrap();
        });
        let after = stats();
        let d = |f: fn(&solo::diag::Stats) -> u64| f(&after) - f(&before);
        assert_eq!(d(|s| s.tasks_spawned), 5);
        assert_eq!(
            d(|s| s.tasks_completed),
            4,
            "the cancelled task does not complete"
        );
        assert_eq!(after.tasks_alive, 0);
        // t1:1, t2:3, t3:2, t4:2, and t5's final run, which only drops its future.
        assert_eq!(d(|s| s.polls), 9, "{after:#?}");
        assert!(d(|s| s.timers_armed) >= 1 && d(|s| s.timers_fired) >= 1);
        assert_eq!(after.timers_pending, 0);
        assert!(d(|s| s.io_events) >= 1, "the socket became readable");
        // The thread slept for the timer or the socket, unless (under valgrind) both were
        // already due when it looked; either way it asked the OS.
        assert!(d(|s| s.reactor_sleeps) + d(|s| s.reactor_polls) >= 1);
        assert!(
            d(|s| s.wakes_local) >= 5,
            "spawns and yields are local wakes"
        );
        assert_eq!(after.io_sources, 0, "the Async was dropped");
    })
    .join()
    .unwrap();
}

#[test]
fn remote_wakes_are_counted_separately() {
    let _turn = one_at_a_time();
    thread::spawn(|| {
        let before = stats();
        let ex = LocalExecutor::new();
        let handle = Arc::new(Mutex::new(None::<std::task::Waker>));
        let h = handle.clone();
        let done = Rc::new(RefCell::new(false));
        let d = done.clone();
        let task = ex.spawn(std::future::poll_fn(move |cx| {
            if *d.borrow() {
                return std::task::Poll::Ready(());
            }
            *d.borrow_mut() = true;
            *h.lock().unwrap() = Some(cx.waker().clone());
            std::task::Poll::Pending
        }));
        ex.run_until_stalled();
        let waker = handle.lock().unwrap().take().unwrap();
        thread::spawn(move || waker.wake()).join().unwrap();
        ex.block_on(task);
        let after = stats();
        assert_eq!(after.wakes_remote - before.wakes_remote, 1);
    })
    .join()
    .unwrap();
}

/// Runs a fixed set of timers (deadlines from one start, so slow task creation cannot reorder
/// them) and records the order they fire in.
fn timer_order() -> Vec<u32> {
    let order = Rc::new(RefCell::new(Vec::new()));
    solo::block_on(async {
        // Far enough ahead that no deadline passes before the first polls, even under
        // valgrind: a sleep already due at its first poll completes in poll order.
        let start = solo::time::now() + slack();
        let mut tasks = Vec::new();
        for (id, ms) in [(1, 30), (2, 10), (3, 20), (4, 10), (5, 0), (6, 25)] {
            let order = order.clone();
            tasks.push(solo::spawn_local(async move {
                solo::time::sleep_until(start + Duration::from_millis(ms)).await;
                order.borrow_mut().push(id);
            }));
        }
        for task in tasks {
            task.await;
        }
    });
    order.take()
}

#[test]
fn one_hour_timeout_under_paused_clock_finishes_instantly_in_real_order() {
    let _w = watchdog("paused clock", 60);
    thread::spawn(|| {
        let real = timer_order();
        pause();
        let wall = Instant::now();
        let virtual_start = solo::time::now();
        let result = solo::block_on(timeout(
            Duration::from_secs(3600),
            std::future::pending::<()>(),
        ));
        assert!(result.is_err());
        assert!(solo::time::now() - virtual_start >= Duration::from_secs(3600));
        let paused = timer_order();
        // Generous under valgrind, which runs everything ~50x slower.
        let bound = if std::env::var_os("SOLO_UNDER_VALGRIND").is_some() {
            30
        } else {
            1
        };
        assert!(
            wall.elapsed() < Duration::from_secs(bound),
            "took {:?}",
            wall.elapsed()
        );
        assert_eq!(paused, real, "timer order under the paused clock");
        assert_eq!(real, [5, 2, 4, 3, 6, 1]);

        // advance() fires due timers before the caller resumes.
        solo::block_on(async {
            let nap = solo::spawn_local(sleep(Duration::from_secs(10)));
            solo::yield_now().await;
            advance(Duration::from_secs(9)).await;
            assert!(!nap.is_finished());
            advance(Duration::from_secs(1)).await;
            assert!(nap.is_finished());
        });
        resume();
        // After resume, time runs again from where the paused clock stood.
        let t = solo::time::now();
        thread::sleep(Duration::from_millis(5));
        assert!(solo::time::now() - t >= Duration::from_millis(5));
    })
    .join()
    .unwrap();
}

#[test]
#[should_panic(expected = "the clock is not paused")]
fn advance_without_pause_panics_with_a_clear_message() {
    drop(advance(Duration::from_secs(1)));
}

#[test]
fn timer_wakes_in_block_on_sleep_once_each_without_self_notification() {
    let _w = watchdog("timer_wakes_sleep_once_each", 60);
    // Fresh thread: nothing else touches its counters.
    thread::spawn(|| {
        let ex = LocalExecutor::new();
        let before = stats();
        ex.block_on(async {
            // The block_on future's own waker, then a spawned task's.
            for _ in 0..10 {
                sleep(Duration::from_millis(2)).await;
            }
            solo::spawn_local(async {
                for _ in 0..10 {
                    sleep(Duration::from_millis(2)).await;
                }
            })
            .await;
        });
        let after = stats();
        let sleeps = after.reactor_sleeps - before.reactor_sleeps;
        // One sleep per timer. A wake delivered by the reactor itself while the owner was
        // still marked asleep used to write the notifier, so the next sleep returned at once
        // (two sleeps and ~6 extra syscalls per timer).
        assert!(sleeps <= 25, "{sleeps} reactor sleeps for 20 timers");
    })
    .join()
    .unwrap();
}
