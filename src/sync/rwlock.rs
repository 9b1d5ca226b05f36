//! A fair async reader-writer lock for tasks on one thread.
//!
//! # Invariants
//!
//! - `state.writer` and `state.readers > 0` are never true at once. Both count holders that
//!   have a guard *or* have been handed the lock and not yet polled.
//! - One FIFO queue holds readers and writers. A newcomer takes the lock at once only if the
//!   queue is empty; so once a writer waits, later readers queue behind it (no writer
//!   starvation), and a waiting writer cannot be overtaken by a later writer either.
//! - [`dispatch`](State::dispatch) hands the lock to the head of the queue: one writer, or
//!   every reader up to the next queued writer. It runs after every release and after a
//!   queued waiter is cancelled (a cancelled writer at the head may unblock readers).
//! - The value lives in a `RefCell`; the logical lock guarantees the matching `Ref`/`RefMut`
//!   borrow never fails.

use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Key, Waiters, WakeList};

/// An async reader-writer lock for tasks of one thread; FIFO, writers are not starved.
///
/// `RwLock<T>` and its guards are `!Send` and `!Sync`: they belong to the thread that created
/// the lock. There is no poisoning.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let lock = solo::sync::RwLock::new(5);
///     {
///         let a = lock.read().await;
///         let b = lock.read().await;
///         assert_eq!(*a + *b, 10);
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    state: RefCell<State>,
    /// Belongs to one thread (see the module docs): `!Send` as well as `!Sync`.
    _local: PhantomData<*const ()>,
    value: RefCell<T>,
}

/// What a queued waiter wants, and whether it has been handed the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    write: bool,
    /// Set by `dispatch` when the lock is handed to this waiter.
    handed: bool,
}

#[derive(Debug)]
struct State {
    /// Readers holding (or handed) the lock.
    readers: usize,
    /// A writer holds (or was handed) the lock.
    writer: bool,
    waiters: Waiters<Want>,
}

impl State {
    /// Hands the lock to the head of the queue for as long as it can be granted.
    fn dispatch(&mut self, wakers: &mut WakeList) {
        while let Some(&head) = self.waiters.front() {
            let grant = if head.write {
                !self.writer && self.readers == 0
            } else {
                !self.writer
            };
            if !grant {
                break;
            }
            if head.write {
                self.writer = true;
            } else {
                self.readers += 1;
            }
            let want = self.waiters.pop_front(wakers).expect("head exists");
            want.handed = true;
            if want.write {
                break;
            }
        }
    }

    fn release(&mut self, write: bool) -> WakeList {
        if write {
            self.writer = false;
        } else {
            self.readers -= 1;
        }
        let mut wakers = WakeList::new();
        self.dispatch(&mut wakers);
        wakers
    }
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = solo::sync::RwLock::new("x");
    /// assert_eq!(*lock.try_read().unwrap(), "x");
    /// ```
    pub const fn new(value: T) -> Self {
        Self {
            _local: PhantomData,
            state: RefCell::new(State {
                readers: 0,
                writer: false,
                waiters: Waiters::new(),
            }),
            value: RefCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(solo::sync::RwLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared read access.
    ///
    /// If a writer holds the lock or anyone is queued, the reader queues behind them.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped [`ReadLock`] leaves the queue, and if it had been handed read
    /// access it releases it (possibly admitting a writer). Only the place in the queue is
    /// lost.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let lock = solo::sync::RwLock::new(1);
    ///     assert_eq!(*lock.read().await, 1);
    /// });
    /// ```
    pub fn read(&self) -> ReadLock<'_, T> {
        ReadLock(Acquire {
            lock: self,
            write: false,
            key: None,
        })
    }

    /// Waits for exclusive write access.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as for [`read`](Self::read): a dropped [`WriteLock`] leaves the queue
    /// (readers queued behind it may then proceed) or releases access it was handed.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let lock = solo::sync::RwLock::new(1);
    ///     *lock.write().await = 2;
    ///     assert_eq!(lock.into_inner(), 2);
    /// });
    /// ```
    pub fn write(&self) -> WriteLock<'_, T> {
        WriteLock(Acquire {
            lock: self,
            write: true,
            key: None,
        })
    }

    /// Takes read access if no writer holds the lock and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = solo::sync::RwLock::new(0);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_none());
    /// assert!(lock.try_read().is_some());
    /// drop(r);
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state.borrow_mut();
        if state.writer || !state.waiters.is_empty() {
            return None;
        }
        state.readers += 1;
        drop(state);
        Some(self.read_guard())
    }

