//! Tasks: the [`Task`] handle users hold, the metadata every task carries, and the wrapper
//! future that tracks liveness and contains panicking destructors.
//!
//! # Invariants
//!
//! - A task's future is wrapped in [`TaskFuture`], which holds an `Rc<Local>` and, once its
//!   first poll has returned `Pending` (or from the start for a named task), the task's slot
//!   in `Local::active`, which holds a clone of the task's waker. The slot is removed exactly
//!   when the future is dropped (on completion, cancellation or executor shutdown), so
//!   `Local::active` holds every live future that is not waiting, unpolled, in the run queue;
//!   `Local::live` counts them all. The waker is cloned inside the poll that returns
//!   `Pending`, so async-task never sees a parked task without a reference (it would free it
//!   without dropping its future). The `Rc` keeps the run queue alive for as long as a
//!   `Runnable` can exist.
//! - Futures are only ever polled and dropped on the owner thread (see `shared.rs`).
//! - A panic in a future's `Drop` is caught here: async-task would otherwise abort the
//!   process. The panic hook has already printed it; solo keeps dropping the other tasks.
//! - While a tracked task's future is polled, `POLLED` points to its `TaskFuture`'s
//!   [`Polled`] (its `Rc<Local>` and slot); while the outermost `block_on` call of an
//!   executor polls its future, to that executor's [`MainPoll`] (slot [`MAIN_SLOT`]); and
//!   only then: [`TaskRef`] relies on it. The task's own waker, to recognise it, is the
//!   clone `Local::active` keeps anyway (for the `block_on` future: the executor's own wake
//!   flag's waker).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, RawWakerVTable, Waker};

use super::local::Local;
use super::shared::Shared;

/// What every solo task carries in its header.
pub(crate) struct TaskMeta {
    /// The executor's cross-thread half; the schedule function finds the queue through it.
    ///
    /// A plain pointer, not an `Arc` (no atomic increment per spawn and decrement per task
    /// drop): it is valid while the task's future is alive, because the future
    /// ([`TaskFuture`]) holds an `Rc<Local>` and `Local` holds an `Arc<Shared>`. Only
    /// `schedule` dereferences it, and async-task calls `schedule` only while the future is
    /// alive (never for a completed or closed task whose future is gone).
    pub(crate) shared: *const Shared,
    /// Where the task was spawned (`#[track_caller]`), for diagnostics.
    pub(crate) location: &'static Location<'static>,
    /// The task's id (see [`TaskId`]).
    pub(crate) id: u64,
}

/// Set in a task id when the task has a name in its thread's name table.
pub(crate) const NAMED: u64 = 1 << 63;

/// Set in a [`TaskFuture`]'s slot number when the task has a name to remove when it ends.
pub(crate) const NAMED_SLOT: usize = 1 << (usize::BITS - 1);

/// A [`TaskFuture`]'s slot number until its first `Pending` (not in `Local::active` yet).
pub(crate) const UNTRACKED: usize = !NAMED_SLOT;

/// The slot number that stands for the future of the executor's outermost `block_on` call
/// (never a slab key: `active` would need `usize::MAX / 2` entries).
pub(crate) const MAIN_SLOT: usize = UNTRACKED - 1;

// SAFETY: `shared` is the only field that is not `Send + Sync`; it points to a `Shared`, which
// is `Send + Sync`, and is dereferenced only under the conditions documented on the field.
unsafe impl Send for TaskMeta {}
// SAFETY: as above.
unsafe impl Sync for TaskMeta {}

/// A task's id: unique in the process (the spawning thread and a per-thread sequence).
///
/// # Examples
///
/// ```
/// let ex = solo::LocalExecutor::new();
/// let (a, b) = (ex.spawn(async {}), ex.spawn(async {}));
/// assert_ne!(a.id(), b.id());
/// println!("spawned {}", a.id());
/// # ex.run_until_stalled();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The bits that identify the thread: solo thread ids fit in 23 bits in practice.
    const SEQ_BITS: u32 = 40;

    pub(crate) fn new(thread: u64, seq: u64) -> TaskId {
        TaskId(((thread << Self::SEQ_BITS) | (seq & ((1 << Self::SEQ_BITS) - 1))) & !NAMED)
    }

    /// The id as a number (stable for the task's lifetime).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async {});
    /// assert_ne!(task.id().as_u64(), 0);
    /// # ex.run_until_stalled();
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0 & !NAMED
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.as_u64();
        write!(
            f,
            "#{}.{}",
            id >> Self::SEQ_BITS,
            id & ((1 << Self::SEQ_BITS) - 1)
        )
    }
}

/// The future async-task stores: the user's future plus liveness tracking (16 bytes on top of
/// the user's future).
pub(crate) struct TaskFuture<F> {
    future: ManuallyDrop<F>,
    head: Polled,
}

