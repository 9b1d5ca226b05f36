//! Driving a [`LocalExecutor`] from a GLib main loop (GTK's, or any [`MainContext`]).
//!
//! Available with the `glib` cargo feature. [`attach`] follows the host recipe of
//! [`LocalExecutor::run_ready`] with three GLib sources, so the thread only ever sleeps in
//! GLib's `poll` and tasks can update widgets and `Rc<RefCell<_>>` state directly:
//!
//! - a unix-fd source on [`LocalExecutor::as_fd`] for `IN` (I/O ready, or a task woken from
//!   another thread), at [`Priority::DEFAULT`];
//! - a timeout source for the [`RunStatus::WaitUntil`] deadline, re-armed after every
//!   `run_ready`, at [`Priority::DEFAULT`];
//! - an idle source at [`Priority::DEFAULT_IDLE`] while `run_ready` returns
//!   [`RunStatus::MoreWork`], so a storm of ready tasks runs in batches of the budget with the
//!   host's own events (input, redraws) served in between.
//!
//! # Invariants
//!
//! - Everything happens on the thread that called [`attach`]: it must own the context (GLib's
//!   "acquire") and iterate it. The sources' callbacks hold only a `Weak` reference to the
//!   driver state, behind a [`ThreadGuard`], so dropping [`Attached`] frees everything and a
//!   callback dispatched on a foreign thread panics instead of touching `!Send` state.
//! - `run_ready` is never re-entered: if a task iterates the context itself (a nested main
//!   loop, e.g. a modal dialog), the adapter's callbacks return without running tasks, and
//!   the outer call re-arms the sources when it returns. The nested loop may busy-wait on
//!   solo's readable fd meanwhile: tasks should await a dialog's result, not nest loops.
//! - After [`Attached`] is dropped, no source of the adapter remains on the context; tasks
//!   stay in the executor, which the host may drive by other means.
//!
//! # Examples
//!
//! ```
//! use std::{cell::Cell, rc::Rc, time::Duration};
//!
//! let context = glib::MainContext::new();
//! let main_loop = glib::MainLoop::new(Some(&context), false);
//! let ex = Rc::new(solo::LocalExecutor::new());
//! let _attached = solo::glib::attach(ex.clone(), &context);
//!
//! let answer = Rc::new(Cell::new(0));
//! let (a, l) = (answer.clone(), main_loop.clone());
//! ex.spawn(async move {
//!     solo::time::sleep(Duration::from_millis(5)).await;
//!     a.set(42);
//!     l.quit();
//! })
//! .detach();
//! main_loop.run();
//! assert_eq!(answer.get(), 42);
//! ```
//!
//! [`ThreadGuard`]: ::glib::thread_guard::ThreadGuard

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ::glib::thread_guard::ThreadGuard;
use ::glib::{ControlFlow, IOCondition, MainContext, Priority, Source};

use crate::{LocalExecutor, RunStatus};

/// How many tasks one dispatch of the adapter polls at most, unless changed with
/// [`Attached::set_budget`].
///
/// # Examples
///
/// ```
/// assert!(solo::glib::DEFAULT_BUDGET > 0);
/// ```
pub const DEFAULT_BUDGET: usize = 64;

