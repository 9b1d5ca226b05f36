//! A single-value channel: one sender publishes, many receivers see the latest value.
//!
//! # Invariants
//!
//! - All handles share one `Rc`: the value in its own `RefCell` (so `borrow` guards do not
//!   block the bookkeeping) and the bookkeeping in another. Handles are `!Send`.
//! - `version` increases by one on every send; each [`Receiver`] remembers the version it
//!   has seen. "Changed" means `version != seen`. Only the latest value is kept: a receiver
//!   that was slow sees one change, not each intermediate value.
//! - Waiters ([`Changed`] futures) are all woken on every send and when the sender drops.
//!   Their result is recomputed from `version` when polled, so a dropped `Changed` loses
//!   nothing.
//! - The value cannot be replaced while a [`Ref`] from `borrow` is alive; doing so is a bug
//!   in the caller and panics with a message saying so. Do not hold a `Ref` across an
//!   `.await`.
//! - Unseen changes win over closure: after the sender is dropped, `changed` still reports
//!   the last unseen value once, then errors.

use std::cell::{Ref, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{Key, Waiters, WakeList};

/// Creates a watch channel holding `init`. The receiver starts having seen `init`.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, mut rx) = solo::sync::watch::channel("idle");
///     let watcher = solo::spawn_local(async move {
///         rx.changed().await.unwrap();
///         *rx.borrow_and_update()
///     });
///     tx.send("busy").unwrap();
///     assert_eq!(watcher.await, "busy");
/// });
/// ```
#[must_use = "dropping both halves closes the channel at once"]
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(init),
        state: RefCell::new(State {
            version: 0,
            tx_alive: true,
            receivers: 1,
            waiters: Waiters::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

struct Shared<T> {
    value: RefCell<T>,
    state: RefCell<State>,
}

#[derive(Debug)]
struct State {
    /// Bumped by every send (wrapping; 2^64 sends will not happen).
    version: u64,
    /// Cleared once when the sender drops.
    tx_alive: bool,
    /// Live `Receiver` handles.
    receivers: usize,
    /// Pending `Changed` futures.
    waiters: Waiters<()>,
}

impl<T> Shared<T> {
    /// Stores `value`, bumps the version and wakes every waiter; returns the old value.
    fn replace(&self, value: T) -> T {
        let old = std::mem::replace(
            &mut *self.value.try_borrow_mut().expect(
                "watch: cannot send while a `Ref` from `borrow()` is alive; \
                 drop it first (and never hold it across an .await)",
            ),
            value,
        );
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.version = state.version.wrapping_add(1);
            state.waiters.drain(&mut wakers, |_| {});
        }
        wakers.wake_all();
        old
    }
}

/// Publishes new values.
///
/// Dropping it makes every receiver's [`changed`](Receiver::changed) fail once the last
/// value has been seen.
///
/// # Examples
///
/// ```
/// let (tx, rx) = solo::sync::watch::channel(1);
/// tx.send(2).unwrap();
/// assert_eq!(*rx.borrow(), 2);
/// ```
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Publishes `value` and notifies every receiver.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value (which is not stored) if every receiver is gone.
    ///
    /// # Panics
    ///
    /// If a [`Ref`] returned by a `borrow` method of this channel is still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.state.borrow().receivers == 0 {
            return Err(SendError(value));
        }
        // The old value is dropped here, after every borrow is released.
        drop(self.shared.replace(value));
        Ok(())
    }

    /// Publishes `value` even if no receiver exists, returning the previous value.
    ///
    /// # Panics
    ///
    /// If a [`Ref`] returned by a `borrow` method of this channel is still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::watch::channel(1);
    /// drop(rx);
    /// assert_eq!(tx.send_replace(2), 1);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        self.shared.replace(value)
    }

    /// Borrows the current value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = solo::sync::watch::channel(vec![1]);
    /// assert_eq!(tx.borrow().len(), 1);
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.value.borrow()
    }

    /// Creates a new receiver that has already seen the current value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert!(!tx.is_closed());
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state.borrow_mut();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: state.version,
        }
    }

    /// True when no receiver exists.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::watch::channel(());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().receivers == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.shared.state.borrow_mut();
            state.tx_alive = false;
            state.waiters.drain(&mut wakers, |_| {});
        }
        wakers.wake_all();
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Sender");
        match self.shared.value.try_borrow() {
            Ok(value) => d.field("value", &*value),
            Err(_) => d.field("value", &format_args!("<borrowed>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Observes the latest value; cloning gives an independent observer.
///
/// # Examples
///
/// ```
/// let (tx, mut a) = solo::sync::watch::channel(0);
/// let b = a.clone();
/// tx.send(1).unwrap();
/// a.borrow_and_update();
/// assert_eq!(a.has_changed(), Ok(false));
/// assert_eq!(b.has_changed(), Ok(true));
/// ```
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
    /// The version this receiver has marked as seen.
    seen: u64,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow(), 2);
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.value.borrow()
    }

    /// Borrows the current value and marks it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = solo::sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 2);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        self.seen = self.shared.state.borrow().version;
        self.shared.value.borrow()
    }

    /// True if a value was sent since this receiver last marked one seen.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if nothing changed and the sender is gone (nothing ever will).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = solo::sync::watch::channel(0);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// rx.borrow_and_update();
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.borrow();
        if state.version != self.seen {
            Ok(true)
        } else if state.tx_alive {
            Ok(false)
        } else {
            Err(RecvError(()))
        }
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    ///
    /// Returns at once if the current value is unseen.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the sender is dropped and the latest value has been seen.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the change is marked seen only by the poll that returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let (tx, mut rx) = solo::sync::watch::channel(0);
    ///     tx.send(5).unwrap();
    ///     drop(tx);
    ///     rx.changed().await.unwrap();
    ///     assert_eq!(*rx.borrow(), 5);
    ///     assert!(rx.changed().await.is_err());
    /// });
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            rx: self,
            key: None,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.state.borrow_mut().receivers += 1;
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().receivers -= 1;
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Receiver");
        match self.shared.value.try_borrow() {
            Ok(value) => d.field("value", &*value),
            Err(_) => d.field("value", &format_args!("<borrowed>")),
        };
        d.field("seen", &self.seen).finish_non_exhaustive()
    }
}