/// A `TaskFuture`'s own fields; what [`TaskRef::of`] reads while the task is polled. The
/// outermost `block_on` call publishes one too, with [`MAIN_SLOT`] (see [`MainPoll`]).
struct Polled {
    local: Rc<Local>,
    /// The task's slot in `Local::active`, with [`NAMED_SLOT`] set if the task has a name.
    slot: usize,
}

impl<F> TaskFuture<F> {
    pub(crate) fn new(future: F, local: Rc<Local>, slot: usize) -> Self {
        TaskFuture {
            future: ManuallyDrop::new(future),
            head: Polled { local, slot },
        }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and is
        // dropped in place in `Drop`. The other fields are never pinned, and nothing here
        // moves out of `this`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` is not moved.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let head = &mut this.head;
        let poll = if head.slot == UNTRACKED {
            // Not in `active` yet: primitives clone the waker, as for any foreign task.
            future.poll(cx)
        } else {
            let _published = Publish::new(head);
            future.poll(cx)
        };
        if poll.is_ready() {
            head.local.task_completed();
        } else if head.slot == UNTRACKED {
            // Parked for the first time: from now on only wakers reach this task, so the
            // executor keeps one to find it at shutdown. (`cx.waker()` is this task's own.)
            head.slot = head.local.track(cx.waker());
        }
        poll
    }
}

impl<F> Drop for TaskFuture<F> {
    fn drop(&mut self) {
        // Take the waker out first and drop it after the borrow ends: dropping a waker runs
        // async-task code, never ours, but borrows must not span foreign code on principle.
        let waker = self.head.local.forget_task(self.head.slot);
        drop(waker);
        let future = &mut self.future;
        // SAFETY: `future` is dropped exactly once, here, and never used afterwards.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(future) }));
        // A panicking destructor is contained: async-task wraps this call in an abort guard,
        // and one bad destructor must not abort the process or stop the other tasks from being
        // dropped. The panic hook has already reported it.
        drop(dropped);
    }
}

thread_local! {
    /// The tracked task whose future this thread is polling right now (innermost, for nested
    /// `block_on` calls), or null. Points to that task's [`Polled`]; see [`TaskRef`].
    static POLLED: Cell<*const Polled> = const { Cell::new(ptr::null()) };
}

/// Publishes a `Polled` in `POLLED` for the duration of one poll; restores the previous value
/// when the poll returns or unwinds.
struct Publish(*const Polled);

impl Publish {
    #[inline(always)]
    fn new(polled: &Polled) -> Publish {
        Publish(POLLED.with(|p| p.replace(polled)))
    }
}

impl Drop for Publish {
    #[inline(always)]
    fn drop(&mut self) {
        POLLED.with(|p| p.set(self.0));
    }
}

/// What the outermost `block_on` call publishes while it polls its future, so that the
/// primitives that future awaits keep a [`TaskRef`] to it instead of a clone of its waker.
pub(crate) struct MainPoll(Polled);

impl MainPoll {
    #[inline(always)]
    pub(crate) fn new(local: Rc<Local>) -> MainPoll {
        MainPoll(Polled {
            local,
            slot: MAIN_SLOT,
        })
    }

    /// Polls the `block_on` future with this record published.
    #[inline(always)]
    pub(crate) fn poll<F: Future>(
        &self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let _published = Publish::new(&self.0);
        future.poll(cx)
    }
}

/// A parked solo task, named by its slot in its executor's `active` set (or the future of
/// the executor's outermost `block_on` call): what the reactor, the timers and the `!Send`
/// primitives of `solo::sync` keep instead of a clone of the task's waker.
///
/// Cloning an async-task waker is an atomic increment of the task's state word; done while
/// the task runs, it also makes the executor's end-of-poll compare-and-swap fail once and
/// retry. A `TaskRef` touches no atomic: it borrows the waker that `active` holds for every
/// parked task anyway, and waking it is one `wake_by_ref`.
///
/// A `TaskRef` is made only for the task this thread is polling, from inside that poll
/// ([`TaskRef::of`] returns `None` otherwise, and the caller clones the waker). It is
/// `!Send` (it holds a `Weak<Local>`), so it is woken on the executor's thread. Waking it
/// after the task ended or its executor was dropped does nothing: the executor is gone, or
/// the slot is empty, or it holds another task, told apart by the waker's data pointer (the
/// task's address). A later task that got both the same slot and the same address would
/// only see a spurious wake-up, which every future tolerates. A `TaskRef` to a `block_on`
/// future carries the epoch of its call instead (see `Local::main_epoch`): once that call
/// returned, it wakes nothing.
pub(crate) struct TaskRef {
    /// Weak: a stray `TaskRef` must not keep a dropped executor's state alive.
    local: Weak<Local>,
    slot: usize,
    /// Tells this task from a later occupant of the slot: see `Local::tag`.
    tag: usize,
    /// The vtable of the waker it was made from (with `tag`, the task's address, that waker's
    /// identity: `will_wake` then needs no lookup in `active`).
    vtable: &'static RawWakerVTable,
}

