//! Driving a [`LocalExecutor`] from a foreign event loop (GLib, calloop, winit, ...).
//!
//! GUI toolkits own the main thread's loop. Instead of running solo's own `block_on` there,
//! the host watches solo and calls [`LocalExecutor::run_ready`] when solo has work, so UI
//! state can stay in `Rc<RefCell<_>>` and tasks can touch widgets directly.
//!
//! # The host recipe
//!
//! 1. Watch [`as_fd`](LocalExecutor::as_fd) for readability (hosts with fd sources), and/or
//!    register a [`set_wake_callback`](LocalExecutor::set_wake_callback) that posts an event
//!    to the host loop (hosts without fd support, like winit's `EventLoopProxy`).
//! 2. Call [`run_ready(budget)`](LocalExecutor::run_ready) when the fd is readable, when the
//!    callback asked, when the deadline below passes, and once at start-up.
//! 3. Act on the returned [`RunStatus`]: `MoreWork` → call again soon (the budget ran out;
//!    let the host process its own events first); `WaitUntil(t)` → arm a host timer for `t`;
//!    `Idle` → nothing to do until the fd or the callback says so. Re-query
//!    [`next_deadline`](LocalExecutor::next_deadline) after every call if you prefer.
//!
//! Following it, no task is stranded and the host never spins: `run_ready` drains the
//! poller (its edge-triggered events and `polling`'s notifier, which `polling` itself only
//! drains inside `Poller::wait`), so once it returns `Idle` or `WaitUntil` the fd stays quiet
//! until new work arrives: an I/O event, a wake from another thread, or a wake on this thread
//! from outside `run_ready` (a host callback sending on a solo channel).
//!
//! # Invariants
//!
//! - Between `run_ready` calls the executor is "idle" in the sleep handshake (see
//!   `executor/inbox.rs`): the first wake after that, from any thread, writes the poller's
//!   notifier (making the fd readable) and calls the wake callback, once per idle period.
//! - The callback is never called from inside `run_ready` (the executor is awake there), so
//!   it cannot recurse into the host.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use crate::executor::{Enter, LocalExecutor, Shared, is_current};
use crate::reactor::React;

mod watcher;
pub(crate) use watcher::FdWatcher;

/// What a host should do after [`LocalExecutor::run_ready`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Nothing is ready and no timer is pending: wait for the fd or the wake callback.
    Idle,
    /// The budget ran out with tasks still ready: call `run_ready` again soon.
    MoreWork,
    /// Nothing is ready; the earliest timer fires at this instant: call `run_ready` then
    /// (or earlier, if the fd or the callback says so).
    WaitUntil(Instant),
}

/// Wakes an executor (and the host loop driving it) from any thread.
///
/// Obtained with [`LocalExecutor::wake_handle`]; `Send + Sync + Clone`. Waking a dropped
/// executor is a harmless no-op.
///
/// # Examples
///
/// ```
/// let ex = solo::LocalExecutor::new();
/// let handle = ex.wake_handle();
/// std::thread::spawn(move || handle.wake()).join().unwrap();
/// ```
#[derive(Clone)]
pub struct WakeHandle {
    shared: Arc<Shared>,
}

impl WakeHandle {
    /// Makes the executor run soon: wakes it if it sleeps in `block_on`, or makes its fd
    /// readable and calls its wake callback if it is idle in a host loop. A no-op while the
    /// executor is running (it looks for work before sleeping anyway).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// ex.wake_handle().wake();
    /// ```
    pub fn wake(&self) {
        self.shared.signal();
    }
}

impl std::fmt::Debug for WakeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeHandle").finish_non_exhaustive()
    }
}