    /// Takes write access if the lock is entirely free and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = solo::sync::RwLock::new(0);
    /// let w = lock.try_write().unwrap();
    /// assert!(lock.try_read().is_none());
    /// drop(w);
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut state = self.state.borrow_mut();
        if state.writer || state.readers > 0 || !state.waiters.is_empty() {
            return None;
        }
        state.writer = true;
        drop(state);
        Some(self.write_guard())
    }

    /// Returns a mutable reference to the value; no locking needed since `self` is unique.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = solo::sync::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.try_read().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            value: Some(self.value.borrow()),
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            value: Some(self.value.borrow_mut()),
        }
    }

    fn release(&self, write: bool) {
        let wakers = self.state.borrow_mut().release(write);
        wakers.wake_all();
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared state of [`ReadLock`] and [`WriteLock`].
struct Acquire<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    write: bool,
    key: Option<Key>,
}

impl<T: ?Sized> Acquire<'_, T> {
    /// `Ready` once the lock (of our kind) is ours; the caller builds the guard.
    fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock.state.borrow_mut();
        match self.key {
            None => {
                let free = state.waiters.is_empty()
                    && !state.writer
                    && (!self.write || state.readers == 0);
                if !free {
                    let want = Want {
                        write: self.write,
                        handed: false,
                    };
                    self.key = Some(state.waiters.push_back(want, cx.waker()));
                    return Poll::Pending;
                }
                if self.write {
                    state.writer = true;
                } else {
                    state.readers += 1;
                }
            }
            Some(key) if state.waiters.is_linked(key) => {
                state.waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            Some(key) => {
                // Unlinked only by `dispatch`, which already counted us as a holder.
                let (_, want) = state.waiters.remove(key);
                debug_assert!(want.handed);
                self.key = None;
            }
        }
        Poll::Ready(())
    }
}

impl<T: ?Sized> Drop for Acquire<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.lock.state.borrow_mut();
        let (_, want) = state.waiters.remove(key);
        let wakers = if want.handed {
            // Handed the lock but never used it: release it.
            state.release(self.write)
        } else {
            // Leaving the queue can unblock whoever was behind us.
            let mut wakers = WakeList::new();
            state.dispatch(&mut wakers);
            wakers
        };
        drop(state);
        wakers.wake_all();
    }
}

/// Future returned by [`RwLock::read`]; resolves to a [`RwLockReadGuard`]. See there for
/// an example.
#[must_use = "futures do nothing unless polled"]
pub struct ReadLock<'a, T: ?Sized>(Acquire<'a, T>);

impl<'a, T: ?Sized> Future for ReadLock<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.0.lock;
        self.0.poll_acquire(cx).map(|()| lock.read_guard())
    }
}

/// Future returned by [`RwLock::write`]; resolves to a [`RwLockWriteGuard`]. See there for
/// an example.
#[must_use = "futures do nothing unless polled"]
pub struct WriteLock<'a, T: ?Sized>(Acquire<'a, T>);

impl<'a, T: ?Sized> Future for WriteLock<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.0.lock;
        self.0.poll_acquire(cx).map(|()| lock.write_guard())
    }
}

