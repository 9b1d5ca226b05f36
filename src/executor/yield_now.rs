//! Cooperative yielding.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Lets every other ready task run before the caller resumes.
///
/// The task wakes itself and returns `Pending` once; solo queues a task woken while it runs
/// at the back of the run queue, so all tasks that were ready run first (FIFO, no priority
/// for the yielder).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let ex = solo::LocalExecutor::new();
/// for id in 0..2 {
///     let order = order.clone();
///     ex.spawn(async move {
///         order.borrow_mut().push(id);
///         solo::yield_now().await;
///         order.borrow_mut().push(id + 10);
///     })
///     .detach();
/// }
/// ex.run_until_stalled();
/// assert_eq!(*order.borrow(), [0, 1, 10, 11]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