/// Drives `executor` from `context`: once this returns, iterating the context (with
/// [`glib::MainLoop::run`](::glib::MainLoop::run) or
/// [`MainContext::iteration`]) runs the executor's tasks, timers and I/O, until the returned
/// guard is dropped.
///
/// The first `run_ready` happens on the context's next iteration, so tasks spawned before
/// (or after) attaching start there.
///
/// # Panics
///
/// Panics if another thread owns `context` (GLib's `g_main_context_acquire` fails). The
/// context must also be iterated on this thread: a callback dispatched on another thread
/// panics.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let context = glib::MainContext::new();
/// let ex = Rc::new(solo::LocalExecutor::new());
/// let attached = solo::glib::attach(ex.clone(), &context);
///
/// let task = ex.spawn(async { 1 + 1 });
/// while !task.is_finished() {
///     context.iteration(true);
/// }
/// assert_eq!(solo::block_on(task), 2);
/// drop(attached); // removes the adapter's sources from the context
/// ```
pub fn attach(executor: Rc<LocalExecutor<'static>>, context: &MainContext) -> Attached {
    // Taking ownership (recursively, if the caller already owns it) proves no other thread
    // iterates the context; the guard releases it again at the end of this function.
    let _owner = context.acquire().unwrap_or_else(|_| {
        panic!("solo::glib::attach: the MainContext is owned by another thread")
    });
    let driver = Rc::new(Driver {
        executor,
        context: context.clone(),
        budget: Cell::new(DEFAULT_BUDGET),
        runs: Cell::new(0),
        running: Cell::new(false),
        detached: Cell::new(false),
        fd_source: RefCell::new(None),
        timer: RefCell::new(None),
        idle: RefCell::new(None),
    });

    let weak = ThreadGuard::new(Rc::downgrade(&driver));
    let fd = driver.executor.as_fd().as_raw_fd();
    let source = glib_unix::fd_source_new(
        fd,
        IOCondition::IN,
        Some("solo executor fd"),
        Priority::DEFAULT,
        move |_, _| {
            if let Some(driver) = weak.get_ref().upgrade() {
                driver.run();
            }
            ControlFlow::Continue
        },
    );
    source.attach(Some(context));
    *driver.fd_source.borrow_mut() = Some(source);
    // The recipe's start-up call: tasks spawned before attaching, and timers already
    // pending, are only seen by a first `run_ready`.
    driver.arm_idle();
    Attached { driver }
}

/// Keeps an executor attached to a GLib context; dropping it detaches.
///
/// Returned by [`attach`]. Dropping it destroys the adapter's sources; the executor and its
/// tasks live on (they are owned by the `Rc<LocalExecutor>`).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let context = glib::MainContext::new();
/// let ex = Rc::new(solo::LocalExecutor::new());
/// let attached = solo::glib::attach(ex.clone(), &context);
/// assert!(Rc::ptr_eq(attached.executor(), &ex));
/// drop(attached);
/// ```
pub struct Attached {
    driver: Rc<Driver>,
}

impl Attached {
    /// The attached executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let context = glib::MainContext::new();
    /// let attached = solo::glib::attach(Rc::new(solo::LocalExecutor::new()), &context);
    /// attached.executor().spawn(async {}).detach();
    /// ```
    pub fn executor(&self) -> &Rc<LocalExecutor<'static>> {
        &self.driver.executor
    }

    /// Sets how many tasks one dispatch polls at most (default [`DEFAULT_BUDGET`]). A smaller
    /// budget returns to GLib (input, redraws) sooner during a task storm.
    ///
    /// # Panics
    ///
    /// Panics if `budget` is 0: the executor could then never make progress.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let context = glib::MainContext::new();
    /// let attached = solo::glib::attach(Rc::new(solo::LocalExecutor::new()), &context);
    /// attached.set_budget(16);
    /// ```
    pub fn set_budget(&self, budget: usize) {
        assert!(
            budget > 0,
            "solo::glib::Attached::set_budget: budget must be at least 1"
        );
        self.driver.budget.set(budget);
    }

    /// How many times the adapter has called [`LocalExecutor::run_ready`] so far: one per
    /// dispatch of its fd, timeout or idle source. A host that is idle leaves it unchanged;
    /// tests use it to prove the loop does not spin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let context = glib::MainContext::new();
    /// let attached = solo::glib::attach(Rc::new(solo::LocalExecutor::new()), &context);
    /// assert_eq!(attached.runs(), 0);
    /// context.iteration(false); // the start-up run
    /// assert_eq!(attached.runs(), 1);
    /// context.iteration(false); // nothing to do: GLib dispatches nothing
    /// assert_eq!(attached.runs(), 1);
    /// ```
    pub fn runs(&self) -> u64 {
        self.driver.runs.get()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.driver.detach();
    }
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("budget", &self.driver.budget.get())
            .field("runs", &self.driver.runs.get())
            .finish_non_exhaustive()
    }
}