impl LocalExecutor<'_> {
    /// The fd a host loop watches for readability: readable when I/O is ready, or when a task
    /// was woken from another thread (or from this thread outside `run_ready`) while the
    /// executor was idle. It is the thread's poller, shared by every executor of the thread.
    ///
    /// If tasks are already queued, the fd is made readable at once so the host runs them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    ///
    /// let ex = solo::LocalExecutor::new();
    /// assert!(ex.as_fd().as_raw_fd() >= 0);
    /// ```
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.enter_idle();
        self.local().reactor.poller().as_fd()
    }

    /// When the host must call `run_ready` even if the fd stays quiet: the earliest pending
    /// timer, or now if tasks are already ready. `None`: no timer and no ready task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = solo::LocalExecutor::new();
    /// assert_eq!(ex.next_deadline(), None);
    /// ex.spawn(solo::time::sleep(Duration::from_secs(5))).detach();
    /// ex.run_ready(16);
    /// assert!(ex.next_deadline().is_some());
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        let local = self.local();
        if local.has_ready() {
            return Some(crate::time::clock::now());
        }
        local.reactor.next_deadline()
    }

    /// Runs ready work without ever blocking: takes ready I/O and due timers, then polls at
    /// most `budget` tasks, and tells the host what to do next.
    ///
    /// The budget bounds the time one call can take, so a storm of ready tasks cannot freeze
    /// the host's UI. Each call asks the OS for events once (one `epoll_wait` with a zero
    /// timeout), which also clears the fd's readability.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::RunStatus;
    ///
    /// let ex = solo::LocalExecutor::new();
    /// for _ in 0..3 {
    ///     ex.spawn(async {}).detach();
    /// }
    /// assert_eq!(ex.run_ready(2), RunStatus::MoreWork);
    /// assert_eq!(ex.run_ready(2), RunStatus::Idle);
    /// assert!(ex.is_empty());
    /// ```
    pub fn run_ready(&self, budget: usize) -> RunStatus {
        let local = self.local();
        {
            let _enter = Enter::new(local);
            local.shared.inbox.wake_up();
            local.reactor.react(React::Drain);
            local.run_batch(budget);
        }
        if local.has_ready() || !self.park() {
            return RunStatus::MoreWork;
        }
        if self.watched_io_ready() {
            // I/O landed after the drain: the host calls again at once, so stay awake rather
            // than have the watcher call it back as well.
            local.shared.inbox.wake_up();
            return RunStatus::MoreWork;
        }
        local.on_idle();
        match local.reactor.next_deadline() {
            Some(deadline) => RunStatus::WaitUntil(deadline),
            None => RunStatus::Idle,
        }
    }

    /// A handle that wakes this executor (and its host) from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let handle = ex.wake_handle();
    /// let copy = handle.clone();
    /// std::thread::spawn(move || copy.wake()).join().unwrap();
    /// ```
    pub fn wake_handle(&self) -> WakeHandle {
        WakeHandle {
            shared: self.local().shared.clone(),
        }
    }

    /// Sets a function called when the executor goes from idle to having work, for hosts
    /// that cannot watch a file descriptor (e.g. post a user event through winit's
    /// `EventLoopProxy`). Replaces any previous callback.
    ///
    /// The callback may run on any thread, at most once per idle period: on the thread that
    /// woke a task, including this one when code outside `run_ready` wakes a task. It must
    /// only schedule a later `run_ready`, never call it. It is never called from inside
    /// `run_ready` on this thread.
    ///
    /// I/O readiness wakes no task by itself (the event waits in the thread's epoll set for
    /// the next `run_ready`), so the first call also starts a small watcher thread,
    /// `solo-fd-watcher`, that waits on the executor's fd while the host does not and calls the
    /// callback when a socket becomes ready. It takes no events (the executor still sees
    /// them all), wakes once per new event, calls back only while the executor is idle, and
    /// is stopped and joined when the executor is dropped. Hosts that watch
    /// [`as_fd`](Self::as_fd) themselves do not need a callback at all. Where `polling` has
    /// no edge-triggered mode the watcher is not started and such a host must also watch the
    /// fd (or call `run_ready` periodically).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    ///
    /// let ex = solo::LocalExecutor::new();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let c = calls.clone();
    /// ex.set_wake_callback(move || { c.fetch_add(1, Ordering::SeqCst); });
    /// ex.spawn(async {}).detach(); // idle -> has work
    /// assert_eq!(calls.load(Ordering::SeqCst), 1);
    /// ```
    pub fn set_wake_callback(&self, f: impl Fn() + Send + Sync + 'static) {
        let local = self.local();
        local.shared.set_callback(Some(Arc::new(f)));
        let mut watcher = self.watcher.borrow_mut();
        if watcher.is_none() {
            // Unsupported (no edge mode) or out of threads/fds: the host still gets task
            // wakes through the callback; documented above.
            *watcher = FdWatcher::start(local.reactor.poller().as_fd(), local.shared.clone()).ok();
        }
        drop(watcher);
        self.enter_idle();
    }

    /// For a host with only a wake callback: whether I/O became ready while the executor was
    /// still awake (the watcher's signal was ignored then). See `embed/watcher.rs`.
    fn watched_io_ready(&self) -> bool {
        self.watcher
            .borrow()
            .as_ref()
            .is_some_and(FdWatcher::io_ready)
    }

    /// Marks the executor idle for a host, unless it is running right now (it looks for
    /// work before sleeping anyway) or already idle.
    fn enter_idle(&self) {
        let local = self.local();
        if !local.shared.inbox.is_sleeping() && !is_current(local) {
            self.park();
        }
    }

    /// Enters the idle state: later wakes notify the poller and the callback. If work is
    /// already queued, notifies at once instead (so the host runs it) and returns `false`.
    fn park(&self) -> bool {
        let local = self.local();
        if local.shared.inbox.prepare_sleep(|| local.has_ready()) {
            return true;
        }
        local.shared.notify();
        false
    }
}
