//! `solo::pool`: one runtime per thread. Each test is named after the sequence of events it
//! drives, and runs under a watchdog that aborts instead of hanging CI.

#[path = "support/threads.rs"]
mod threads;

use std::collections::{HashMap, HashSet};
use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use futures_lite::future::{block_on, poll_once};
use solo::pool::{Builder, JoinError, Pool, PoolHandle, RemoteError, RemoteTask, Worker};
use threads::{DropLog, under_valgrind, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_secs(10);

/// A pool whose workers only run jobs, until shutdown.
fn job_pool(n: usize) -> Pool {
    Builder::new()
        .threads(n)
        .spawn(|_| pending())
        .expect("start the pool")
}

/// The thread id of each worker, in index order.
fn worker_threads(pool: &PoolHandle) -> Vec<ThreadId> {
    (0..pool.workers())
        .map(|i| block_on(pool.spawn_on(i, || async { thread::current().id() })).unwrap())
        .collect()
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<PoolHandle>();
    send_sync::<Worker>();
    send_sync::<Builder>();
    send_sync::<RemoteTask<u8>>();
    send_sync::<JoinError>();
    fn send<T: Send>() {}
    send::<RemoteError>();
    send_sync::<RemoteError>();
}

#[test]
fn main_future_panics_on_one_worker_join_reports_it_and_the_others_keep_serving() {
    let _w = watchdog("main_future_panics_on_one_worker", LIMIT);
    let pool = Builder::new()
        .threads(3)
        .spawn(|w| async move {
            if w.index() == 1 {
                panic!("worker 1 gave up");
            }
            pending::<()>().await;
        })
        .unwrap();
    let handle = pool.handle();
    wait_until("worker 1 to exit", SHORT, || !handle.is_running(1));

    // The panicking worker refuses work at once; the others still serve.
    let mut refused = handle.spawn_on(1, || async { 1 });
    assert!(matches!(
        block_on(poll_once(&mut refused)),
        Some(Err(RemoteError::WorkerGone))
    ));
    for i in [0, 2] {
        assert_eq!(
            block_on(pool.spawn_on(i, move || async move { i })).unwrap(),
            i
        );
    }

    let err = pool.shutdown().unwrap_err();
    let panics = err.panics();
    assert_eq!(panics.len(), 1);
    assert_eq!(panics[0].index(), 1);
    assert_eq!(panics[0].message(), Some("worker 1 gave up"));
    assert!(
        err.to_string().contains("worker 1: worker 1 gave up"),
        "{err}"
    );
}

#[test]
fn job_panics_in_its_future_then_in_its_closure_and_the_worker_keeps_running() {
    let _w = watchdog("job_panics", LIMIT);
    let pool = job_pool(1);

    let in_future = pool.spawn_on(0, || async {
        solo::yield_now().await;
        panic!("inside the future")
    });
    let err = block_on(in_future).unwrap_err();
    assert_eq!(err.panic_message(), Some("inside the future"));
    assert!(matches!(err, RemoteError::Panicked(_)));

    let in_closure = pool.spawn_on(0, || -> std::future::Ready<()> {
        panic!("inside the closure")
    });
    let err = block_on(in_closure).unwrap_err();
    assert_eq!(err.panic_message(), Some("inside the closure"));

    // Same worker, still alive; the pool shuts down cleanly (job panics are not worker panics).
    assert_eq!(
        block_on(pool.spawn_on(0, || async { "alive" })).unwrap(),
        "alive"
    );
    pool.shutdown().unwrap();
}

#[test]
fn shutdown_with_pending_jobs_and_local_tasks_drops_each_on_its_worker_thread() {
    let _w = watchdog("shutdown_with_pending", LIMIT);
    let log = DropLog::default();
    let early_ran = Arc::new(AtomicUsize::new(0));
    let pool = Builder::new()
        .threads(2)
        .spawn({
            let (log, early_ran) = (log.clone(), early_ran.clone());
            move |_| {
                // A task spawned by the closure itself, before the main future runs, lands on
                // the worker's executor too (and runs).
                let early = log.probe();
                solo::spawn_local(async move {
                    let _early = early;
                    early_ran.fetch_add(1, SeqCst);
                    pending::<()>().await
                })
                .detach();
                async move {
                    // The main future and a `spawn_local` task each hold a probe.
                    let held = log.probe();
                    let local = log.probe();
                    solo::spawn_local(async move {
                        let _local = local;
                        pending::<()>().await
                    })
                    .detach();
                    let _held = held;
                    pending::<()>().await
                }
            }
        })
        .unwrap();
    let handle = pool.handle();
    let ids = worker_threads(&handle);
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (log, started) = (log.clone(), started.clone());
            pool.spawn_on(i % 2, move || async move {
                let _probe = log.probe();
                started.fetch_add(1, SeqCst);
                pending::<()>().await
            })
        })
        .collect();
    wait_until("every job to start", SHORT, || started.load(SeqCst) == 20);
    wait_until("every worker's probes", SHORT, || {
        log.created() == 2 * 3 + 20
    });
    wait_until("the early tasks to run", SHORT, || {
        early_ran.load(SeqCst) == 2
    });
    assert!(log.dropped().is_empty());

    pool.shutdown().unwrap();

    // Every probe was dropped before shutdown returned, once, on its own worker thread.
    let dropped = log.dropped();
    assert_eq!(dropped.len(), log.created());
    let mut per_thread: HashMap<ThreadId, usize> = HashMap::new();
    for id in dropped {
        *per_thread.entry(id).or_default() += 1;
    }
    let expected: HashMap<ThreadId, usize> = ids.iter().map(|&id| (id, 13)).collect();
    assert_eq!(per_thread, expected);
    assert!(!per_thread.contains_key(&thread::current().id()));
    for task in tasks {
        assert!(matches!(block_on(task), Err(RemoteError::Cancelled)));
    }
}