/// The adapter's state, shared by the guard (strongly) and the sources' callbacks (weakly).
struct Driver {
    executor: Rc<LocalExecutor<'static>>,
    context: MainContext,
    budget: Cell<usize>,
    /// Number of `run_ready` calls (see `Attached::runs`).
    runs: Cell<u64>,
    /// Set while `run_ready` runs; a callback that finds it set was dispatched by a nested
    /// iteration of the context from inside a task.
    running: Cell<bool>,
    /// Set once by `Attached::drop`; afterwards no source is (re-)armed.
    detached: Cell<bool>,
    fd_source: RefCell<Option<Source>>,
    /// The armed timeout source and the deadline it stands for.
    timer: RefCell<Option<(Instant, Source)>>,
    /// The armed idle source, while `run_ready` reported more work.
    idle: RefCell<Option<Source>>,
}

impl Driver {
    /// One step of the recipe: run ready work, then arm the sources for what comes next.
    fn run(self: &Rc<Self>) {
        if self.running.get() || self.detached.get() {
            // A task iterated the context (a nested main loop) and GLib dispatched us again:
            // `run_ready` must not recurse. Keep an idle source so the work left is not
            // stranded; the outer call re-arms everything when it returns.
            if !self.detached.get() {
                self.arm_idle();
            }
            return;
        }
        self.running.set(true);
        self.runs.set(self.runs.get() + 1);
        let status = self.executor.run_ready(self.budget.get());
        self.running.set(false);
        if self.detached.get() {
            return; // A task dropped the `Attached` guard.
        }
        match status {
            RunStatus::MoreWork => self.arm_idle(),
            RunStatus::WaitUntil(deadline) => {
                self.disarm_idle();
                self.arm_timer(deadline);
            }
            RunStatus::Idle => {
                self.disarm_idle();
                self.disarm_timer();
            }
        }
    }

    fn arm_idle(self: &Rc<Self>) {
        if self.idle.borrow().is_some() {
            return;
        }
        let weak = ThreadGuard::new(Rc::downgrade(self));
        let source = ::glib::idle_source_new(
            Some("solo executor: more work"),
            Priority::DEFAULT_IDLE,
            move || {
                if let Some(driver) = weak.get_ref().upgrade() {
                    // Forget this source before running: `run` may arm a new one, and GLib
                    // destroys this one when we return `Break`.
                    driver.idle.borrow_mut().take();
                    driver.run();
                }
                ControlFlow::Break
            },
        );
        source.attach(Some(&self.context));
        *self.idle.borrow_mut() = Some(source);
    }

    fn disarm_idle(&self) {
        if let Some(source) = self.idle.borrow_mut().take() {
            source.destroy();
        }
    }

    /// Arms the timeout source for `deadline`, keeping the armed one if it is for the same
    /// instant (the common case: a long sleep seen by many runs).
    fn arm_timer(self: &Rc<Self>, deadline: Instant) {
        if let Some((armed, _)) = &*self.timer.borrow() {
            if *armed == deadline {
                return;
            }
        }
        self.disarm_timer();
        // GLib counts timeouts in whole milliseconds from now (on the same monotonic clock
        // as `Instant`): round up, so the source never fires before the deadline and the run
        // it triggers always finds the timer due.
        let wait = deadline.saturating_duration_since(Instant::now());
        // GLib takes a `guint` of milliseconds: clamp (~49 days) instead of letting a far
        // deadline wrap to a short one; the early run finds nothing due and re-arms.
        let millis = wait
            .as_nanos()
            .div_ceil(1_000_000)
            .min(u128::from(u32::MAX));
        let interval = Duration::from_millis(millis as u64);
        let weak = ThreadGuard::new(Rc::downgrade(self));
        let source = ::glib::timeout_source_new(
            interval,
            Some("solo executor: next timer"),
            Priority::DEFAULT,
            move || {
                if let Some(driver) = weak.get_ref().upgrade() {
                    driver.timer.borrow_mut().take();
                    driver.run();
                }
                ControlFlow::Break
            },
        );
        source.attach(Some(&self.context));
        *self.timer.borrow_mut() = Some((deadline, source));
    }

    fn disarm_timer(&self) {
        if let Some((_, source)) = self.timer.borrow_mut().take() {
            source.destroy();
        }
    }

    fn detach(&self) {
        self.detached.set(true);
        if let Some(source) = self.fd_source.borrow_mut().take() {
            source.destroy();
        }
        self.disarm_idle();
        self.disarm_timer();
    }
}
