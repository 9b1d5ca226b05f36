//! The executor: runs `!Send` tasks on the thread that owns it.
//!
//! # Layout
//!
//! - [`LocalExecutor`] (this file): the public type and the `block_on` loop.
//! - `local.rs`: the owner-thread state (run queue, live tasks, shutdown).
//! - `shared.rs`: the cross-thread half and the schedule function.
//! - `inbox.rs`: the remote-wake queue and the sleep/notify handshake (loom-checked).
//! - `task.rs`: the [`Task`] handle and the wrapper every future runs in.
//! - `current.rs`: which executor runs on this thread; `solo::block_on` / `spawn_local`.
//!
//! # Invariants
//!
//! - A task's future is polled and dropped only on the thread that created the executor.
//!   Wakers are `Send + Sync`: a wake on the owner thread pushes onto a `RefCell` queue (no
//!   atomics beyond async-task's own, no syscall); a wake elsewhere goes through the inbox and
//!   notifies the poller only if the owner sleeps.
//! - While a parked task (one in `Local::active`) is polled, its slot is published on the
//!   thread (`task.rs`), so timers, socket waits and the `!Send` primitives of `solo::sync`
//!   can keep a `TaskRef` (the slot) instead of cloning the task's waker: no atomic
//!   increment, and waking it is a `wake_by_ref` of the waker `active` holds. The outermost
//!   `block_on` call publishes its future the same way (a `TaskRef` to it is good for that
//!   call only: `Local::main_epoch`). Any other waker is cloned as usual.
//! - Dropping the executor drops every unfinished future on the owner thread before the
//!   executor's borrow `'a` ends; later wakes, clones and drops of their wakers are no-ops.
//! - The loop never calls the poller while a task is ready, except every
//!   [`REACTOR_INTERVAL`](local::REACTOR_INTERVAL) polls to keep I/O and timers fair.

mod builder;
mod current;
mod inbox;
mod local;
mod shared;
mod task;
mod yield_now;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use builder::Builder;
pub(crate) use current::spawn_local_at;
pub(crate) use current::{Enter, assert_in_runtime, in_runtime, is_current};
pub use current::{block_on, spawn_local};
pub(crate) use local::{Local, MainWake, REACTOR_INTERVAL};
pub(crate) use shared::Shared;
pub(crate) use task::{MainPoll, Wakeup};
pub use task::{Task, TaskId};
pub use yield_now::{YieldNow, yield_now};

use crate::diag::{PollSlot, Polling};
use crate::reactor::{React, Reactor};

/// A single-threaded executor of `!Send` futures that may borrow from the stack.
///
/// `LocalExecutor` is `!Send` and `!Sync`: it belongs to the thread that created it, as do
/// its tasks. Any number of executors may live on one thread; they share the thread's reactor
/// and timers. The `'a` lifetime lets tasks borrow data that outlives the executor.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::LocalExecutor<'static>>();
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<solo::LocalExecutor<'static>>();
/// ```
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// let hits = Cell::new(0); // borrowed by the tasks below, no Rc needed
/// let ex = solo::LocalExecutor::new();
/// for _ in 0..3 {
///     ex.spawn(async { hits.set(hits.get() + 1) }).detach();
/// }
/// ex.block_on(async {});
/// ex.run_until_stalled();
/// assert_eq!(hits.get(), 3);
/// ```
pub struct LocalExecutor<'a> {
    local: Rc<Local>,
    /// What the outermost `block_on` call publishes while it polls its future (built once).
    main_poll: MainPoll,
    /// Watches the thread's epoll fd for a host that has only a wake callback (see
    /// `embed/watcher.rs`); started by `set_wake_callback`, stopped when the executor drops.
    pub(crate) watcher: RefCell<Option<crate::embed::FdWatcher>>,
    /// Invariant in `'a` (a task of `'a` must not be accepted by an executor of a longer
    /// lifetime) and `!Send + !Sync` through `Rc`.
    _marker: PhantomData<fn(&'a ()) -> &'a ()>,
}

impl<'a> LocalExecutor<'a> {
    /// Creates an executor on the current thread.
    ///
    /// # Panics
    ///
    /// Panics if this is the thread's first executor and the OS refuses to create its poller
    /// (for example when the process is out of file descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// assert!(ex.is_empty());
    /// ```
    pub fn new() -> Self {
        let reactor = Reactor::current()
            .unwrap_or_else(|e| panic!("solo: cannot create this thread's reactor: {e}"));
        let local = Local::new(reactor);
        LocalExecutor {
            main_poll: MainPoll::new(local.clone()),
            local,
            watcher: RefCell::new(None),
            _marker: PhantomData,
        }
    }

