//! A fair counting semaphore for tasks on one thread.
//!
//! # Invariants
//!
//! - `state.permits` counts permits nobody holds and nobody has been handed.
//! - Waiters are served strictly FIFO and all-or-nothing: the head takes its whole request
//!   at once, and nobody behind it is served while it waits. So a large request at the head
//!   is never starved by a stream of small ones, and a newcomer only takes permits directly
//!   when the queue is empty.
//! - [`dispatch`](State::dispatch) runs whenever permits come back (permit drop,
//!   `add_permits`, a cancelled waiter that had been served) and when a queued waiter
//!   leaves (the one behind may fit).
//! - `close` unlinks every waiter with `served = false`; an unlinked, unserved waiter
//!   therefore means "closed". Waiters served before `close` keep their permits.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Key, Waiters, WakeList};

/// A counting semaphore for tasks of one thread, handing out permits in FIFO order.
///
/// # Examples
///
/// Limit concurrency to two tasks at a time:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use solo::sync::Semaphore;
///
/// solo::block_on(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let running = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..6)
///         .map(|_| {
///             let (sem, running) = (sem.clone(), running.clone());
///             solo::spawn_local(async move {
///                 let _permit = sem.acquire(1).await.unwrap();
///                 running.set(running.get() + 1);
///                 assert!(running.get() <= 2);
///                 futures_lite::future::yield_now().await;
///                 running.set(running.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await;
///     }
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: RefCell<State>,
    /// Belongs to one thread (see the module docs): `!Send` as well as `!Sync`.
    _local: PhantomData<*const ()>,
}

/// One queued request.
#[derive(Debug)]
struct Request {
    /// Permits wanted.
    n: usize,
    /// Set by `dispatch` when the permits were moved to this waiter.
    served: bool,
}

#[derive(Debug)]
struct State {
    permits: usize,
    /// Set once by `close`; never cleared.
    closed: bool,
    waiters: Waiters<Request>,
}

impl State {
    /// Serves queued requests from the head while they fit.
    fn dispatch(&mut self, wakers: &mut WakeList) {
        while let Some(head) = self.waiters.front() {
            if head.n > self.permits {
                break;
            }
            self.permits -= head.n;
            self.waiters.pop_front(wakers).expect("head exists").served = true;
        }
    }

    fn release(&mut self, n: usize) -> WakeList {
        self.permits = self
            .permits
            .checked_add(n)
            .expect("Semaphore permit count overflowed usize");
        let mut wakers = WakeList::new();
        self.dispatch(&mut wakers);
        wakers
    }
}

impl Semaphore {
    /// Creates a semaphore with `permits` available permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub const fn new(permits: usize) -> Self {
        Self {
            _local: PhantomData,
            state: RefCell::new(State {
                permits,
                closed: false,
                waiters: Waiters::new(),
            }),
        }
    }

    /// Waits until `n` permits can be taken at once, in FIFO order.
    ///
    /// `acquire(0)` still queues behind earlier waiters. A request larger than the permits
    /// that will ever exist waits forever (or until [`close`](Self::close)).
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed before the permits are handed over.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. A dropped [`Acquire`] leaves the queue (which may let the next waiter
    /// proceed); permits already handed to it go back to the semaphore. Only the place in
    /// the queue is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let sem = solo::sync::Semaphore::new(5);
    ///     let permit = sem.acquire(3).await.unwrap();
    ///     assert_eq!(sem.available_permits(), 2);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 5);
    /// });
    /// ```
    pub fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            n,
            key: None,
        }
    }

    /// Takes `n` permits if they are available now and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] if closed, [`TryAcquireError::NoPermits`] if there are
    /// not enough permits or other tasks are already waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::sync::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(1);
    /// let p = sem.try_acquire(1).unwrap();
    /// assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
    /// drop(p);
    /// sem.close();
    /// assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::Closed);
    /// ```
    pub fn try_acquire(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(TryAcquireError::Closed);
        }
        if !state.waiters.is_empty() || state.permits < n {
            return Err(TryAcquireError::NoPermits);
        }
        state.permits -= n;
        Ok(SemaphorePermit { sem: self, n })
    }

    /// Adds `n` permits, serving queued waiters that now fit.
    ///
    /// # Panics
    ///
    /// If the number of available permits would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let wakers = self.state.borrow_mut().release(n);
        wakers.wake_all();
    }

    /// Permits available right now (not held, not handed to a waiter).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(4);
    /// let _p = sem.try_acquire(3).unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Closes the semaphore: every queued and future `acquire` fails.
    ///
    /// Permits already held stay valid and are returned on drop.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let sem = solo::sync::Semaphore::new(0);
    ///     sem.close();
    ///     assert!(sem.acquire(1).await.is_err());
    /// });
    /// ```
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.drain(&mut wakers, |_| {});
        }
        wakers.wake_all();
    }

    /// True once [`close`](Self::close) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// sem.close();
    /// assert!(sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Semaphore::acquire`]; see there for an example.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (sem, n) = (self.sem, self.n);
        let mut state = sem.state.borrow_mut();
        let served = match self.key {
            None if state.closed => false,
            None if state.waiters.is_empty() && state.permits >= n => {
                state.permits -= n;
                true
            }
            None => {
                let req = Request { n, served: false };
                self.key = Some(state.waiters.push_back(req, cx.waker()));
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_linked(key) => {
                state.waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            Some(key) => {
                self.key = None;
                state.waiters.remove(key).1.served
            }
        };
        Poll::Ready(if served {
            Ok(SemaphorePermit { sem, n })
        } else {
            Err(AcquireError(()))
        })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.sem.state.borrow_mut();
        let (_, req) = state.waiters.remove(key);
        let wakers = if req.served {
            // Handed permits we will never use: give them back.
            state.release(req.n)
        } else {
            // Leaving the head may let the next (smaller) request fit.
            let mut wakers = WakeList::new();
            state.dispatch(&mut wakers);
            wakers
        };
        drop(state);
        wakers.wake_all();
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// Permits taken from a [`Semaphore`]; returned to it on drop.
///
/// # Examples
///
/// ```
/// let sem = solo::sync::Semaphore::new(2);
/// let permit = sem.try_acquire(2).unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[must_use = "dropping a permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Drops the permits without returning them; the semaphore's capacity shrinks for good.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(2);
    /// sem.try_acquire(1).unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = solo::sync::Semaphore::new(5);
    /// assert_eq!(sem.try_acquire(4).unwrap().num_permits(), 4);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.add_permits(self.n);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

/// Error from [`Semaphore::acquire`]: the semaphore was closed.
///
/// # Examples
///
/// ```
/// let sem = solo::sync::Semaphore::new(1);
/// sem.close();
/// let err = solo::block_on(sem.acquire(1)).unwrap_err();
/// assert_eq!(err.to_string(), "semaphore closed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl Error for AcquireError {}

/// Error from [`Semaphore::try_acquire`].
///
/// # Examples
///
/// ```
/// use solo::sync::{Semaphore, TryAcquireError};
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits now, or other tasks are queued first.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::NoPermits => "no permits available",
        })
    }
}