/// Future returned by [`Receiver::changed`]; see there for an example.
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, T> {
    rx: &'a mut Receiver<T>,
    key: Option<Key>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.rx.shared.state.borrow_mut();
        let result = if state.version != this.rx.seen {
            this.rx.seen = state.version;
            Ok(())
        } else if !state.tx_alive {
            Err(RecvError(()))
        } else {
            match this.key {
                Some(key) if state.waiters.is_linked(key) => {
                    state.waiters.register(key, cx.waker());
                }
                stale => {
                    // First poll, or woken without a change we can see: (re)join the queue.
                    if let Some(key) = stale {
                        state.waiters.remove(key);
                    }
                    this.key = Some(state.waiters.push_back((), cx.waker()));
                }
            }
            return Poll::Pending;
        };
        if let Some(key) = this.key.take() {
            state.waiters.remove(key);
        }
        Poll::Ready(result)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.rx.shared.state.borrow_mut().waiters.remove(key);
        }
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Error from [`Sender::send`]: every receiver is gone; holds the unsent value.
///
/// # Examples
///
/// ```
/// let (tx, rx) = solo::sync::watch::channel(0);
/// drop(rx);
/// let err = tx.send(1).unwrap_err();
/// assert_eq!(err.0, 1);
/// assert_eq!(err.to_string(), "watch channel has no receivers");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel has no receivers")
    }
}

impl<T> Error for SendError<T> {}

/// Error from [`Receiver::changed`]: the sender is gone.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, mut rx) = solo::sync::watch::channel(0);
///     drop(tx);
///     let err = rx.changed().await.unwrap_err();
///     assert_eq!(err.to_string(), "watch sender dropped");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch sender dropped")
    }
}

