//! Running blocking code off the runtime's thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs blocking code on a thread pool and returns a future of its result.
///
/// Use it for file system calls, CPU-heavy work, or libraries that block: anything that would
/// otherwise stall every task on this thread. The pool (the `blocking` crate's) grows with
/// demand and shrinks when idle. The result wakes the awaiting task through the cross-thread
/// wake path, waking the runtime if it sleeps.
///
/// # Cancel safety
///
/// Dropping the future **detaches** the job: it still runs to completion on the pool and its
/// result is dropped there. `f` and `T` must therefore be `Send + 'static`.
///
/// # Examples
///
/// ```
/// let len = solo::block_on(async {
///     solo::unblock(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len())).await
/// })
/// .unwrap();
/// assert!(len > 0);
/// ```
pub fn unblock<T, F>(f: F) -> Unblock<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Unblock {
        task: Some(blocking::unblock(move || {
            // The pool's thread may have been started by a pinned worker (see
            // `pool/affinity.rs`); one thread-local check after its first solo job.
            crate::pool::unpin_helper_thread();
            f()
        })),
    }
}

/// Future returned by [`unblock`].
#[must_use = "the job runs anyway; await the future to get its result"]
pub struct Unblock<T> {
    task: Option<blocking::Task<T>>,
}

impl<T> Future for Unblock<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let task = self
            .task
            .as_mut()
            .expect("solo::Unblock polled after it completed");
        let output = std::task::ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(output)
    }
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unblock")
            .field("done", &self.task.is_none())
            .finish()
    }
}
