//! A channel for sending one value between tasks on one thread.
//!
//! # Invariants
//!
//! - Both halves share one `Rc<Shared>`; the value, both wakers and the "gone" flags live in
//!   `Cell`s. Halves are `!Send` because of the `Rc`. No `RefCell` (no borrow flag to set and
//!   clear on every access): state changes are `Cell` takes and sets, and a waker is woken or
//!   a value dropped only once the channel's state is final.
//! - `TX_GONE` is set when the [`Sender`] is dropped or consumed by [`Sender::send`];
//!   `RX_CLOSED` when the [`Receiver`] is dropped or [`Receiver::close`]d. Neither is ever
//!   cleared.
//! - A value is stored only while `RX_CLOSED` is clear; a value sent before `close` can
//!   still be taken with [`Receiver::try_recv`] or by awaiting the receiver.
//! - A value still stored when the receiver is dropped is dropped right there, after the
//!   channel is marked closed, on the receiver's thread.
//! - A round trip costs one allocation (the `Rc`). A half parked by a solo task keeps a
//!   `TaskRef` (the task's slot in its executor, no atomic reference count; see
//!   `executor/task.rs`), any other waker is cloned; re-polling with the same task's waker
//!   keeps what is stored (`will_wake`).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::waiters::Wakeup;

/// Creates a connected sender and receiver for one value.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, rx) = solo::sync::oneshot::channel();
///     let task = solo::spawn_local(async move { tx.send(42).unwrap() });
///     assert_eq!(rx.await, Ok(42));
///     task.await;
/// });
/// ```
#[must_use = "dropping both halves closes the channel at once"]
#[inline]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: Cell::new(None),
        flags: Cell::new(0),
        rx_waker: Cell::new(None),
        tx_waker: Cell::new(None),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sender was dropped or consumed.
const TX_GONE: u8 = 1;
/// The receiver was dropped or closed.
const RX_CLOSED: u8 = 2;

struct Shared<T> {
    value: Cell<Option<T>>,
    /// `TX_GONE` and `RX_CLOSED`.
    flags: Cell<u8>,
    /// Woken when a value is sent or the sender goes away.
    rx_waker: Cell<Option<Wakeup>>,
    /// Woken when the receiver closes (see [`Sender::closed`]).
    tx_waker: Cell<Option<Wakeup>>,
}

impl<T> Shared<T> {
    #[inline]
    fn is(&self, flag: u8) -> bool {
        self.flags.get() & flag != 0
    }

    #[inline]
    fn set(&self, flag: u8) {
        self.flags.set(self.flags.get() | flag);
    }
}

/// Stores a way to wake `waker`'s task in `slot`, unless the stored one already wakes it.
#[inline]
fn register(slot: &Cell<Option<Wakeup>>, waker: &Waker) {
    match slot.take() {
        Some(old) if old.will_wake(waker) => slot.set(Some(old)),
        old => {
            slot.set(Some(Wakeup::new(waker)));
            // Dropped once the new one is in place: a waker's destructor is foreign code.
            drop(old);
        }
    }
}

/// Wakes the task registered in `slot`, if any.
#[inline]
fn wake(slot: &Cell<Option<Wakeup>>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}