impl TaskRef {
    /// The task `waker` wakes, if it is the tracked solo task this thread is polling.
    #[inline]
    pub(crate) fn of(waker: &Waker) -> Option<TaskRef> {
        let polled = POLLED.with(Cell::get);
        if polled.is_null() {
            return None;
        }
        // SAFETY: a non-null `POLLED` points to the `Polled` of a `TaskFuture`, or of a
        // `LocalExecutor`'s `MainPoll`, whose poll is still running on this thread (`Publish`
        // restores the previous value when that poll returns or unwinds). The task's future,
        // or the executor `block_on` borrows for the whole call, outlives that poll, so the
        // `Polled` is alive. Nothing writes to a `Polled` while it is published.
        let polled = unsafe { &*polled };
        // The task's own waker is the clone `active` keeps for it (a tracked task's slot is
        // filled for as long as its future lives): no copy of it in every task.
        if !polled
            .local
            .slot_will_wake(polled.slot & !NAMED_SLOT, waker)
        {
            return None;
        }
        let slot = polled.slot & !NAMED_SLOT;
        Some(TaskRef {
            local: Rc::downgrade(&polled.local),
            slot,
            tag: polled.local.tag(slot, waker),
            vtable: waker.vtable(),
        })
    }

    /// Whether `waker` is this task's, polled right now (so the `TaskRef` can stay).
    #[inline]
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        let polled = POLLED.with(Cell::get);
        if polled.is_null() {
            return false;
        }
        // SAFETY: as in `of`.
        let polled = unsafe { &*polled };
        // The same task is being polled (a later task at the same address has another slot,
        // or it is this slot's task and the `TaskRef` is right for it)...
        if polled.slot & !NAMED_SLOT != self.slot
            || !ptr::eq(Rc::as_ptr(&polled.local), self.local.as_ptr())
        {
            return false;
        }
        // ... with the waker this `TaskRef` was made from: for a task, the same data pointer
        // (the task's address, `tag`) and vtable, which is how `Waker::will_wake` compares.
        if self.slot == MAIN_SLOT {
            polled.local.tag(MAIN_SLOT, waker) == self.tag
                && polled.local.slot_will_wake(MAIN_SLOT, waker)
        } else {
            waker.data() as usize == self.tag && ptr::eq(waker.vtable(), self.vtable)
        }
    }

    /// Wakes the task, if it is still parked in its slot.
    #[inline(always)]
    pub(crate) fn wake(&self) {
        if let Some(local) = self.local.upgrade() {
            local.wake_parked(self.slot, self.tag);
        }
    }
}

impl Clone for TaskRef {
    #[inline]
    fn clone(&self) -> TaskRef {
        TaskRef {
            local: self.local.clone(),
            slot: self.slot,
            tag: self.tag,
            vtable: self.vtable,
        }
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// How a parked future is woken: through its task's slot when it is a solo task this thread
/// is polling (no atomic reference count to touch, see `TaskRef`), else a clone of its waker.
#[derive(Debug)]
pub(crate) enum Wakeup {
    Task(TaskRef),
    Waker(Waker),
}

impl Wakeup {
    #[inline]
    pub(crate) fn new(waker: &Waker) -> Wakeup {
        match TaskRef::of(waker) {
            Some(task) => Wakeup::Task(task),
            None => Wakeup::Waker(waker.clone()),
        }
    }

    /// Whether this wakes the same task as `waker` (so it need not be replaced).
    #[inline]
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        match self {
            Wakeup::Task(task) => task.will_wake(waker),
            Wakeup::Waker(own) => own.will_wake(waker),
        }
    }

    #[inline(always)]
    pub(crate) fn wake(self) {
        match self {
            Wakeup::Task(task) => task.wake(),
            Wakeup::Waker(waker) => waker.wake(),
        }
    }
}

/// A handle to a spawned task: a future of its output.
///
/// Awaiting a `Task` returns the task's output; if the task panicked, awaiting re-raises the
/// panic. Dropping a `Task` **cancels** the task (its future is dropped the next time the
/// executor runs); call [`detach`](Task::detach) to let it run to completion in the
/// background instead.
///
/// # Panics
///
/// Awaiting a task whose executor was dropped before the task finished panics with a message
/// saying so (the future no longer exists, so there is no output to return). A task that
/// finished before its executor was dropped still hands over its output.
///
/// # Examples
///
/// ```
/// let ex = solo::LocalExecutor::new();
/// let task = ex.spawn(async { 1 + 2 });
/// assert_eq!(ex.block_on(task), 3);
/// ```
#[must_use = "dropping a Task cancels it; use .detach() to run it in the background"]
pub struct Task<T> {
    inner: async_task::FallibleTask<T, TaskMeta>,
    location: &'static Location<'static>,
    id: TaskId,
}

impl<T> Task<T> {
    pub(crate) fn new(inner: async_task::Task<T, TaskMeta>) -> Self {
        let location = inner.metadata().location;
        let id = TaskId(inner.metadata().id & !NAMED);
        Task {
            inner: inner.fallible(),
            location,
            id,
        }
    }