#[test]
fn shutdown_while_the_worker_is_busy_drops_queued_jobs_uncalled() {
    let _w = watchdog("shutdown_while_busy", LIMIT);
    let pool = job_pool(1);
    let handle = pool.handle();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();

    // Job A blocks the worker thread inside its closure, so later jobs queue up.
    let a = pool.spawn_on(0, move || {
        entered_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
        pending::<()>()
    });
    entered_rx.recv_timeout(SHORT * 10).unwrap();
    let called = Arc::new(AtomicBool::new(false));
    let queued: Vec<_> = (0..2)
        .map(|_| {
            let called = called.clone();
            pool.spawn_on(0, move || {
                called.store(true, SeqCst);
                async {}
            })
        })
        .collect();

    handle.request_shutdown();
    // From now on new jobs are refused at once.
    let mut late = pool.spawn_on(0, || async {});
    assert!(matches!(
        block_on(poll_once(&mut late)),
        Some(Err(RemoteError::WorkerGone))
    ));

    gate_tx.send(()).unwrap();
    pool.shutdown().unwrap();
    assert!(matches!(block_on(a), Err(RemoteError::Cancelled)));
    for task in queued {
        assert!(matches!(block_on(task), Err(RemoteError::WorkerGone)));
    }
    assert!(
        !called.load(SeqCst),
        "a queued job's closure ran after shutdown"
    );
}

#[test]
fn dropping_the_pool_cancels_pending_jobs_and_joins_like_shutdown() {
    let _w = watchdog("dropping_the_pool", LIMIT);
    let log = DropLog::default();
    let pool = job_pool(2);
    let ids = worker_threads(&pool.handle());
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..2)
        .map(|i| {
            let (log, started) = (log.clone(), started.clone());
            pool.spawn_on(i, move || async move {
                let _probe = log.probe();
                started.fetch_add(1, SeqCst);
                pending::<()>().await
            })
        })
        .collect();
    wait_until("both jobs to start", SHORT, || started.load(SeqCst) == 2);
    drop(pool);
    let dropped = log.dropped();
    assert_eq!(
        dropped.len(),
        2,
        "drop(pool) returned before the jobs were dropped"
    );
    assert!(dropped.iter().all(|id| ids.contains(id)));
    for task in tasks {
        assert!(matches!(block_on(task), Err(RemoteError::Cancelled)));
    }
}

#[test]
fn worker_main_future_returns_then_spawn_on_it_resolves_to_worker_gone_at_once() {
    let _w = watchdog("spawn_on_after_exit", LIMIT);
    let pool = Builder::new()
        .threads(2)
        .spawn(|w| async move {
            if w.index() == 1 {
                pending::<()>().await;
            }
        })
        .unwrap();
    let handle = pool.handle();
    wait_until("worker 0 to exit", SHORT, || !handle.is_running(0));
    for _ in 0..100 {
        let mut task = handle.spawn_on(0, || async { 0 });
        assert!(task.is_finished());
        assert!(matches!(
            block_on(poll_once(&mut task)),
            Some(Err(RemoteError::WorkerGone))
        ));
    }
    assert_eq!(block_on(handle.spawn_on(1, || async { 1 })).unwrap(), 1);
    pool.shutdown().unwrap();

    // After shutdown, every worker refuses, through any surviving handle.
    for i in 0..2 {
        let mut task = handle.spawn_on(i, || async {});
        assert!(matches!(
            block_on(poll_once(&mut task)),
            Some(Err(RemoteError::WorkerGone))
        ));
    }
    let mut any = handle.spawn_any(|| async {});
    assert!(matches!(
        block_on(poll_once(&mut any)),
        Some(Err(RemoteError::WorkerGone))
    ));
}

