//! Per-thread state: solo's thread ids, the executor currently running on this thread, and
//! the thread's default executor behind [`block_on`] and [`spawn_local`].
//!
//! # Invariants
//!
//! - `CURRENT` points at the `Local` of the innermost executor that is running on this thread
//!   (inside `block_on`, `run_until_stalled` or `run_ready`), or is null. It is set by
//!   [`Enter`], which restores the previous value when dropped, panics included, and it is
//!   only set while a borrow of that `Local` is live on this thread's stack.
//! - `THREAD_ID` and `CURRENT` are `const`-initialised and have no destructor, so they stay
//!   usable while other thread-locals are being destroyed (a waker woken from a TLS
//!   destructor, or a runtime dropped during thread exit).

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::LocalExecutor;
use super::local::Local;
use super::task::Task;

thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
    static CURRENT: Cell<*const Local> = const { Cell::new(ptr::null()) };
    static DEFAULT: LocalExecutor<'static> = LocalExecutor::new();
}

/// A process-unique id for the calling thread. Unlike a TLS address it is never reused, and
/// unlike `std::thread::current()` it works during thread-local destruction.
#[inline]
pub(crate) fn thread_id() -> u64 {
    match THREAD_ID.with(Cell::get) {
        0 => fresh_thread_id(),
        known => known,
    }
}

#[cold]
fn fresh_thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
    THREAD_ID.with(|id| id.set(fresh));
    fresh
}

/// Marks `local` as the executor running on this thread until dropped.
pub(crate) struct Enter {
    previous: *const Local,
}

impl Enter {
    #[inline]
    pub(crate) fn new(local: &Local) -> Enter {
        let previous = CURRENT.with(|c| c.replace(local));
        Enter { previous }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Whether a solo executor is running on this thread right now. Futures that would wait on
/// the thread's reactor check this before returning `Pending`, so that a solo future polled by
/// a foreign executor fails loudly instead of hanging.
#[inline]
pub(crate) fn in_runtime() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Whether `local` is the executor running on this thread right now.
pub(crate) fn is_current(local: &Local) -> bool {
    ptr::eq(CURRENT.with(Cell::get), local)
}

/// Panics with a message naming `what` if no solo executor runs on this thread.
#[track_caller]
pub(crate) fn assert_in_runtime(what: &str) {
    if !in_runtime() {
        panic!(
            "solo: {what} must be awaited inside a solo runtime on its own thread \
             (solo::block_on, LocalExecutor::block_on/run_until_stalled/run_ready); \
             nothing would drive its timer or I/O here"
        );
    }
}

/// Runs `future` to completion on this thread's default executor, driving its tasks, the
/// thread's reactor and timers meanwhile.
///
/// Tasks spawned with [`spawn_local`] outside any running executor land on the default
/// executor and run here. A nested `block_on` (inside a task, as a GUI modal loop does) keeps
/// running the other tasks of the default executor.
///
/// # Panics
///
/// Re-raises a panic of `future`; the runtime stays usable. Panics if called while this
/// thread's thread-locals are being destroyed.
///
/// # Examples
///
/// ```
/// let answer = solo::block_on(async {
///     let task = solo::spawn_local(async { 21 });
///     task.await * 2
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let location = Location::caller();
    DEFAULT
        .try_with(|ex| ex.block_on_at(future, location))
        .unwrap_or_else(|_| panic!("solo::block_on called while the thread is exiting"))
}

/// Spawns a `!Send` future onto the executor running on this thread: the innermost
/// `block_on`, `run_until_stalled` or `run_ready`, or, when none is running, the thread's
/// default executor, whose tasks then run at the next [`block_on`] on this thread.
///
/// It never panics for lack of a runtime.
///
/// # Panics
///
/// Panics if called while this thread's thread-locals are being destroyed.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// // No runtime is running yet: the task waits on the default executor.
/// let task = solo::spawn_local(async move { l.borrow_mut().push("ran") });
/// solo::block_on(task);
/// assert_eq!(*log.borrow(), ["ran"]);
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_at(future, Location::caller(), None)
}

/// `spawn_local` with an explicit location and an optional name (for `task::Builder`).
pub(crate) fn spawn_local_at<F>(
    future: F,
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let current = CURRENT.with(Cell::get);
    if !current.is_null() {
        // SAFETY: `CURRENT` is non-null only while `Enter` is alive, i.e. while a borrow of
        // that `Local` is live on this thread's stack (module invariants).
        let local = unsafe { &*current };
        // SAFETY: `F: 'static`, so the future outlives any executor.
        return unsafe { local.spawn(future, location, name) };
    }
    DEFAULT
        .try_with(|ex| ex.spawn_at(future, location, name))
        .unwrap_or_else(|_| panic!("solo::spawn_local called while the thread is exiting"))
}
