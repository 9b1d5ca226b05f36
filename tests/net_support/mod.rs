//! Helpers shared by the `net_*` integration tests: a watchdog that fails a hung test instead
//! of hanging CI, fd counting, and running a test body in a child process.

#![allow(dead_code)] // each test crate uses a different subset

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Aborts the whole process with a message if the guard is still alive after `secs`.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

pub fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !flag.load(Ordering::Relaxed) {
            if Instant::now() >= deadline {
                eprintln!("watchdog: test `{name}` still running after {secs} s; aborting");
                std::process::abort();
            }
            thread::park_timeout(Duration::from_millis(50));
        }
    });
    Watchdog { done }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// The number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn is_socket(fd: &str) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
}

/// The number of open sockets of this process. Unlike [`fd_count`], it does not change when
/// another test's thread exits and its reactor (epoll, eventfd, timerfd) is dropped.
pub fn socket_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter(|e| is_socket(&e.file_name().to_string_lossy()))
        .count()
}

/// The number of sockets registered in this process's epoll instances (from
/// `/proc/self/fdinfo`; each registration is a `tfd:` line).
pub fn socket_registrations() -> usize {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
    {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.to_string_lossy() != "anon_inode:[eventpoll]" {
            continue;
        }
        let name = entry.file_name();
        let Ok(text) =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", name.to_string_lossy()))
        else {
            continue;
        };
        total += text
            .lines()
            .filter_map(|l| l.strip_prefix("tfd:"))
            .filter_map(|rest| rest.split_whitespace().next())
            .filter(|fd| is_socket(fd))
            .count();
    }
    total
}

/// The env var that tells a re-executed test binary to run one scenario as the child.
pub const CHILD_ENV: &str = "SOLO_NET_CHILD";

/// Whether this process is the child for `scenario`.
pub fn is_child(scenario: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == scenario)
}

/// Runs the test named `test` of this same binary in a child process with
/// `SOLO_NET_CHILD=scenario` and returns its status and output.
pub fn run_child(test: &str, scenario: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .output()
        .expect("spawn the test binary")
}

/// Restores the default SIGPIPE action (kill the process), which Rust's runtime replaced
/// with "ignore", so that a write that raises SIGPIPE kills this (child) process.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler; nothing else in the child changes signals.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}
