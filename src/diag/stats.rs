//! Runtime statistics of the current thread: cheap counters, read as a snapshot.

use std::cell::Cell;

use crate::reactor::Reactor;

/// A snapshot of this thread's runtime counters (all executors on the thread together).
///
/// Counters only grow, except the `*_alive`/`*_pending`/`io_sources` gauges; subtract two
/// snapshots to measure a workload. Counting costs a `Cell` increment at each event (per batch
/// of polls, not per poll).
///
/// # Examples
///
/// ```
/// let before = solo::diag::stats();
/// solo::block_on(async {
///     solo::spawn_local(async { solo::yield_now().await }).await;
/// });
/// let after = solo::diag::stats();
/// assert_eq!(after.tasks_spawned - before.tasks_spawned, 1);
/// assert_eq!(after.tasks_completed - before.tasks_completed, 1);
/// assert_eq!(after.polls - before.polls, 2); // first poll, and the poll after the yield
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tasks spawned and whose future is not yet dropped.
    pub tasks_alive: u64,
    /// Tasks spawned on this thread.
    pub tasks_spawned: u64,
    /// Tasks whose future returned `Ready` (not cancelled, not panicked).
    pub tasks_completed: u64,
    /// Task runs: polls, plus the final run of a cancelled task that only drops its future
    /// (the `block_on` futures' polls are not counted).
    pub polls: u64,
    /// Tasks woken on this thread (spawns included).
    pub wakes_local: u64,
    /// Tasks woken from other threads (handed over through the inbox).
    pub wakes_remote: u64,
    /// I/O readiness events delivered to sources.
    pub io_events: u64,
    /// File descriptors registered now.
    pub io_sources: u64,
    /// Timers registered (a `Sleep` on its first pending poll, a reset).
    pub timers_armed: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers registered and not yet fired or cancelled.
    pub timers_pending: u64,
    /// Times the thread blocked in the OS waiting for events or timers.
    pub reactor_sleeps: u64,
    /// Non-blocking checks of the OS for events (fairness checks, `run_ready`).
    pub reactor_polls: u64,
}

/// The live counters, owned by the thread's reactor.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_dropped: Cell<u64>,
    pub(crate) tasks_completed: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) wakes_local: Cell<u64>,
    pub(crate) wakes_remote: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) reactor_sleeps: Cell<u64>,
    pub(crate) reactor_polls: Cell<u64>,
}

impl Counters {
    #[inline]
    pub(crate) fn add(counter: &Cell<u64>, n: u64) {
        counter.set(counter.get() + n);
    }
}

/// This thread's runtime statistics (zeros if no runtime was ever used on it).
///
/// # Examples
///
/// ```
/// let stats = solo::diag::stats();
/// assert!(stats.tasks_completed <= stats.tasks_spawned);
/// println!("{stats:#?}");
/// ```
pub fn stats() -> Stats {
    match Reactor::current() {
        Ok(reactor) => reactor.stats(),
        Err(_) => Stats::default(),
    }
}