/// Sends the value; consumed by [`send`](Sender::send).
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = solo::sync::oneshot::channel();
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender.
    ///
    /// # Errors
    ///
    /// Returns `value` back if the receiver was dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    #[inline]
    pub fn send(self, value: T) -> Result<(), T> {
        let shared = &*self.shared;
        if shared.is(RX_CLOSED) {
            return Err(value);
        }
        shared.value.set(Some(value));
        // Marked gone here, so the receiver sees a final state when it wakes; `Drop` then
        // finds nothing left to do.
        shared.set(TX_GONE);
        wake(&shared.rx_waker);
        Ok(())
    }

    /// True once the receiver has been dropped or closed; a `send` would fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = solo::sync::oneshot::channel::<()>();
    /// assert!(!tx.is_closed());
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is(RX_CLOSED)
    }

    /// Waits until the receiver is dropped or closed.
    ///
    /// Useful to abandon computing a value nobody wants any more.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is consumed.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let (mut tx, rx) = solo::sync::oneshot::channel::<u8>();
    ///     let task = solo::spawn_local(async move { drop(rx) });
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    ///     task.await;
    /// });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { tx: self }
    }

    /// Polls for the receiver being closed; registers `cx`'s waker if it is not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// solo::block_on(async {
    ///     let (mut tx, rx) = solo::sync::oneshot::channel::<u8>();
    ///     drop(rx);
    ///     poll_fn(|cx| tx.poll_closed(cx)).await;
    /// });
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.is(RX_CLOSED) {
            return Poll::Ready(());
        }
        register(&self.shared.tx_waker, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    #[inline]
    fn drop(&mut self) {
        // Already gone: consumed by a `send`, which did the rest.
        if self.shared.is(TX_GONE) {
            return;
        }
        self.shared.set(TX_GONE);
        wake(&self.shared.rx_waker);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Sender::closed`]; see there for an example.
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    tx: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.tx.poll_closed(cx)
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").finish_non_exhaustive()
    }
}

/// Receives the value; a future resolving to it.
///
/// # Cancel safety
///
/// Awaiting `&mut rx` is cancel-safe: the value is only taken out when the poll returns it.
/// Dropping the `Receiver` itself closes the channel and drops any value already sent.
///
/// Polling again after it returned a value yields `Err(RecvError)`.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, mut rx) = solo::sync::oneshot::channel();
///     tx.send("v").unwrap();
///     assert_eq!((&mut rx).await, Ok("v"));
/// });
/// ```
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing was sent yet; [`TryRecvError::Closed`] if nothing
    /// will ever come (sender gone, channel closed, or the value was already taken).
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::sync::oneshot::{channel, TryRecvError};
    ///
    /// let (tx, mut rx) = channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send("hi").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("hi"));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.shared.value.take() {
            Some(value) => Ok(value),
            None if self.shared.is(TX_GONE | RX_CLOSED) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel: later `send`s fail, [`Sender::closed`] resolves. A value sent
    /// before can still be received.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = solo::sync::oneshot::channel::<i32>();
    /// rx.close();
    /// assert_eq!(tx.send(5), Err(5));
    /// assert!(rx.try_recv().is_err());
    /// ```
    pub fn close(&mut self) {
        self.shared.set(RX_CLOSED);
        wake(&self.shared.tx_waker);
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &*self.shared;
        if let Some(value) = shared.value.take() {
            return Poll::Ready(Ok(value));
        }
        if shared.is(TX_GONE | RX_CLOSED) {
            return Poll::Ready(Err(RecvError(())));
        }
        register(&shared.rx_waker, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    #[inline]
    fn drop(&mut self) {
        let shared = &*self.shared;
        let sender_gone = shared.is(TX_GONE);
        shared.set(RX_CLOSED);
        // The value's destructor may touch this channel: the state is final by now.
        drop(shared.value.take());
        // With the sender gone, nobody waits in `Sender::closed`.
        if !sender_gone {
            wake(&shared.tx_waker);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Error from awaiting a [`Receiver`]: the sender went away without sending.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, rx) = solo::sync::oneshot::channel::<u8>();
///     drop(tx);
///     assert_eq!(rx.await.unwrap_err().to_string(), "oneshot sender dropped without sending");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl Error for RecvError {}

/// Error from [`Receiver::try_recv`].
///
/// # Examples
///
/// ```
/// use solo::sync::oneshot::{channel, TryRecvError};
/// let (tx, mut rx) = channel::<u8>();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; one may still come.
    Empty,
    /// No value will ever come.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "oneshot channel empty",
            Self::Closed => "oneshot channel closed",
        })
    }
}

impl Error for TryRecvError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio_test::task::spawn;
    use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_err};

    struct DropCount(Rc<Cell<usize>>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn send_wakes_pending_receiver() {
        let (tx, rx) = channel();
        let mut rx = spawn(rx);
        assert_pending!(rx.poll());
        tx.send(7).unwrap();
        assert!(rx.is_woken());
        assert_ready_eq!(rx.poll(), Ok(7));
        // After completion: no second value.
        assert_ready_err!(rx.poll());
    }

    #[test]
    fn sender_dropped_without_send_wakes_receiver_with_error() {
        let (tx, rx) = channel::<u8>();
        let mut rx = spawn(rx);
        assert_pending!(rx.poll());
        drop(tx);
        assert!(rx.is_woken());
        assert_ready_err!(rx.poll());
    }

    #[test]
    fn close_then_value_sent_before_is_still_received() {
        let (tx, mut rx) = channel();
        tx.send(1).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(1));
    }

    #[test]
    fn closed_future_resolves_on_receiver_drop_and_close() {
        let (mut tx, rx) = channel::<u8>();
        {
            let mut closed = spawn(tx.closed());
            assert_pending!(closed.poll());
            drop(rx);
            assert!(closed.is_woken());
            assert_ready!(closed.poll());
        }
        let (mut tx2, mut rx2) = channel::<u8>();
        let mut closed = spawn(tx2.closed());
        assert_pending!(closed.poll());
        rx2.close();
        assert!(closed.is_woken());
        assert_ready!(closed.poll());
        drop(closed);
        assert_eq!(tx.send(1), Err(1));
        assert_eq!(tx2.send(2), Err(2));
    }

    #[test]
    fn cancelled_receive_loses_nothing() {
        let (tx, mut rx) = channel();
        {
            let mut recv = spawn(&mut rx);
            assert_pending!(recv.poll());
        }
        tx.send(3).unwrap();
        assert_eq!(rx.try_recv(), Ok(3));
    }

    #[test]
    fn cancelled_closed_then_receiver_drop_wakes_the_next_closed_future() {
        let (mut tx, rx) = channel::<u8>();
        {
            let mut closed = spawn(tx.closed());
            assert_pending!(closed.poll());
        }
        // The cancelled future's waker is stale; a new one registers its own.
        let mut closed = spawn(tx.closed());
        assert_pending!(closed.poll());
        drop(rx);
        assert!(closed.is_woken());
        assert_ready!(closed.poll());
    }

    #[test]
    fn unreceived_value_dropped_exactly_once_when_receiver_drops() {
        let drops = Rc::new(Cell::new(0));
        let (tx, rx) = channel();
        tx.send(DropCount(drops.clone()))
            .unwrap_or_else(|_| panic!());
        assert_eq!(drops.get(), 0);
        drop(rx);
        assert_eq!(drops.get(), 1);
        // Rejected values come back to the caller, who drops them once.
        let (tx, rx) = channel();
        drop(rx);
        let back = tx.send(DropCount(drops.clone())).err().unwrap();
        assert_eq!(drops.get(), 1);
        drop(back);
        assert_eq!(drops.get(), 2);
    }

    /// A receiver shared outside the task that waits on it, so it outlives that task.
    type SharedRx = Rc<std::cell::RefCell<Receiver<u8>>>;

    /// Polls the shared receiver once from inside a task; `Some` once it is ready.
    fn poll_shared(rx: &SharedRx, cx: &mut Context<'_>) -> Option<Result<u8, RecvError>> {
        match Pin::new(&mut *rx.borrow_mut()).poll(cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    /// A task parked on a receiver on its second poll (once the executor tracks it, so the
    /// channel keeps its slot rather than a waker clone) is woken by the send.
    #[test]
    fn tracked_task_is_woken_through_its_slot() {
        let ex = crate::LocalExecutor::new();
        let (tx, rx) = channel();
        let task = ex.spawn(async move {
            crate::yield_now().await;
            rx.await
        });
        ex.run_until_stalled();
        assert!(!task.is_finished());
        tx.send(5).unwrap();
        assert_eq!(ex.run_until_stalled(), 1);
        assert_eq!(ex.block_on(task), Ok(5));
    }

    /// The parked task is cancelled and another task takes over its slot: a send on the old
    /// task's channel must not wake the newcomer.
    #[test]
    fn send_after_the_parked_task_is_gone_wakes_nobody_else() {
        let ex = crate::LocalExecutor::new();
        let (tx, rx) = channel();
        let rx: SharedRx = Rc::new(std::cell::RefCell::new(rx));
        let first = ex.spawn({
            let rx = rx.clone();
            async move {
                crate::yield_now().await;
                std::future::poll_fn(|cx| poll_shared(&rx, cx).map_or(Poll::Pending, Poll::Ready))
                    .await
            }
        });
        ex.run_until_stalled();
        drop(first); // cancelled: its future is dropped, its slot freed
        ex.run_until_stalled();
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let _second = ex.spawn(std::future::poll_fn(move |_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        }));
        ex.run_until_stalled();
        assert_eq!(polls.get(), 1);
        tx.send(1).unwrap();
        assert_eq!(ex.run_until_stalled(), 0, "nobody is woken");
        assert_eq!(polls.get(), 1);
        assert_eq!(rx.borrow_mut().try_recv(), Ok(1));
    }

    /// The executor is dropped while its task waits: a later send is a no-op wake.
    #[test]
    fn send_after_the_executor_is_dropped_is_a_noop() {
        let (tx, rx) = channel();
        let rx: SharedRx = Rc::new(std::cell::RefCell::new(rx));
        {
            let ex = crate::LocalExecutor::new();
            let rx = rx.clone();
            ex.spawn(async move {
                crate::yield_now().await;
                std::future::poll_fn(|cx| poll_shared(&rx, cx).map_or(Poll::Pending, Poll::Ready))
                    .await
            })
            .detach();
            ex.run_until_stalled();
        }
        tx.send(2).unwrap();
        assert_eq!(rx.borrow_mut().try_recv(), Ok(2));
    }

    /// Inside a task, a receiver polled with some other waker (a combinator's) keeps a clone
    /// of that waker and wakes it, not the task.
    #[test]
    fn foreign_waker_inside_a_task_is_cloned_and_woken() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let ex = crate::LocalExecutor::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let (tx, rx) = channel::<u8>();
        let rx: SharedRx = Rc::new(std::cell::RefCell::new(rx));
        let c = count.clone();
        let r = rx.clone();
        let task = ex.spawn(async move {
            crate::yield_now().await;
            let foreign = Waker::from(c);
            assert!(poll_shared(&r, &mut Context::from_waker(&foreign)).is_none());
        });
        ex.block_on(task);
        tx.send(3).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(rx.borrow_mut().try_recv(), Ok(3));
    }

    /// A task that ran a nested `block_on` (whose own tasks published themselves meanwhile)
    /// is still woken correctly afterwards.
    #[test]
    fn tracked_task_after_a_nested_block_on_is_woken() {
        let ex = crate::LocalExecutor::new();
        let (tx, rx) = channel();
        let task = ex.spawn(async move {
            crate::yield_now().await;
            let inner = crate::LocalExecutor::new();
            let (itx, irx) = channel();
            let waiter = inner.spawn(async move {
                crate::yield_now().await;
                irx.await
            });
            inner.spawn(async move { itx.send(9).unwrap() }).detach();
            assert_eq!(inner.block_on(waiter), Ok(9));
            rx.await
        });
        ex.run_until_stalled();
        assert!(!task.is_finished());
        tx.send(4).unwrap();
        assert_eq!(ex.block_on(task), Ok(4));
    }

    #[test]
    fn receiver_in_a_spawned_task() {
        crate::block_on(async {
            let (tx, rx) = channel();
            let t = crate::spawn_local(rx);
            futures_lite::future::yield_now().await;
            tx.send("x").unwrap();
            assert_eq!(t.await, Ok("x"));
        });
    }
}
