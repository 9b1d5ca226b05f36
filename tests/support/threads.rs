//! Helpers for tests that run work on several threads: a watchdog that fails a hung test
//! instead of hanging CI, a drop probe that records the thread it was dropped on, and a
//! bounded wait for a condition set by another thread.
//!
//! Included with `#[path = "support/threads.rs"] mod threads;` (not every test uses every
//! helper).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// Whether the tests run under valgrind (`.ci/valgrind-tests` sets `SOLO_UNDER_VALGRIND=1`):
/// heavy tests shrink, time limits stretch.
pub fn under_valgrind() -> bool {
    std::env::var_os("SOLO_UNDER_VALGRIND").is_some_and(|v| v == "1")
}

/// Aborts the process (with a message naming the test) if it is still alive after `limit`
/// (ten times that under valgrind). Dropping the guard disarms it.
#[must_use = "the watchdog is disarmed when the guard is dropped"]
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

pub fn watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let limit = if under_valgrind() { limit * 10 } else { limit };
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("watchdog: test `{name}` still running after {limit:?}; aborting");
            std::process::abort();
        }
    });
    Watchdog { _disarm: tx }
}

/// Records, for each probe dropped, the thread it was dropped on.
#[derive(Clone, Default)]
pub struct DropLog {
    drops: Arc<Mutex<Vec<ThreadId>>>,
    created: Arc<AtomicUsize>,
}

impl DropLog {
    pub fn probe(&self) -> DropProbe {
        self.created.fetch_add(1, Ordering::SeqCst);
        DropProbe { log: self.clone() }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> Vec<ThreadId> {
        self.drops.lock().unwrap().clone()
    }
}

/// Pushes `thread::current().id()` into its log when dropped.
pub struct DropProbe {
    log: DropLog,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.log.drops.lock().unwrap().push(thread::current().id());
    }
}

/// The ids of this process's threads named `name`, from `/proc/self/task/*/comm` (panics
/// where there is no such directory, so a test that counts threads cannot pass vacuously).
pub fn threads_named(name: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| {
            let tid = e.ok()?.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            (comm.trim_end() == name).then_some(tid)
        })
        .collect()
}

/// Polls `cond` until it holds, panicking after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let limit = if under_valgrind() { limit * 10 } else { limit };
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
