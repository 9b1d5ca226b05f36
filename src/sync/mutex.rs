//! A fair async mutex for tasks on one thread.
//!
//! # Invariants
//!
//! - `state.locked` is true from the moment a guard is created (or handed to a waiter) until
//!   the last owner releases it with nobody queued. While waiters are queued it never drops
//!   to false: unlock hands the lock **directly** to the first waiter, so a newcomer calling
//!   [`Mutex::try_lock`] or [`Mutex::lock`] cannot barge past the queue.
//! - Hence "unlocked" implies "no waiter is queued", and the fast path only checks `locked`.
//! - The value lives in its own `RefCell`; the logical lock guarantees that at most one
//!   [`MutexGuard`] (which holds the `RefMut`) exists, so that borrow never fails.
//! - A waiter that was handed the lock but is dropped before it observes the hand-off passes
//!   the lock on, exactly as if it had locked and unlocked.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Key, Waiters, WakeList};

/// An async mutual-exclusion lock for tasks of one thread, handed out in FIFO order.
///
/// `Mutex<T>` is `!Send` and `!Sync`: it belongs to the thread that created it, and only
/// that thread's tasks can lock it (with [`solo::pool`](crate::pool), build one per worker,
/// inside the closure that runs there). There is no poisoning: a guard dropped during a
/// panic unlocks normally.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use solo::sync::Mutex;
///
/// solo::block_on(async {
///     let counter = Rc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = counter.clone();
///             solo::spawn_local(async move { *counter.lock().await += 1 })
///         })
///         .collect();
///     for t in tasks {
///         t.await;
///     }
///     assert_eq!(*counter.lock().await, 10);
/// });
/// ```
///
/// A `Mutex` cannot be shared between threads:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<solo::sync::Mutex<u8>>();
/// ```
pub struct Mutex<T: ?Sized> {
    state: RefCell<State>,
    /// Belongs to one thread (see the module docs): `!Send` as well as `!Sync`.
    _local: PhantomData<*const ()>,
    value: RefCell<T>,
}

#[derive(Debug)]
struct State {
    /// Set while a guard exists or the lock has been handed to a waiter that has not yet
    /// taken it. Cleared only by an unlock that finds nobody queued.
    locked: bool,
    /// Tasks waiting for the lock; `true` once the lock was handed to that waiter.
    waiters: Waiters<bool>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = solo::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub const fn new(value: T) -> Self {
        Self {
            _local: PhantomData,
            state: RefCell::new(State {
                locked: false,
                waiters: Waiters::new(),
            }),
            value: RefCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = solo::sync::Mutex::new(String::from("hi"));
    /// assert_eq!(m.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and returns a guard that unlocks on drop.
    ///
    /// Waiters are served strictly in the order they first polled [`Lock`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. Dropping the [`Lock`] future removes it from the queue; if the lock had
    /// already been handed to it, the lock passes to the next waiter. Only the place in the
    /// queue is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let m = solo::sync::Mutex::new(vec![1]);
    ///     m.lock().await.push(2);
    ///     assert_eq!(*m.lock().await, [1, 2]);
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            key: None,
        }
    }