impl Error for TryAcquireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok};

    fn entries(s: &Semaphore) -> usize {
        s.state.borrow().waiters.entries()
    }

    #[test]
    fn large_head_request_is_not_starved_by_small_ones() {
        let sem = Semaphore::new(3);
        let held = sem.try_acquire(3).unwrap();
        let mut big = spawn(sem.acquire(3));
        let mut small = spawn(sem.acquire(1));
        assert_pending!(big.poll());
        assert_pending!(small.poll());
        // Newcomers cannot jump the queue either.
        assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::NoPermits);
        sem.add_permits(1);
        assert!(!small.is_woken());
        assert_pending!(small.poll());
        drop(held);
        assert!(big.is_woken());
        let p = assert_ready_ok!(big.poll());
        assert_eq!(p.num_permits(), 3);
        // One permit (the added one) was left; the small request got it.
        assert!(small.is_woken());
        let q = assert_ready_ok!(small.poll());
        assert_eq!(sem.available_permits(), 0);
        drop((p, q));
        assert_eq!(sem.available_permits(), 4);
    }

    #[test]
    fn cancel_queued_head_lets_next_request_fit() {
        let sem = Semaphore::new(2);
        let mut big = spawn(sem.acquire(5));
        let mut small = spawn(sem.acquire(2));
        assert_pending!(big.poll());
        assert_pending!(small.poll());
        drop(big);
        assert!(small.is_woken());
        let p = assert_ready_ok!(small.poll());
        assert_eq!(p.num_permits(), 2);
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(entries(&sem), 0);
    }

    #[test]
    fn cancel_after_being_served_returns_permits_to_next_waiter() {
        let sem = Semaphore::new(0);
        let mut a = spawn(sem.acquire(2));
        let mut b = spawn(sem.acquire(2));
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        sem.add_permits(2);
        assert!(a.is_woken());
        assert!(!b.is_woken());
        drop(a);
        assert!(b.is_woken());
        let p = assert_ready_ok!(b.poll());
        drop(p);
        assert_eq!(sem.available_permits(), 2);
    }

    #[test]
    fn close_fails_waiters_but_keeps_served_permits() {
        let sem = Semaphore::new(0);
        let mut a = spawn(sem.acquire(1));
        let mut b = spawn(sem.acquire(1));
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        sem.add_permits(1);
        sem.close();
        assert!(b.is_woken());
        assert_ready_err!(b.poll());
        let p = assert_ready_ok!(a.poll());
        drop(p);
        assert_eq!(sem.available_permits(), 1);
        let mut c = spawn(sem.acquire(0));
        assert_ready_err!(c.poll());
        assert!(sem.is_closed());
    }

    #[test]
    fn forget_shrinks_capacity() {
        let sem = Semaphore::new(3);
        let p = sem.try_acquire(2).unwrap();
        p.forget();
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn repoll_keeps_one_entry_and_stays_pending() {
        let sem = Semaphore::new(0);
        let mut a = spawn(sem.acquire(1));
        for _ in 0..3 {
            assert_pending!(a.poll());
        }
        assert_eq!(entries(&sem), 1);
        sem.add_permits(1);
        let p = assert_ready!(a.poll()).unwrap();
        drop(p);
        assert_eq!(entries(&sem), 0);
    }

    #[test]
    #[should_panic(expected = "overflowed")]
    fn add_permits_overflow_panics() {
        let sem = Semaphore::new(usize::MAX);
        sem.add_permits(1);
    }
}
