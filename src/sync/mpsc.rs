//! Multi-producer, single-consumer channels between tasks on one thread.
//!
//! [`channel`] is bounded: a full channel makes [`Sender::send`] wait (back-pressure).
//! [`unbounded`] never waits; each message costs one push into a `VecDeque` (amortised, no
//! per-message allocation).
//!
//! # Invariants
//!
//! - All handles share one `Rc<RefCell<State>>`; handles are `!Send` because of the `Rc`.
//! - Bounded capacity is shared by the buffer and by *reserved slots*:
//!   `buf.len() + reserved <= capacity`. When the receiver frees a slot and a sender is
//!   queued, the slot is reserved for the first queued sender (`reserved += 1`) and that
//!   sender is woken; its next poll turns the reservation into a buffered message. A
//!   sender whose `send` is dropped while holding a reservation gives it to the next queued
//!   sender. So a slot is never lost and a wake-up never swallowed.
//! - A new `send` takes a slot directly only if no sender is queued: senders are FIFO.
//! - `senders` counts live [`Sender`] handles; at zero the receiver drains the buffer and
//!   then sees the end. `rx_closed` is set by [`Receiver::close`] or dropping the
//!   [`Receiver`]; from then every send fails with the value handed back, and queued
//!   senders are woken to collect their error.
//! - Messages still buffered when the receiver is dropped are dropped right there, outside
//!   the borrow (a message's destructor may use this channel).

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::waiters::{Key, Waiters, WakeList, Wakeup, register};

/// Creates a bounded channel holding at most `capacity` messages.
///
/// # Panics
///
/// If `capacity` is 0: solo has no rendezvous channel; use capacity 1 (or a
/// [`oneshot`](super::oneshot) for a single value).
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, mut rx) = solo::sync::mpsc::channel(8);
///     let producer = solo::spawn_local(async move {
///         for i in 0..3 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2]);
///     producer.await;
/// });
/// ```
#[must_use = "dropping both halves closes the channel at once"]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "mpsc::channel(0): capacity must be at least 1 (solo has no zero-capacity rendezvous \
         channel; use capacity 1 or a oneshot)"
    );
    new(Some(capacity))
}

/// Creates an unbounded channel: sends never wait and only fail once the receiver is gone.
///
/// [`Sender::try_send`] is the natural way to send on it (it never returns `Full`);
/// `send(..).await` also works and completes on its first poll.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = solo::sync::mpsc::unbounded();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(rx.try_recv(), Ok(0));
/// ```
#[must_use = "dropping both halves closes the channel at once"]
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(None)
}

