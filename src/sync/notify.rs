//! Wake-up signals between tasks on one thread.
//!
//! # Invariants
//!
//! - `state.permit` is at most one stored [`Notify::notify_one`] call that found nobody
//!   waiting. It is set only when the queue is empty and consumed by the next
//!   [`Notified`] to be polled (or by a waiter leaving with an unused notification).
//! - `state.generation` counts [`Notify::notify_waiters`] calls. A [`Notified`] records it
//!   when *created*, so a `notify_waiters` that happens between creating the future and
//!   polling it still completes it (the usual "create, check condition, await" pattern is
//!   race-free).
//! - Queue entries are marked with how they were woken. A waiter woken by `notify_one`
//!   that is dropped before observing it forwards the notification (to the next waiter or
//!   to the stored permit), so a `notify_one` is never lost to cancellation.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Key, Waiters, WakeList};

/// Notifies one waiting task or all of them; stores at most one wake-up for later.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use solo::sync::Notify;
///
/// solo::block_on(async {
///     let notify = Rc::new(Notify::new());
///     let n2 = notify.clone();
///     let waiter = solo::spawn_local(async move {
///         n2.notified().await;
///         "woken"
///     });
///     notify.notify_one();
///     assert_eq!(waiter.await, "woken");
/// });
/// ```
pub struct Notify {
    state: RefCell<State>,
    /// Belongs to one thread (see the module docs): `!Send` as well as `!Sync`.
    _local: PhantomData<*const ()>,
}

/// How a queued waiter was woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woken {
    /// Still waiting.
    No,
    /// By `notify_one`: must be forwarded if the waiter is dropped unobserved.
    One,
    /// By `notify_waiters`: nothing to forward.
    All,
}

#[derive(Debug)]
struct State {
    /// One stored `notify_one`; only set while the queue is empty.
    permit: bool,
    /// Number of `notify_waiters` calls so far.
    generation: u64,
    waiters: Waiters<Woken>,
}

impl State {
    fn notify_one(&mut self, wakers: &mut WakeList) {
        match self.waiters.pop_front(wakers) {
            Some(woken) => *woken = Woken::One,
            None => self.permit = true,
        }
    }
}

impl Notify {
    /// Creates a `Notify` with no stored permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = solo::sync::Notify::new();
    /// # drop(notify);
    /// ```
    pub const fn new() -> Self {
        Self {
            _local: PhantomData,
            state: RefCell::new(State {
                permit: false,
                generation: 0,
                waiters: Waiters::new(),
            }),
        }
    }

    /// Returns a future that completes on the next notification.
    ///
    /// It completes if: a permit is stored when it is first polled (consuming it),
    /// [`notify_one`](Self::notify_one) picks it, or [`notify_waiters`](Self::notify_waiters)
    /// is called at any time after this method returned (even before the first poll).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. Dropping a [`Notified`] that was chosen by `notify_one` but not yet
    /// polled hands that notification to the next waiter (or stores it as the permit). A
    /// `notify_waiters` wake-up is simply missed by a dropped future.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let notify = solo::sync::Notify::new();
    ///     notify.notify_one(); // stored
    ///     notify.notified().await; // consumes it immediately
    /// });
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.state.borrow().generation,
            key: None,
            done: false,
        }
    }

    /// Wakes the first waiting task, or stores one permit if nobody waits.
    ///
    /// Permits do not accumulate: many calls with nobody waiting store a single one.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::poll_once;
    ///
    /// solo::block_on(async {
    ///     let notify = solo::sync::Notify::new();
    ///     notify.notify_one();
    ///     notify.notify_one();
    ///     notify.notified().await;
    ///     assert!(poll_once(notify.notified()).await.is_none());
    /// });
    /// ```
    pub fn notify_one(&self) {
        let mut wakers = WakeList::new();
        self.state.borrow_mut().notify_one(&mut wakers);
        wakers.wake_all();
    }

    /// Wakes every task waiting now (and every [`Notified`] created but not yet polled);
    /// stores no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::poll_once;
    ///
    /// solo::block_on(async {
    ///     let notify = solo::sync::Notify::new();
    ///     let a = notify.notified();
    ///     let b = notify.notified();
    ///     notify.notify_waiters();
    ///     a.await;
    ///     b.await;
    ///     // Nothing stored for later waiters.
    ///     assert!(poll_once(notify.notified()).await.is_none());
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.generation = state.generation.wrapping_add(1);
            state.waiters.drain(&mut wakers, |w| *w = Woken::All);
        }
        wakers.wake_all();
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.state.borrow().permit)
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Notify::notified`]; see there for an example.
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `state.generation` when this future was created.
    generation: u64,
    key: Option<Key>,
    /// Completed; further polls return `Ready` without touching the state.
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let mut state = self.notify.state.borrow_mut();
        match self.key {
            None if state.generation != self.generation => {}
            None if state.permit => state.permit = false,
            None => {
                self.key = Some(state.waiters.push_back(Woken::No, cx.waker()));
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_linked(key) => {
                state.waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            Some(key) => {
                state.waiters.remove(key);
                self.key = None;
            }
        }
        drop(state);
        self.done = true;
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut wakers = WakeList::new();
        {
            let mut state = self.notify.state.borrow_mut();
            if state.waiters.remove(key).1 == Woken::One {
                // Chosen by notify_one but never observed: forward it.
                state.notify_one(&mut wakers);
            }
        }
        wakers.wake_all();
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("queued", &self.key.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready};

    fn permit(n: &Notify) -> bool {
        n.state.borrow().permit
    }

    #[test]
    fn notify_one_wakes_waiters_in_fifo_order() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        let mut b = spawn(n.notified());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        n.notify_one();
        assert!(a.is_woken());
        assert!(!b.is_woken());
        assert_pending!(b.poll());
        assert_ready!(a.poll());
        n.notify_one();
        assert_ready!(b.poll());
        assert!(!permit(&n));
    }

    #[test]
    fn notify_one_without_waiters_stores_exactly_one_permit() {
        let n = Notify::new();
        n.notify_one();
        n.notify_one();
        assert_ready!(spawn(n.notified()).poll());
        assert_pending!(spawn(n.notified()).poll());
    }

    #[test]
    fn notify_waiters_wakes_all_current_and_created_futures_and_stores_nothing() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        assert_pending!(a.poll());
        let mut created = spawn(n.notified()); // never polled before the call
        n.notify_waiters();
        assert!(a.is_woken());
        assert_ready!(a.poll());
        assert_ready!(created.poll());
        assert!(!permit(&n));
        let mut later = spawn(n.notified());
        assert_pending!(later.poll());
    }

    #[test]
    fn cancel_after_notify_one_forwards_to_next_waiter() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        let mut b = spawn(n.notified());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        n.notify_one();
        drop(a);
        assert!(b.is_woken());
        assert_ready!(b.poll());
    }

    #[test]
    fn cancel_after_notify_one_with_nobody_behind_stores_permit() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        assert_pending!(a.poll());
        n.notify_one();
        drop(a);
        assert!(permit(&n));
    }

    #[test]
    fn cancel_after_notify_waiters_forwards_nothing() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        assert_pending!(a.poll());
        n.notify_waiters();
        drop(a);
        assert!(!permit(&n));
    }

    #[test]
    fn cancel_queued_waiter_does_not_swallow_later_notify() {
        let n = Notify::new();
        let mut a = spawn(n.notified());
        let mut b = spawn(n.notified());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        drop(a);
        n.notify_one();
        assert!(b.is_woken());
        assert_ready!(b.poll());
        // Ready is sticky.
        assert_ready!(b.poll());
    }
}
