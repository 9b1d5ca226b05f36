//! The part of an executor that a task's waker can reach from any thread, and the schedule
//! function every solo task uses.
//!
//! # Invariants
//!
//! - Every task's metadata points to its executor's `Shared`, which is alive while the task's
//!   future is (the future holds an `Rc<Local>`, `Local` an `Arc<Shared>`). It is read only
//!   by [`schedule`], which async-task calls only for a task whose future is alive; a foreign
//!   thread takes its own `Arc` before handing the task over.
//! - `local` points into the executor's `Rc<Local>` and is dereferenced **only on the owner
//!   thread** (checked with [`thread_id`]). It is valid whenever [`schedule`] runs there:
//!   `schedule` is only ever handed a `Runnable`, a `Runnable` exists only while its future is
//!   alive (async-task drops the future when the last `Runnable` is run or dropped), and every
//!   live future holds an `Rc<Local>` (see `task.rs`).
//! - A `Runnable` that reaches `schedule` on a foreign thread is pushed into the inbox, never
//!   run or dropped there; the owner drains the inbox. The executor's shutdown waits until every
//!   future is gone, so a push in flight during shutdown is still drained on the owner thread.

use std::sync::{Arc, Mutex, PoisonError};

use async_task::Runnable;
use polling::Poller;

use super::current::thread_id;
use super::inbox::Inbox;
use super::local::Local;
use super::task::TaskMeta;

/// A host's "please call me back" hook (see `LocalExecutor::set_wake_callback`).
pub(crate) type WakeCallback = Arc<dyn Fn() + Send + Sync>;

/// Cross-thread state of one executor.
pub(crate) struct Shared {
    /// The owner thread (solo's own thread ids are never reused, unlike TLS addresses).
    pub(crate) owner: u64,
    /// The owner's run queue; see the module invariants.
    local: *const Local,
    /// Tasks woken on other threads, and the sleep/notify handshake.
    pub(crate) inbox: Inbox<Runnable<TaskMeta>>,
    /// The thread's poller: `notify` wakes the owner out of `epoll_wait`.
    poller: Arc<Poller>,
    /// Called after the OS notification, for hosts that cannot watch a file descriptor.
    callback: Mutex<Option<WakeCallback>>,
}

// SAFETY: every field is `Send + Sync` except `local`, a raw pointer that is only dereferenced
// on the owner thread, after comparing `thread_id()` with `owner` (see `schedule`). Other
// threads only touch `inbox`, `poller` and `callback`, which are thread-safe.
unsafe impl Send for Shared {}
// SAFETY: as above; `&Shared` on another thread gives no access to `*local`.
unsafe impl Sync for Shared {}

impl Shared {
    pub(crate) fn new(local: *const Local, poller: Arc<Poller>) -> Self {
        Shared {
            owner: thread_id(),
            local,
            inbox: Inbox::new(),
            poller,
            callback: Mutex::new(None),
        }
    }

    /// Wakes the owner: the poller's notifier (so `epoll_wait`, or a host watching the
    /// executor's fd, returns) and then the host's callback, if any.
    pub(crate) fn notify(&self) {
        // An error here means the eventfd counter is saturated, i.e. a notification is
        // already pending: nothing is lost.
        let _ = self.poller.notify();
        let callback = self
            .callback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(callback) = callback {
            callback();
        }
    }

    /// Notifies the owner if it is asleep and nobody has notified it yet.
    pub(crate) fn signal(&self) {
        if self.inbox.signal() {
            self.notify();
        }
    }

    pub(crate) fn set_callback(&self, callback: Option<WakeCallback>) {
        *self.callback.lock().unwrap_or_else(PoisonError::into_inner) = callback;
    }
}

/// The schedule function of every solo task. Zero-sized, so async-task does not clone a waker
/// around each call; the executor is found through the task's metadata instead.
#[inline]
pub(crate) fn schedule(runnable: Runnable<TaskMeta>) {
    let ptr = runnable.metadata().shared;
    // SAFETY: we hold a `Runnable`, so the task's future is alive (async-task schedules only
    // tasks whose future is alive) and cannot be dropped while we hold it; the future holds
    // an `Rc<Local>`, which holds an `Arc<Shared>`: `ptr` is valid for this call up to the
    // hand-over of the `Runnable` (see `TaskMeta::shared`).
    let shared = unsafe { &*ptr };
    if shared.owner == thread_id() {
        // SAFETY: we are on the owner thread and hold a `Runnable`, so the future is alive and
        // holds an `Rc<Local>`: `local` is valid (module invariants). `Local` is `!Sync` but
        // this thread is its owner, so a shared borrow is sound. The `Local` outlives the
        // call: the queued `Runnable` keeps it alive, and only this (busy) thread could run
        // or drop that `Runnable`.
        let local = unsafe { &*shared.local };
        local.push(runnable);
    } else {
        schedule_remote(ptr, runnable);
    }
}

/// [`schedule`] on a thread other than the owner. Out of line: inlined, its handshake made
/// `schedule` save three more registers on every owner-thread wake (+6 instructions per
/// `yield_now`, by callgrind), for a path that also takes a lock and often a syscall.
#[cold]
#[inline(never)]
fn schedule_remote(ptr: *const Shared, runnable: Runnable<TaskMeta>) {
    // Keep `Shared` alive ourselves: once the push lands, the owner may run and destroy the
    // task (and with it the `Local` that owns `Shared`) before we notify.
    // SAFETY: `schedule` holds the `Runnable`, so `ptr` is valid here as it is there; it came
    // from `Arc::as_ptr` of a live `Arc<Shared>` (see `TaskMeta::shared`), so one more strong
    // reference may be taken; `from_raw` adopts it.
    let shared = unsafe {
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    };
    if shared.inbox.push(runnable) {
        shared.notify();
    }
}
