//! The fd watcher thread that `set_wake_callback` starts is stopped and joined when its
//! executor drops.
//!
//! Alone in its own test binary: it counts the process's `solo-fd-watcher` threads, which the
//! embedding tests in `embed.rs` would start and stop concurrently if they shared a process
//! (libtest runs a binary's tests in parallel threads), making the count racy.

mod support;
#[path = "support/threads.rs"]
mod threads;

use std::time::Duration;

use solo::LocalExecutor;

/// The process's fd watcher threads, by their thread name.
fn watchers() -> usize {
    threads::threads_named("solo-fd-watcher").len()
}

/// Waits (up to 10 s) until the process has `n` watcher threads. A new thread takes its name
/// a moment after it starts, and a joined one leaves `/proc/self/task` a moment after its
/// `join` returns (the join wakes on the thread's exit, before the kernel releases it).
fn until_watchers(n: usize) -> bool {
    for _ in 0..1000 {
        if watchers() == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn fd_watcher_thread_is_joined_when_the_executor_drops() {
    let _w = support::watchdog(Duration::from_secs(60));
    assert_eq!(watchers(), 0, "no executor has a wake callback yet");
    let ex = LocalExecutor::new();
    ex.set_wake_callback(|| {});
    assert!(until_watchers(1), "set_wake_callback starts one watcher");
    ex.set_wake_callback(|| {});
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        watchers(),
        1,
        "replacing the callback keeps the one watcher"
    );
    drop(ex);
    assert!(
        until_watchers(0),
        "the watcher thread ends when the executor drops"
    );
}