fn new<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(State {
        buf: VecDeque::new(),
        capacity,
        reserved: 0,
        senders: 1,
        rx_closed: false,
        rx_waker: None,
        send_waiters: Waiters::new(),
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct State<T> {
    buf: VecDeque<T>,
    /// `None` for unbounded channels.
    capacity: Option<usize>,
    /// Slots handed to woken senders that have not pushed yet.
    reserved: usize,
    /// Live `Sender` handles.
    senders: usize,
    /// Set by `Receiver::close` or drop; never cleared.
    rx_closed: bool,
    rx_waker: Option<Wakeup>,
    /// Blocked senders; `true` once a slot is reserved for that sender.
    send_waiters: Waiters<bool>,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.capacity
            .is_none_or(|cap| self.buf.len() + self.reserved < cap)
    }

    /// Reserves free slots for queued senders, first come first served.
    fn dispatch(&mut self, wakers: &mut WakeList) {
        while !self.rx_closed && self.has_room() {
            let Some(reserved) = self.send_waiters.pop_front(wakers) else {
                break;
            };
            *reserved = true;
            self.reserved += 1;
        }
    }

    /// After the receiver took a message: hands the freed slot to the first blocked sender,
    /// if any, and wakes it. Takes the borrow so that it can release it before waking.
    fn freed_slot(mut state: RefMut<'_, Self>) {
        // The common case (nobody blocked: every unbounded channel, and bounded ones that are
        // not full) costs one comparison: no wake list, no call.
        if state.send_waiters.is_empty() {
            return;
        }
        let mut wakers = WakeList::new();
        state.dispatch(&mut wakers);
        drop(state);
        wakers.wake_all();
    }

    /// Buffers a message; returns the receiver's waker to wake after the borrow ends.
    fn push(&mut self, value: T) -> Option<Wakeup> {
        self.buf.push_back(value);
        self.rx_waker.take()
    }
}

fn wake(waker: Option<Wakeup>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Sends messages into the channel; cheap to clone.
///
/// When the last `Sender` is dropped, the receiver sees `None` after the buffered messages.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = solo::sync::mpsc::unbounded();
/// let tx2 = tx.clone();
/// tx.try_send(1).unwrap();
/// tx2.try_send(2).unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert_eq!(rx.try_recv(), Ok(2));
/// assert!(rx.try_recv().is_err());
/// ```
pub struct Sender<T> {
    shared: Rc<RefCell<State<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot if a bounded channel is full.
    ///
    /// Blocked senders are served in FIFO order.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver is closed or dropped, including while
    /// waiting.
    ///
    /// # Cancel safety
    ///
    /// Dropping the [`Send`] future before it completes guarantees the message was **not**
    /// sent; the message is dropped with the future. The slot it may have been reserved is
    /// passed to the next waiting sender. (To keep the value, use
    /// [`try_send`](Self::try_send), which hands it back.)
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let (tx, mut rx) = solo::sync::mpsc::channel(1);
    ///     tx.send("a").await.unwrap();
    ///     assert_eq!(rx.recv().await, Some("a"));
    /// });
    /// ```
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            tx: self,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` if a slot is free now and no sender is queued.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the bounded channel has no free slot (or senders are
    /// queued); [`TrySendError::Closed`] if the receiver is closed or dropped. Both hand
    /// the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::sync::mpsc::{channel, TrySendError};
    ///
    /// let (tx, rx) = channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let waker = {
            let mut state = self.shared.borrow_mut();
            if state.rx_closed {
                return Err(TrySendError::Closed(value));
            }
            if !state.send_waiters.is_empty() || !state.has_room() {
                return Err(TrySendError::Full(value));
            }
            state.push(value)
        };
        wake(waker);
        Ok(())
    }

    /// True once the receiver is closed or dropped; every send would fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::mpsc::unbounded::<()>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().rx_closed
    }

    /// True if both senders feed the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _rx) = solo::sync::mpsc::unbounded::<()>();
    /// let (c, _rx2) = solo::sync::mpsc::unbounded::<()>();
    /// assert!(a.same_channel(&a.clone()));
    /// assert!(!a.same_channel(&c));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.borrow_mut();
            state.senders -= 1;
            if state.senders == 0 {
                state.rx_waker.take()
            } else {
                None
            }
        };
        wake(waker);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Sender::send`]; see there for an example and its cancel safety.
#[must_use = "futures do nothing unless polled"]
pub struct Send<'a, T> {
    tx: &'a Sender<T>,
    /// The message; taken when the future completes.
    value: Option<T>,
    /// Our place among blocked senders.
    key: Option<Key>,
}

// The message is never pinned: it is only moved into the buffer or handed back.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.tx.shared.borrow_mut();
        match this.key {
            None => {
                let must_wait =
                    !state.rx_closed && (!state.send_waiters.is_empty() || !state.has_room());
                if must_wait {
                    this.key = Some(state.send_waiters.push_back(false, cx.waker()));
                    return Poll::Pending;
                }
            }
            Some(key) if state.send_waiters.is_linked(key) => {
                state.send_waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            Some(key) => {
                // Unlinked: either a slot was reserved for us, or the receiver closed.
                this.key = None;
                if state.send_waiters.remove(key).1 {
                    state.reserved -= 1;
                }
            }
        }
        let value = this.value.take().expect("`Send` polled after completion");
        if state.rx_closed {
            drop(state);
            return Poll::Ready(Err(SendError(value)));
        }
        let waker = state.push(value);
        drop(state);
        wake(waker);
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut wakers = WakeList::new();
        {
            let mut state = self.tx.shared.borrow_mut();
            if state.send_waiters.remove(key).1 {
                // A slot was reserved for us: hand it to the next blocked sender.
                state.reserved -= 1;
                state.dispatch(&mut wakers);
            }
        }
        wakers.wake_all();
        // `self.value` (the unsent message) is dropped after this, outside any borrow.
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Receives messages from the channel; also a [`Stream`].
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, mut rx) = solo::sync::mpsc::channel(2);
///     tx.send(1).await.unwrap();
///     assert_eq!(rx.len(), 1);
///     assert_eq!(rx.recv().await, Some(1));
/// });
/// ```
pub struct Receiver<T> {
    shared: Rc<RefCell<State<T>>>,
}

impl<T> Receiver<T> {
    /// Waits for the next message; `None` once every sender is gone (or the receiver was
    /// closed) and the buffer is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is removed from the channel only by the poll that returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let (tx, mut rx) = solo::sync::mpsc::unbounded();
    ///     tx.try_send(1).unwrap();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// Polls for the next message; registers `cx`'s waker if there is none yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// solo::block_on(async {
    ///     let (tx, mut rx) = solo::sync::mpsc::unbounded();
    ///     tx.try_send('x').unwrap();
    ///     assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some('x'));
    /// });
    /// ```
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.borrow_mut();
        if let Some(value) = state.buf.pop_front() {
            State::freed_slot(state);
            return Poll::Ready(Some(value));
        }
        if state.senders == 0 || state.rx_closed {
            return Poll::Ready(None);
        }
        register(&mut state.rx_waker, cx.waker());
        Poll::Pending
    }

    /// Takes the next message if one is buffered.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is buffered but senders remain;
    /// [`TryRecvError::Disconnected`] if nothing is buffered and nothing can ever arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::sync::mpsc::{unbounded, TryRecvError};
    ///
    /// let (tx, mut rx) = unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.borrow_mut();
        if let Some(value) = state.buf.pop_front() {
            State::freed_slot(state);
            return Ok(value);
        }
        if state.senders == 0 || state.rx_closed {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel without dropping buffered messages: later sends fail, blocked
    /// senders wake with their value handed back, and `recv` drains what is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// solo::block_on(async {
    ///     let (tx, mut rx) = solo::sync::mpsc::channel(4);
    ///     tx.send(1).await.unwrap();
    ///     rx.close();
    ///     assert!(tx.send(2).await.is_err());
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn close(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.shared.borrow_mut();
            state.rx_closed = true;
            state.send_waiters.drain(&mut wakers, |_| {});
        }
        wakers.wake_all();
    }

    /// Number of buffered messages.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = solo::sync::mpsc::channel(3);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.borrow().buf.len()
    }

    /// True if no message is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = solo::sync::mpsc::channel::<u8>(3);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.borrow().buf.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        let buffered = {
            let mut state = self.shared.borrow_mut();
            state.rx_closed = true;
            state.send_waiters.drain(&mut wakers, |_| {});
            std::mem::take(&mut state.buf)
        };
        // Message destructors run outside the borrow.
        drop(buffered);
        wakers.wake_all();
    }
}