#[test]
fn ten_thousand_spawn_on_calls_from_two_threads_spread_over_four_workers() {
    let _w = watchdog("ten_thousand_spawn_on", LIMIT);
    const WORKERS: usize = 4;
    let jobs: usize = if under_valgrind() { 1_000 } else { 10_000 };
    let pool = job_pool(WORKERS);
    let ids = worker_threads(&pool.handle());
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let handle = pool.handle();
            thread::spawn(move || {
                let tasks: Vec<_> = (client..jobs)
                    .step_by(2)
                    .map(|i| {
                        handle.spawn_on(i % WORKERS, move || async move {
                            // A `!Send` future: the Rc lives across an await.
                            let local = Rc::new(i);
                            solo::yield_now().await;
                            (*local, thread::current().id())
                        })
                    })
                    .collect();
                tasks
                    .into_iter()
                    .map(|t| block_on(t).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut per_worker = [0; WORKERS];
    for client in clients {
        for (i, thread) in client.join().unwrap() {
            assert!(seen.insert(i), "job {i} answered twice");
            assert_eq!(thread, ids[i % WORKERS], "job {i} ran on the wrong worker");
            per_worker[i % WORKERS] += 1;
        }
    }
    assert_eq!(seen.len(), jobs);
    assert_eq!(per_worker, [jobs / WORKERS; WORKERS]);
    pool.shutdown().unwrap();
}

#[test]
fn spawn_any_goes_round_robin_then_skips_a_worker_that_exited() {
    let _w = watchdog("spawn_any_round_robin", LIMIT);
    let stop_1 = Arc::new(AtomicBool::new(false));
    let pool = Builder::new()
        .threads(3)
        .spawn({
            let stop_1 = stop_1.clone();
            move |w| async move {
                while !(w.index() == 1 && stop_1.load(SeqCst)) {
                    solo::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .unwrap();
    let ids = worker_threads(&pool.handle());

    let tasks: Vec<_> = (0..300)
        .map(|_| pool.spawn_any(|| async { thread::current().id() }))
        .collect();
    let mut per_worker = [0; 3];
    for (k, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.worker(), k % 3);
        let worker = task.worker();
        assert_eq!(block_on(task).unwrap(), ids[worker]);
        per_worker[worker] += 1;
    }
    assert_eq!(per_worker, [100; 3]);

    stop_1.store(true, SeqCst);
    let handle = pool.handle();
    wait_until("worker 1 to exit", SHORT, || !handle.is_running(1));
    let on: Vec<usize> = (0..6)
        .map(|_| {
            let task = pool.spawn_any(|| async { thread::current().id() });
            let worker = task.worker();
            assert_eq!(block_on(task).unwrap(), ids[worker]);
            worker
        })
        .collect();
    assert!(on.iter().all(|&w| w != 1), "{on:?}");
    assert!(on.contains(&0) && on.contains(&2), "{on:?}");
    pool.shutdown().unwrap();
}

#[test]
fn remote_task_dropped_mid_run_cancels_the_job_on_its_worker() {
    let _w = watchdog("remote_task_dropped", LIMIT);
    let pool = job_pool(2);
    let ids = worker_threads(&pool.handle());
    let log = DropLog::default();
    let started = Arc::new(AtomicBool::new(false));
    let task = pool.spawn_on(1, {
        let (log, started) = (log.clone(), started.clone());
        move || async move {
            let _probe = log.probe();
            started.store(true, SeqCst);
            pending::<()>().await
        }
    });
    wait_until("the job to start", SHORT, || started.load(SeqCst));
    drop(task);
    wait_until("the job's future to be dropped", SHORT, || {
        !log.dropped().is_empty()
    });
    assert_eq!(log.dropped(), [ids[1]]);
    pool.shutdown().unwrap();
}

#[test]
fn remote_task_detached_runs_to_completion() {
    let _w = watchdog("remote_task_detached", LIMIT);
    let pool = job_pool(1);
    let (tx, rx) = mpsc::channel();
    pool.spawn_on(0, move || async move {
        solo::time::sleep(Duration::from_millis(20)).await;
        tx.send("finished").unwrap();
    })
    .detach();
    assert_eq!(rx.recv_timeout(SHORT * 10).unwrap(), "finished");
    pool.shutdown().unwrap();
}

#[test]
fn remote_task_cancel_waits_until_the_future_is_dropped_or_returns_the_output() {
    let _w = watchdog("remote_task_cancel", LIMIT);
    let pool = job_pool(1);
    let ids = worker_threads(&pool.handle());
    let log = DropLog::default();
    let started = Arc::new(AtomicBool::new(false));
    let task = pool.spawn_on(0, {
        let (log, started) = (log.clone(), started.clone());
        move || async move {
            let _probe = log.probe();
            started.store(true, SeqCst);
            pending::<u8>().await
        }
    });
    wait_until("the job to start", SHORT, || started.load(SeqCst));
    assert!(matches!(
        block_on(task.cancel()),
        Err(RemoteError::Cancelled)
    ));
    assert_eq!(log.dropped(), [ids[0]], "cancel returned before the drop");

    let done = pool.spawn_on(0, || async { 5 });
    wait_until("the job to finish", SHORT, || done.is_finished());
    assert_eq!(block_on(done.cancel()).unwrap(), 5);
    pool.shutdown().unwrap();
}

#[test]
fn workers_ping_pong_a_thousand_jobs_through_their_handles() {
    let _w = watchdog("workers_ping_pong", LIMIT);
    let (tx, rx) = mpsc::channel();
    let pool = Builder::new()
        .threads(2)
        .spawn(move |w| async move {
            if w.index() == 0 {
                let me = thread::current().id();
                let mut total = 0u64;
                for i in 0..1_000u64 {
                    let (n, there) = w
                        .pool()
                        .spawn_on(1, move || async move { (i * 2, thread::current().id()) })
                        .await
                        .unwrap();
                    assert_ne!(there, me);
                    total += n;
                }
                tx.send(total).unwrap();
                w.pool().request_shutdown();
            }
            pending::<()>().await;
        })
        .unwrap();
    assert_eq!(rx.recv_timeout(SHORT * 10).unwrap(), 999 * 1_000);
    pool.join().unwrap();
}

#[test]
fn on_thread_start_runs_on_each_named_thread_and_its_panic_is_reported() {
    let _w = watchdog("on_thread_start", LIMIT);
    let (tx, rx) = mpsc::channel();
    let pool = Builder::new()
        .threads(2)
        .thread_name("kit")
        .on_thread_start(move |w| {
            tx.send(thread::current().name().map(str::to_owned))
                .unwrap();
            if w.index() == 1 {
                panic!("hook failed on 1");
            }
        })
        .spawn(|_| async {})
        .unwrap();
    let err = pool.join().unwrap_err();
    assert_eq!(err.panics().len(), 1);
    assert_eq!(err.panics()[0].index(), 1);
    let mut names: Vec<_> = rx.try_iter().flatten().collect();
    names.sort();
    assert_eq!(names, ["kit-0", "kit-1"]);
}

#[test]
#[should_panic(expected = "at least one worker")]
fn zero_threads_is_refused() {
    let _ = Builder::new().threads(0);
}

#[test]
#[should_panic(expected = "spawn_on(2) on a pool of 2 workers")]
fn spawn_on_out_of_range_names_the_misuse() {
    let _w = watchdog("spawn_on_out_of_range", LIMIT);
    let pool = job_pool(2);
    drop(pool.spawn_on(2, || async {}));
}

#[cfg(target_os = "linux")]
#[test]
fn pin_to_cores_gives_each_worker_one_cpu() {
    let _w = watchdog("pin_to_cores", LIMIT);
    fn allowed_cpus() -> String {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned()
    }
    let before = allowed_cpus();
    let pool = Builder::new()
        .threads(2)
        .pin_to_cores(true)
        .spawn(|_| pending())
        .unwrap();
    let cpus: Vec<String> = (0..2)
        .map(|i| block_on(pool.spawn_on(i, || async { allowed_cpus() })).unwrap())
        .collect();
    for cpu in &cpus {
        assert!(
            cpu.parse::<usize>().is_ok(),
            "pinned to {cpu:?}, not one CPU"
        );
    }
    if before.contains([',', '-']) {
        assert_ne!(cpus[0], cpus[1], "two workers pinned to the same CPU");
    }
    // The caller's own affinity is untouched.
    assert_eq!(allowed_cpus(), before);
    pool.shutdown().unwrap();
}