    /// Spawns a future onto this executor. The task starts running the next time the executor
    /// runs (`block_on`, `run_until_stalled`, `run_ready`).
    ///
    /// # Examples
    ///
    /// ```
    /// let data = vec![1, 2, 3];
    /// let ex = solo::LocalExecutor::new();
    /// let sum = ex.spawn(async { data.iter().sum::<i32>() }); // borrows `data`
    /// assert_eq!(ex.block_on(sum), 6);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'a,
        F::Output: 'a,
    {
        self.spawn_at(future, Location::caller(), None)
    }

    pub(crate) fn spawn_at<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
    ) -> Task<F::Output>
    where
        F: Future + 'a,
        F::Output: 'a,
    {
        // SAFETY: `F: 'a`, and `Drop for LocalExecutor<'a>` drops every task before `'a`
        // ends (or the executor is leaked and its tasks are never touched again).
        unsafe { self.local.spawn(future, location, name) }
    }

    /// Runs `future` to completion, and the executor's tasks, the thread's reactor and timers
    /// meanwhile.
    ///
    /// While anything is ready it never blocks; when nothing is, it sleeps in the reactor
    /// until an I/O event, the next timer deadline, or a wake from another thread. A ready
    /// future costs no syscall. Calls may nest (from inside a task), on the same executor or
    /// another one; a nested call on the same executor keeps running its other tasks.
    ///
    /// # Panics
    ///
    /// A panic of `future` reaches the caller; the executor stays usable. Panics of spawned
    /// tasks do not: they are re-raised where their [`Task`] is awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = solo::LocalExecutor::new();
    /// let out = ex.block_on(async {
    ///     solo::time::sleep(Duration::from_millis(1)).await;
    ///     "done"
    /// });
    /// assert_eq!(out, "done");
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.block_on_at(future, Location::caller())
    }

    pub(crate) fn block_on_at<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        let local = &*self.local;
        let _enter = Enter::new(local);
        let mut future = pin!(future);
        // Fast path, for the outermost call: poll once with the executor's own wake flag and
        // return if the future is ready at once. No syscall, no clock read, no queue work.
        // The outermost call also publishes its future's `TaskRef` record, so what it awaits
        // need not clone its waker.
        if let Some(main) = local.lease_main_wake() {
            let main = (main.wake(), Some(&self.main_poll));
            let poll = poll_main(local, future.as_mut(), main, location);
            if let Poll::Ready(output) = poll {
                return output;
            }
            return drive(local, future, main, location);
        }
        // Nested in another `block_on` of this executor.
        let spare = local.lease_spare_wake();
        let poll = poll_main(local, future.as_mut(), (spare.wake(), None), location);
        if let Poll::Ready(output) = poll {
            return output;
        }
        drive(local, future, (spare.wake(), None), location)
    }

    /// Runs ready tasks (and due timers and ready I/O) until none is ready. Never blocks.
    ///
    /// Returns the number of task polls. A task that wakes itself forever keeps this running;
    /// hosts that need a bound use `run_ready(budget)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async { solo::yield_now().await });
    /// assert_eq!(ex.run_until_stalled(), 2); // first poll, then the poll after the yield
    /// assert!(task.is_finished());
    /// ```
    pub fn run_until_stalled(&self) -> usize {
        let local = &*self.local;
        let _enter = Enter::new(local);
        let mut total = 0;
        loop {
            total += local.run_batch(REACTOR_INTERVAL);
            local.since_reactor.set(0);
            local.reactor.react(React::NoBlock);
            if !local.has_ready() {
                local.on_idle();
                return total;
            }
        }
    }

    /// The number of live tasks: spawned, and neither finished nor cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async {});
    /// assert_eq!(ex.len(), 1);
    /// ex.block_on(task);
    /// assert_eq!(ex.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.local.len()
    }

    /// Whether the executor has no live tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(solo::LocalExecutor::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[allow(dead_code)] // for the embedding API, which is not merged yet
    pub(crate) fn local(&self) -> &Rc<Local> {
        &self.local
    }
}

/// A `block_on` call's wake flag, and (outermost call only) its published `TaskRef` record.
type Main<'a> = (&'a MainWake, Option<&'a MainPoll>);

/// Polls a `block_on` future once, marked as a poll for the slow-poll monitor.
#[inline(always)]
fn poll_main<F: Future>(
    local: &Local,
    future: Pin<&mut F>,
    (wake, published): Main<'_>,
    location: &'static Location<'static>,
) -> Poll<F::Output> {
    let slot = PollSlot::enabled().then_some(&*local.reactor.poll_slot);
    let timing = slot.map(|slot| Polling::start(slot, 0, location));
    let mut cx = Context::from_waker(&wake.waker);
    let poll = match published {
        Some(published) => published.poll(future, &mut cx),
        None => future.poll(&mut cx),
    };
    drop(timing);
    poll
}

