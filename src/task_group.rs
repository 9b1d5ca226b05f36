//! `TaskGroup`: spawn many tasks, collect their results as they finish.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, Location, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_lite::{FutureExt, Stream};
use slab::Slab;

use crate::Task;
use crate::executor::spawn_local_at;

type Finished<T> = (usize, std::thread::Result<T>);

struct Shared<T> {
    finished: RefCell<VecDeque<Finished<T>>>,
    waker: RefCell<Option<Waker>>,
}

/// A set of tasks on the current thread whose results are collected as they finish.
///
/// Tasks are spawned with [`spawn_local`](crate::spawn_local) semantics (onto the executor
/// running on this thread). [`next`](TaskGroup::next) returns results in completion order;
/// dropping the group (or [`cancel_all`](TaskGroup::cancel_all)) cancels every task still
/// running. A task that panics re-raises its panic from `next`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use solo::TaskGroup;
///
/// solo::block_on(async {
///     let mut group = TaskGroup::new();
///     for ms in [30, 10, 20] {
///         group.spawn(async move {
///             solo::time::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(ms) = group.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub struct TaskGroup<T> {
    shared: Rc<Shared<T>>,
    tasks: Slab<Task<()>>,
}

impl<T: 'static> TaskGroup<T> {
    /// An empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = solo::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> Self {
        TaskGroup {
            shared: Rc::new(Shared {
                finished: RefCell::new(VecDeque::new()),
                waker: RefCell::new(None),
            }),
            tasks: Slab::new(),
        }
    }

    /// Spawns a task into the group.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let mut group = solo::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     assert_eq!(group.len(), 1);
    ///     assert_eq!(group.next().await, Some(1));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn(&mut self, future: impl Future<Output = T> + 'static) {
        let entry = self.tasks.vacant_entry();
        let key = entry.key();
        let shared = self.shared.clone();
        let task = spawn_local_at(
            async move {
                let result = AssertUnwindSafe(future).catch_unwind().await;
                shared.finished.borrow_mut().push_back((key, result));
                let waker = shared.waker.borrow_mut().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            },
            Location::caller(),
            None,
        );
        entry.insert(task);
    }

    /// Waits for the next task to finish and returns its output; `None` when the group is
    /// empty.
    ///
    /// # Panics
    ///
    /// Re-raises the panic of a task that panicked.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a result is removed from the group only when `next` returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let mut group = solo::TaskGroup::<()>::new();
    ///     assert_eq!(group.next().await, None);
    /// });
    /// ```
    pub async fn next(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_next_result(cx)).await
    }

    fn poll_next_result(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let finished = self.shared.finished.borrow_mut().pop_front();
        if let Some((key, result)) = finished {
            // The task has completed; dropping its handle only frees it.
            drop(self.tasks.try_remove(key));
            return Poll::Ready(Some(match result {
                Ok(output) => output,
                Err(panic) => resume_unwind(panic),
            }));
        }
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        let mut waker = self.shared.waker.borrow_mut();
        match &*waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The number of tasks whose results have not been returned by `next` yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = solo::TaskGroup::new();
    /// solo::block_on(async { group.spawn(async {}) });
    /// assert_eq!(group.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether every result has been returned.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(solo::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task still running and forgets results not yet returned.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let mut group = solo::TaskGroup::new();
    ///     group.spawn(std::future::pending::<()>());
    ///     group.cancel_all();
    ///     assert!(group.is_empty());
    ///     assert_eq!(group.next().await, None);
    /// });
    /// ```
    pub fn cancel_all(&mut self) {
        self.tasks.clear();
        self.shared.finished.borrow_mut().clear();
    }
}

impl<T: 'static> Default for TaskGroup<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Stream for TaskGroup<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_next_result(cx)
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}