    /// Lets the task run to completion in the background; its output is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let ex = solo::LocalExecutor::new();
    /// let ran = Rc::new(Cell::new(false));
    /// let r = ran.clone();
    /// ex.spawn(async move { r.set(true) }).detach();
    /// ex.run_until_stalled();
    /// assert!(ran.get());
    /// ```
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until its future is dropped.
    ///
    /// Returns the output if the task had already finished, `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(std::future::pending::<()>());
    /// ex.block_on(async {
    ///     assert_eq!(task.cancel().await, None);
    /// });
    /// assert!(ex.is_empty());
    /// ```
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async {});
    /// assert!(!task.is_finished());
    /// ex.run_until_stalled();
    /// assert!(task.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Where this task was spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async {});
    /// assert_eq!(task.location().file(), file!());
    /// # ex.block_on(task);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The task's id, as reported by diagnostics.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = solo::LocalExecutor::new();
    /// let task = ex.spawn(async {});
    /// println!("{}", task.id());
    /// # ex.run_until_stalled();
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(Some(output)) => Poll::Ready(output),
            Poll::Ready(None) => panic!(
                "solo: awaited a task (spawned at {}) that was cancelled because its executor \
                 was dropped before the task finished",
                self.location
            ),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("location", &self.location())
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polled() -> *const Polled {
        POLLED.with(Cell::get)
    }

    /// `POLLED` is set only during a tracked task's poll, restored after a nested one, and
    /// cleared when a poll panics: `TaskRef::of` must never see a finished poll's stack.
    #[test]
    fn polled_is_published_only_while_a_tracked_task_polls() {
        let ex = crate::LocalExecutor::new();
        let seen = Rc::new(Cell::new((false, false, false)));
        let s = seen.clone();
        let task = ex.spawn(async move {
            let first = !polled().is_null();
            crate::yield_now().await; // tracked from here on
            let outer = polled();
            crate::LocalExecutor::new().block_on(async {
                let inner = crate::spawn_local(async { crate::yield_now().await });
                inner.await;
            });
            s.set((first, !outer.is_null(), polled() == outer));
        });
        ex.block_on(task);
        assert_eq!(seen.get(), (false, true, true));
        assert!(polled().is_null());
        let panics = ex.spawn(async {
            crate::yield_now().await;
            panic!("boom in a tracked poll");
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.block_on(panics)));
        assert!(result.is_err());
        assert!(polled().is_null());
    }

    /// The outermost `block_on` call's future gets a `TaskRef` that wakes it; one kept past
    /// its call wakes nothing in a later call (the epoch check), and a nested call's future
    /// (another wake flag) gets none.
    #[test]
    fn block_on_future_has_a_task_ref_that_dies_with_its_call() {
        use std::future::poll_fn;
        let ex = crate::LocalExecutor::new();
        let stale = ex.block_on(poll_fn(|cx| {
            let nested = crate::LocalExecutor::new();
            let inner = ex.block_on(poll_fn(|cx| Poll::Ready(TaskRef::of(cx.waker()).is_none())));
            assert!(inner, "a nested call's waker is not the outermost future's");
            assert!(nested.block_on(poll_fn(|cx| Poll::Ready(TaskRef::of(cx.waker()).is_some()))));
            Poll::Ready(TaskRef::of(cx.waker()).expect("the outermost future is tracked"))
        }));
        let polls = Rc::new(Cell::new(0));
        let done = Rc::new(Cell::new(false));
        let (p, d) = (polls.clone(), done.clone());
        ex.block_on(poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() == 1 {
                stale.wake(); // must not set this call's flag
                let fresh = TaskRef::of(cx.waker()).expect("tracked");
                let d = d.clone();
                crate::spawn_local(async move {
                    // Past this batch of task polls, so that a wrong wake would show as a
                    // poll of its own.
                    crate::time::sleep(std::time::Duration::from_millis(1)).await;
                    d.set(true);
                    fresh.wake();
                })
                .detach();
            }
            if d.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        assert!(done.get());
        assert_eq!(
            polls.get(),
            2,
            "polled first, then once for the fresh wake only"
        );
    }
}