impl Error for RecvError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};

    fn entries<T>(rx: &Receiver<T>) -> usize {
        rx.shared.state.borrow().waiters.entries()
    }

    #[test]
    fn send_wakes_every_waiting_receiver_and_each_sees_the_change_once() {
        let (tx, mut a) = channel(0);
        let mut b = a.clone();
        {
            let mut ca = spawn(a.changed());
            let mut cb = spawn(b.changed());
            assert_pending!(ca.poll());
            assert_pending!(cb.poll());
            tx.send(1).unwrap();
            assert!(ca.is_woken() && cb.is_woken());
            assert_ready_ok!(ca.poll());
            assert_ready_ok!(cb.poll());
        }
        assert_eq!(a.has_changed(), Ok(false));
        assert_pending!(spawn(a.changed()).poll());
        assert_eq!(entries(&a), 0);
    }

    #[test]
    fn intermediate_values_coalesce() {
        let (tx, mut rx) = channel(0);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_ready_ok!(spawn(rx.changed()).poll());
        assert_eq!(*rx.borrow(), 2);
        assert_pending!(spawn(rx.changed()).poll());
    }

    #[test]
    fn sender_drop_wakes_waiters_with_error_after_unseen_value() {
        let (tx, mut rx) = channel(0);
        {
            let mut c = spawn(rx.changed());
            assert_pending!(c.poll());
            drop(tx);
            assert!(c.is_woken());
            assert_ready_err!(c.poll());
        }
        let (tx, mut rx) = channel(0);
        tx.send(1).unwrap();
        drop(tx);
        assert_ready_ok!(spawn(rx.changed()).poll());
        assert_ready_err!(spawn(rx.changed()).poll());
    }

    #[test]
    fn cancelled_changed_loses_nothing() {
        let (tx, mut rx) = channel(0);
        {
            let mut c = spawn(rx.changed());
            assert_pending!(c.poll());
            tx.send(1).unwrap();
            assert!(c.is_woken());
        }
        assert_eq!(entries(&rx), 0);
        assert_eq!(rx.has_changed(), Ok(true));
        assert_ready_ok!(spawn(rx.changed()).poll());
    }

    #[test]
    fn send_fails_without_receivers_and_subscribe_revives() {
        let (tx, rx) = channel(0);
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed());
        drop(rx2);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1).unwrap_err().0, 1);
        assert_eq!(*tx.borrow(), 0);
        let rx = tx.subscribe();
        tx.send(2).unwrap();
        assert_eq!(rx.has_changed(), Ok(true));
    }

    #[test]
    #[should_panic(expected = "cannot send while a `Ref`")]
    fn send_while_borrowed_panics_with_a_clear_message() {
        let (tx, rx) = channel(0);
        let _r = rx.borrow();
        let _ = tx.send(1);
    }

    #[test]
    fn replaced_values_are_dropped_once() {
        struct D(Rc<Cell<usize>>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let drops = Rc::new(Cell::new(0));
        let (tx, rx) = channel(D(drops.clone()));
        tx.send(D(drops.clone())).ok().unwrap();
        assert_eq!(drops.get(), 1);
        let old = tx.send_replace(D(drops.clone()));
        assert_eq!(drops.get(), 1);
        drop(old);
        assert_eq!(drops.get(), 2);
        drop(rx);
        let back = tx.send(D(drops.clone())).unwrap_err();
        drop(back);
        assert_eq!(drops.get(), 3);
        drop(tx);
        assert_eq!(drops.get(), 4);
    }

    #[test]
    fn watcher_task_follows_sender() {
        crate::block_on(async {
            let (tx, mut rx) = channel(0);
            let t = crate::spawn_local(async move {
                let mut seen = Vec::new();
                while rx.changed().await.is_ok() {
                    seen.push(*rx.borrow_and_update());
                }
                seen
            });
            for i in 1..=3 {
                tx.send(i).unwrap();
                futures_lite::future::yield_now().await;
            }
            drop(tx);
            assert_eq!(t.await, [1, 2, 3]);
        });
    }
}