/// The `block_on` loop, after a first poll of the future returned `Pending`: runs the tasks,
/// the reactor and the timers until the future is ready.
#[inline(never)]
fn drive<F: Future>(
    local: &Local,
    mut future: Pin<&mut F>,
    main: Main<'_>,
    location: &'static Location<'static>,
) -> F::Output {
    let signal = &*main.0.signal;
    // The first poll (in `block_on_at`) counts like a task's: a main future that keeps waking
    // itself must not keep I/O and timers from ever being checked.
    let mut polled = 1;
    loop {
        polled += local.run_batch(REACTOR_INTERVAL);
        let mut poll_main_now = signal.take();
        if poll_main_now || local.has_ready() {
            // Busy: look at I/O and timers only every REACTOR_INTERVAL polls.
            let since = local.since_reactor.get() + polled;
            if since >= REACTOR_INTERVAL {
                local.since_reactor.set(0);
                local.reactor.react(React::NoBlock);
            } else {
                local.since_reactor.set(since);
            }
        } else {
            // Idle: sleep in the reactor, unless a remote wake races in (see inbox.rs).
            local.since_reactor.set(0);
            local.on_idle();
            let inbox = &local.shared.inbox;
            if inbox.prepare_sleep(|| signal.is_set()) {
                // Awake again before the wakers run: an owner-thread wake while "sleeping"
                // would notify the poller (see `Local::push`), one eventfd write and drain
                // per I/O wake-up.
                local.reactor.react_then(React::Block, || {
                    inbox.wake_up();
                });
            }
            poll_main_now = signal.take();
        }
        polled = 0;
        if poll_main_now {
            if let Poll::Ready(output) = poll_main(local, future.as_mut(), main, location) {
                return output;
            }
            polled = 1;
        }
    }
}

impl Default for LocalExecutor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for LocalExecutor<'_> {
    /// Drops every unfinished task's future, on this thread, before returning.
    fn drop(&mut self) {
        // Stop the host's fd watcher first, so it cannot call the host back during shutdown.
        drop(self.watcher.get_mut().take());
        self.local.shutdown();
    }
}

impl fmt::Debug for LocalExecutor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("tasks", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow-poll marker must be cleared after a nested `block_on` and after a panicking
    /// poll, or the monitor would report a poll "still running" on an idle thread.
    #[test]
    fn nested_and_panicking_polls_leave_the_slot_idle() {
        let ex = LocalExecutor::new();
        let slot = ex.local().reactor.poll_slot.clone();
        assert!(!slot.in_poll());
        ex.block_on(async {
            assert!(slot.in_poll());
            let inner = LocalExecutor::new();
            inner.block_on(yield_now());
            assert!(slot.in_poll(), "the outer poll is still running");
        });
        assert!(!slot.in_poll());
        ex.spawn(async { LocalExecutor::new().block_on(yield_now()) })
            .detach();
        ex.run_until_stalled();
        assert!(!slot.in_poll());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ex.block_on(async { panic!("boom in block_on") })
        }));
        assert!(panicked.is_err());
        assert!(!slot.in_poll(), "a panicking poll must end its marker");
    }

    /// A burst of spawns grows the run queue; an executor that runs out of work gives the
    /// capacity back (both where it goes idle: `run_until_stalled` and `block_on`'s sleep).
    #[test]
    fn an_idle_executor_gives_back_a_burst_s_run_queue() {
        const BURST: usize = 20_000;
        let ex = LocalExecutor::new();
        for _ in 0..BURST {
            ex.spawn(std::future::pending::<()>()).detach();
        }
        assert!(ex.local().queue_capacity() >= BURST);
        ex.run_until_stalled();
        assert!(
            ex.local().queue_capacity() <= 1024,
            "run_until_stalled kept the burst"
        );
        assert_eq!(ex.len(), BURST, "the parked tasks stay");

        ex.block_on(async {
            for _ in 0..BURST {
                ex.spawn(std::future::pending::<()>()).detach();
            }
            yield_now().await;
            assert!(
                ex.local().queue_capacity() >= BURST,
                "busy, so not trimmed yet"
            );
            while ex.local().has_ready() {
                yield_now().await;
            }
            // Idle now: the executor sleeps in the reactor until the timer fires.
            crate::time::sleep(std::time::Duration::from_millis(1)).await;
            assert!(
                ex.local().queue_capacity() <= 1024,
                "block_on kept the burst"
            );
        });
    }
}
