//! Combining futures without an extra crate: [`zip`], [`try_zip`], [`or`], [`race`] (from
//! `futures-lite`) and a biased [`select`] that says which side finished.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use futures_lite::future::{or, race, try_zip, zip};

/// Which of two futures finished first, with its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished.
    Left(A),
    /// The second future finished.
    Right(B),
}

/// Waits for the first of two futures, polling `a` first; the other one is dropped.
///
/// Unlike [`or`], the two outputs may have different types; unlike [`race`], the order is
/// deterministic (`a` wins ties), which keeps tests reproducible.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use solo::future::{Either, select};
///
/// solo::block_on(async {
///     let slow = solo::time::sleep(Duration::from_secs(60));
///     let fast = async { "fast" };
///     assert_eq!(select(slow, fast).await, Either::Right("fast"));
/// });
/// ```
pub fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select { a, b }
}

pin_project_lite::pin_project! {
    /// Future returned by [`select`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Select<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
    }
}

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(a) = this.a.poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        if let Poll::Ready(b) = this.b.poll(cx) {
            return Poll::Ready(Either::Right(b));
        }
        Poll::Pending
    }
}