    /// Takes the lock if it is free and nobody is queued for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = solo::sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut state = self.state.borrow_mut();
        if state.locked {
            return None;
        }
        state.locked = true;
        drop(state);
        Some(self.guard())
    }

    /// Returns a mutable reference to the value; no locking needed since `self` is unique.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = solo::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Builds a guard; the caller has just set (or inherited) `locked`.
    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            value: Some(self.value.borrow_mut()),
        }
    }

    /// Releases the lock: hands it to the first waiter, or clears `locked`.
    #[inline]
    fn unlock(&self) {
        let mut state = self.state.borrow_mut();
        // Nobody queued (every uncontended unlock): just clear the flag.
        if state.waiters.is_empty() {
            state.locked = false;
            return;
        }
        let mut wakers = WakeList::new();
        if let Some(handed) = state.waiters.pop_front(&mut wakers) {
            *handed = true;
        }
        drop(state);
        wakers.wake_all();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Future returned by [`Mutex::lock`]; resolves to a [`MutexGuard`]. See there for an
/// example.
#[must_use = "futures do nothing unless polled"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Our queue entry, once we had to wait.
    key: Option<Key>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mutex = self.mutex;
        let mut state = mutex.state.borrow_mut();
        match self.key {
            None if !state.locked => state.locked = true,
            None => {
                self.key = Some(state.waiters.push_back(false, cx.waker()));
                return Poll::Pending;
            }
            Some(key) if state.waiters.is_linked(key) => {
                state.waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            Some(key) => {
                // Unlinked: only `unlock` unlinks, and it hands us the lock.
                let (_, handed) = state.waiters.remove(key);
                debug_assert!(handed);
                self.key = None;
            }
        }
        drop(state);
        Poll::Ready(mutex.guard())
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let (_, handed) = self.mutex.state.borrow_mut().waiters.remove(key);
        if handed {
            // We were given the lock but will never use it: pass it on.
            self.mutex.unlock();
        }
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks (hands over) on drop.
///
/// The guard is `!Send`: it must be dropped on the thread that locked.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let m = solo::sync::Mutex::new(0);
///     let mut guard = m.lock().await;
///     *guard = 7;
///     drop(guard);
///     assert_eq!(*m.lock().await, 7);
/// });
/// ```
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Always `Some` until drop, which releases the borrow *before* handing the lock on, so
    /// a waiter polled from inside the waker finds the value free.
    value: Option<RefMut<'a, T>>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_deref().expect("MutexGuard used after drop")
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("MutexGuard used after drop")
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.value = None;
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready};

    fn queued<T: ?Sized>(m: &Mutex<T>) -> usize {
        m.state.borrow().waiters.len()
    }

    fn entries<T: ?Sized>(m: &Mutex<T>) -> usize {
        m.state.borrow().waiters.entries()
    }

    #[test]
    fn uncontended_lock_is_ready_on_first_poll() {
        let m = Mutex::new(1);
        let mut lock = spawn(m.lock());
        let mut guard = assert_ready!(lock.poll());
        *guard += 1;
        drop(guard);
        assert_eq!(*m.try_lock().unwrap(), 2);
    }

    #[test]
    fn unlock_hands_lock_to_waiters_in_fifo_order() {
        let m = Mutex::new(Vec::new());
        let held = m.try_lock().unwrap();
        let mut a = spawn(m.lock());
        let mut b = spawn(m.lock());
        let mut c = spawn(m.lock());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        assert_pending!(c.poll());
        drop(held);
        assert!(a.is_woken());
        assert!(!b.is_woken());
        // Poll in reverse: b and c still wait, a gets it.
        assert_pending!(c.poll());
        assert_pending!(b.poll());
        assert_ready!(a.poll()).push('a');
        assert!(b.is_woken());
        assert_ready!(b.poll()).push('b');
        assert_ready!(c.poll()).push('c');
        assert_eq!(*m.try_lock().unwrap(), ['a', 'b', 'c']);
        drop((a, b, c));
        assert_eq!(entries(&m), 0);
    }

    #[test]
    fn try_lock_cannot_barge_past_a_handed_off_waiter() {
        let m = Mutex::new(());
        let held = m.try_lock().unwrap();
        let mut waiter = spawn(m.lock());
        assert_pending!(waiter.poll());
        drop(held);
        // The lock now belongs to `waiter`, even though it has not been polled yet.
        assert!(m.try_lock().is_none());
        let mut newcomer = spawn(m.lock());
        assert_pending!(newcomer.poll());
        let g = assert_ready!(waiter.poll());
        drop(g);
        assert_ready!(newcomer.poll());
    }

    #[test]
    fn cancel_queued_waiter_leaves_queue_and_next_still_gets_lock() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let mut a = spawn(m.lock());
        let mut b = spawn(m.lock());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        drop(a);
        assert_eq!(queued(&m), 1);
        drop(held);
        assert!(b.is_woken());
        assert_ready!(b.poll());
    }

    #[test]
    fn cancel_after_handoff_passes_lock_to_next_waiter() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let mut a = spawn(m.lock());
        let mut b = spawn(m.lock());
        assert_pending!(a.poll());
        assert_pending!(b.poll());
        drop(held);
        assert!(a.is_woken());
        drop(a); // handed the lock, never used it
        assert!(b.is_woken());
        drop(assert_ready!(b.poll()));
        assert!(m.try_lock().is_some());
        assert_eq!(entries(&m), 0);
    }

    #[test]
    fn cancel_after_handoff_with_nobody_behind_unlocks() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let mut a = spawn(m.lock());
        assert_pending!(a.poll());
        drop(held);
        drop(a);
        assert!(m.try_lock().is_some());
    }

    #[test]
    fn repoll_while_queued_does_not_requeue() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let mut a = spawn(m.lock());
        for _ in 0..3 {
            assert_pending!(a.poll());
        }
        assert_eq!(queued(&m), 1);
        drop(held);
        assert_ready!(a.poll());
    }

    #[test]
    fn guard_drop_from_inside_waker_reentry_finds_value_free() {
        // A guard released while another task is in `lock` must not trip the RefCell.
        let m = Rc::new(Mutex::new(0));
        crate::block_on(async {
            let g = m.lock().await;
            let m2 = m.clone();
            let t = crate::spawn_local(async move {
                *m2.lock().await += 1;
            });
            futures_lite::future::yield_now().await;
            drop(g);
            t.await;
        });
        assert_eq!(*m.try_lock().unwrap(), 1);
    }

    #[test]
    fn unsized_value_and_debug() {
        let m: Box<Mutex<[i32]>> = Box::new(Mutex::new([1, 2, 3]));
        m.try_lock().unwrap()[0] = 9;
        assert_eq!(format!("{m:?}"), "Mutex { value: [9, 2, 3], .. }");
        let g = m.try_lock().unwrap();
        assert_eq!(format!("{m:?}"), "Mutex { value: <locked>, .. }");
        drop(g);
    }
}
