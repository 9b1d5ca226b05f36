//! Helper threads that solo starts on a pinned worker's behalf must not inherit the worker's
//! one-CPU affinity. A thread starts with its creator's CPU mask, so without care the
//! slow-poll monitor (started by the first runtime thread that polls), the `unblock` pool's
//! threads (started by the thread that needed one) and an executor's fd watcher would all run
//! on the core of the worker that happened to start them, preempting it instead of using the
//! other cores.
//!
//! One test per file: the monitor is process-wide and starts once, so this binary must start
//! it from a pinned worker, before anything else polls.

#![cfg(any(target_os = "linux", target_os = "android"))]

#[path = "support/threads.rs"]
mod threads;

use std::future::pending;
use std::time::{Duration, Instant};

use threads::{threads_named, under_valgrind, wait_until, watchdog};

/// The `Cpus_allowed_list` of thread `tid` of this process (`"self"` for the calling thread).
fn allowed_cpus(tid: &str) -> String {
    let path = if tid == "self" {
        "/proc/thread-self/status".to_string()
    } else {
        format!("/proc/self/task/{tid}/status")
    };
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_else(|| panic!("no Cpus_allowed_list in {path}"))
        .trim()
        .to_string()
}

/// Waits for the one thread named `name` to exist and (a helper widens its mask as it starts)
/// for its mask to become `want`, up to a few seconds; returns the mask it has then.
fn eventually_allowed(name: &str, want: &str) -> String {
    wait_until(name, Duration::from_secs(10), || {
        !threads_named(name).is_empty()
    });
    let tids = threads_named(name);
    assert_eq!(tids.len(), 1, "one thread named {name}");
    let deadline = Instant::now() + Duration::from_secs(if under_valgrind() { 50 } else { 5 });
    while allowed_cpus(&tids[0]) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    allowed_cpus(&tids[0])
}

#[test]
fn helper_threads_started_from_a_pinned_worker_keep_the_process_cpus() {
    let _guard = watchdog(
        "helper_threads_started_from_a_pinned_worker_keep_the_process_cpus",
        Duration::from_secs(30),
    );
    let process = allowed_cpus("self");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: this process may run on one CPU ({process}), nothing to compare");
        return;
    }
    assert!(
        threads_named("solo-slow-poll").is_empty(),
        "the monitor must not be running before the pinned worker starts it"
    );

    let pool = solo::pool::Builder::new()
        .threads(1)
        .pin_to_cores(true)
        .spawn(|_| pending::<()>())
        .expect("start a pinned pool");
    let want = process.clone();
    let job = pool.spawn_on(0, move || async move {
        let worker = allowed_cpus("self");
        let helper = solo::unblock(|| allowed_cpus("self")).await;
        // An executor of a host with only a wake callback starts an fd watcher thread.
        let hosted = solo::LocalExecutor::new();
        hosted.set_wake_callback(|| {});
        let watcher = eventually_allowed("solo-fd-watcher", &want);
        drop(hosted);
        (worker, helper, watcher)
    });
    let (worker, helper, watcher) = futures_lite::future::block_on(job).expect("the job's result");

    assert_ne!(worker, process, "the worker is pinned to one CPU");
    assert_eq!(
        helper, process,
        "an unblock thread started by the pinned worker"
    );
    assert_eq!(
        watcher, process,
        "the fd watcher of an executor on the pinned worker"
    );
    // The monitor starts with the worker's first poll and widens its mask as it starts.
    let monitor = eventually_allowed("solo-slow-poll", &process);
    assert_eq!(monitor, process, "the slow-poll monitor");
    pool.shutdown().expect("shut the pool down");
}