/// Yields messages until the channel is empty and closed.
///
/// ```
/// use futures_lite::StreamExt;
/// solo::block_on(async {
///     let (tx, rx) = solo::sync::mpsc::unbounded();
///     tx.try_send(1).unwrap();
///     tx.try_send(2).unwrap();
///     drop(tx);
///     assert_eq!(rx.collect::<Vec<_>>().await, [1, 2]);
/// });
/// ```
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let state = self.shared.borrow();
        let len = state.buf.len();
        let ended = state.senders == 0 || state.rx_closed;
        (len, ended.then_some(len))
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Receiver::recv`]; see there for an example.
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

/// Error from [`Sender::send`]: the receiver is gone; holds the unsent message.
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (tx, rx) = solo::sync::mpsc::channel(1);
///     drop(rx);
///     let err = tx.send(9).await.unwrap_err();
///     assert_eq!(err.0, 9);
///     assert_eq!(err.to_string(), "sending on a closed channel");
/// });
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
        f.write_str("sending on a closed channel")
    }
}

impl<T> Error for SendError<T> {}

/// Error from [`Sender::try_send`]; holds the unsent message.
///
/// # Examples
///
/// ```
/// use solo::sync::mpsc::{channel, TrySendError};
/// let (tx, _rx) = channel(1);
/// tx.try_send(1).unwrap();
/// let err = tx.try_send(2).unwrap_err();
/// assert!(matches!(err, TrySendError::Full(_)));
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The bounded channel has no free slot, or other senders are queued.
    Full(T),
    /// The receiver is closed or dropped.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// Returns the unsent message.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = solo::sync::mpsc::TrySendError::Closed("m");
    /// assert_eq!(err.into_inner(), "m");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "channel full",
            Self::Closed(_) => "sending on a closed channel",
        })
    }
}

impl<T> Error for TrySendError<T> {}

/// Error from [`Receiver::try_recv`].
///
/// # Examples
///
/// ```
/// use solo::sync::mpsc::{channel, TryRecvError};
/// let (_tx, mut rx) = channel::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing buffered; senders remain.
    Empty,
    /// Nothing buffered and nothing can arrive.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "channel empty",
            Self::Disconnected => "channel empty and disconnected",
        })
    }
}

impl Error for TryRecvError {}

#[cfg(test)]
mod tests;