impl<T: ?Sized> fmt::Debug for ReadLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadLock")
            .field("queued", &self.0.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> fmt::Debug for WriteLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteLock")
            .field("queued", &self.0.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Shared read access to an [`RwLock`]'s value; released on drop.
///
/// # Examples
///
/// ```
/// let lock = solo::sync::RwLock::new([1, 2]);
/// let guard = lock.try_read().unwrap();
/// assert_eq!(guard.len(), 2);
/// ```
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `Some` until drop, which releases the borrow before admitting a writer.
    value: Option<Ref<'a, T>>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
            .as_deref()
            .expect("RwLockReadGuard used after drop")
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.value = None;
        self.lock.release(false);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive write access to an [`RwLock`]'s value; released on drop.
///
/// # Examples
///
/// ```
/// let lock = solo::sync::RwLock::new(0);
/// *lock.try_write().unwrap() += 5;
/// assert_eq!(lock.into_inner(), 5);
/// ```
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `Some` until drop, which releases the borrow before admitting the next holder.
    value: Option<RefMut<'a, T>>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
            .as_deref()
            .expect("RwLockWriteGuard used after drop")
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("RwLockWriteGuard used after drop")
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.value = None;
        self.lock.release(true);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready};

    fn entries<T: ?Sized>(l: &RwLock<T>) -> usize {
        l.state.borrow().waiters.entries()
    }

    #[test]
    fn many_readers_share_one_writer_excludes() {
        let l = RwLock::new(1);
        let a = l.try_read().unwrap();
        let b = l.try_read().unwrap();
        assert!(l.try_write().is_none());
        drop((a, b));
        let w = l.try_write().unwrap();
        assert!(l.try_read().is_none());
        assert!(l.try_write().is_none());
        drop(w);
    }

    #[test]
    fn waiting_writer_blocks_new_readers_then_readers_batch_after_it() {
        let l = RwLock::new(0);
        let r0 = l.try_read().unwrap();
        let mut w = spawn(l.write());
        assert_pending!(w.poll());
        // A writer waits: new readers queue.
        assert!(l.try_read().is_none());
        let mut r1 = spawn(l.read());
        let mut r2 = spawn(l.read());
        let mut w2 = spawn(l.write());
        assert_pending!(r1.poll());
        assert_pending!(r2.poll());
        assert_pending!(w2.poll());
        drop(r0);
        assert!(w.is_woken());
        let mut g = assert_ready!(w.poll());
        *g = 1;
        assert_pending!(r1.poll());
        drop(g);
        // Both readers admitted together; the second writer waits for them.
        assert!(r1.is_woken() && r2.is_woken());
        assert!(!w2.is_woken());
        let g1 = assert_ready!(r1.poll());
        let g2 = assert_ready!(r2.poll());
        assert_eq!(*g1 + *g2, 2);
        assert_pending!(w2.poll());
        drop(g1);
        assert!(!w2.is_woken());
        drop(g2);
        assert!(w2.is_woken());
        assert_ready!(w2.poll());
    }

    #[test]
    fn cancel_queued_writer_at_head_admits_readers_behind_it() {
        let l = RwLock::new(0);
        let r0 = l.try_read().unwrap();
        let mut w = spawn(l.write());
        let mut r1 = spawn(l.read());
        assert_pending!(w.poll());
        assert_pending!(r1.poll());
        drop(w);
        assert!(r1.is_woken());
        let g = assert_ready!(r1.poll());
        drop((g, r0));
        assert_eq!(entries(&l), 0);
        assert!(l.try_write().is_some());
    }

    #[test]
    fn cancel_handed_writer_passes_lock_on() {
        let l = RwLock::new(0);
        let w0 = l.try_write().unwrap();
        let mut w = spawn(l.write());
        let mut r = spawn(l.read());
        assert_pending!(w.poll());
        assert_pending!(r.poll());
        drop(w0);
        assert!(w.is_woken());
        drop(w);
        assert!(r.is_woken());
        drop(assert_ready!(r.poll()));
        assert!(l.try_write().is_some());
    }

    #[test]
    fn cancel_handed_reader_releases_its_share() {
        let l = RwLock::new(0);
        let w0 = l.try_write().unwrap();
        let mut r1 = spawn(l.read());
        let mut r2 = spawn(l.read());
        let mut w = spawn(l.write());
        assert_pending!(r1.poll());
        assert_pending!(r2.poll());
        assert_pending!(w.poll());
        drop(w0);
        drop(r1);
        assert!(!w.is_woken());
        drop(r2);
        assert!(w.is_woken());
        assert_ready!(w.poll());
    }

    #[test]
    fn write_then_read_sees_value() {
        crate::block_on(async {
            let l = RwLock::new(String::new());
            l.write().await.push_str("hello");
            assert_eq!(&*l.read().await, "hello");
            assert_eq!(format!("{l:?}"), "RwLock { value: \"hello\", .. }");
        });
    }
}
