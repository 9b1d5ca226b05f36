//! The result of a job run on another worker: [`RemoteTask`], its error type, the one-shot
//! channel that carries the result back across threads, and the wrapper future the job runs
//! in on its worker.
//!
//! # Invariants
//!
//! - The channel is the only state the caller's thread and the worker share for one job. It
//!   holds the result (`T: Send`), two wakers and three flags, all behind one `Mutex` that is
//!   never held while user code runs (no waker is woken and no result is dropped under it).
//! - The job's future (which may be `!Send`) is created, polled and dropped only on its
//!   worker, inside [`RemoteJob`]. The caller's thread only ever sees the result.
//! - Exactly one result is stored per job: the first [`Sender::send`] wins and sets `done`;
//!   a `Sender` dropped before sending stores the error that says why (see [`Sender`]'s
//!   `Drop`), so a `RemoteTask` always resolves and never hangs.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

/// Why a [`RemoteTask`] has no output.
///
/// `Send + Sync`, so it converts into `Box<dyn Error + Send + Sync>` with `?`.
///
/// # Examples
///
/// ```
/// use solo::pool::{Builder, RemoteError};
///
/// let pool = Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
/// let task = pool.spawn_on(0, || async { panic!("oops") });
/// match futures_lite::future::block_on(task) {
///     Err(RemoteError::Panicked(panic)) => assert_eq!(panic.message(), Some("oops")),
///     other => panic!("unexpected {other:?}"),
/// }
/// pool.shutdown().unwrap();
/// ```
#[derive(Debug)]
pub enum RemoteError {
    /// The job never started: its worker had exited (its main future returned or panicked),
    /// was shutting down, or stopped before it reached the job in its inbox. The closure
    /// passed to `spawn_on` was dropped without being called.
    WorkerGone,
    /// The job started but was dropped before it finished: its `RemoteTask` was cancelled
    /// ([`RemoteTask::cancel`]), or its worker stopped (pool shutdown, or the worker's main
    /// future returned or panicked). The job's future was dropped on its worker thread.
    Cancelled,
    /// The job panicked, in the closure or in its future. The worker kept running.
    Panicked(CaughtPanic),
}

impl RemoteError {
    /// The panic message, when the job panicked with a string message.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let task = pool.spawn_on(0, || async { panic!("boom {}", 1) });
    /// let err = futures_lite::future::block_on(task).unwrap_err();
    /// assert_eq!(err.panic_message(), Some("boom 1"));
    /// assert_eq!(solo::pool::RemoteError::Cancelled.panic_message(), None);
    /// # pool.shutdown().unwrap();
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            RemoteError::Panicked(panic) => panic.message(),
            _ => None,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::WorkerGone => f.write_str("the worker had stopped; the job never ran"),
            RemoteError::Cancelled => f.write_str("the job was cancelled before it finished"),
            RemoteError::Panicked(panic) => match panic.message() {
                Some(msg) => write!(f, "the job panicked: {msg}"),
                None => f.write_str("the job panicked"),
            },
        }
    }
}

impl std::error::Error for RemoteError {}

/// A panic caught on a worker: its message and its payload.
///
/// The payload is kept behind a `Mutex` so that the error types holding it are `Sync`.
///
/// # Examples
///
/// ```
/// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
/// let task = pool.spawn_on(0, || async { std::panic::panic_any(7u32) });
/// let Err(solo::pool::RemoteError::Panicked(panic)) = futures_lite::future::block_on(task) else {
///     unreachable!()
/// };
/// assert_eq!(panic.message(), None); // not a string
/// assert_eq!(panic.into_payload().downcast_ref::<u32>(), Some(&7));
/// # pool.shutdown().unwrap();
/// ```
pub struct CaughtPanic {
    message: Option<String>,
    payload: Mutex<Box<dyn Any + Send + 'static>>,
}

impl CaughtPanic {
    pub(crate) fn new(payload: Box<dyn Any + Send + 'static>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        CaughtPanic {
            message,
            payload: Mutex::new(payload),
        }
    }

    /// The panic message, if the payload is a `&str` or a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!("bad") }).unwrap();
    /// let err = pool.join().unwrap_err();
    /// assert_eq!(err.panics()[0].panic().message(), Some("bad"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The payload, e.g. for [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!("bad") }).unwrap();
    /// let panic = pool.join().unwrap_err().into_panics().remove(0).into_panic();
    /// assert_eq!(panic.into_payload().downcast_ref::<&str>(), Some(&"bad"));
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for CaughtPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CaughtPanic")
            .field(&self.message().unwrap_or("<non-string payload>"))
            .finish()
    }
}

/// The one-shot channel of one job.
struct Chan<T> {
    state: Mutex<ChanState<T>>,
}

struct ChanState<T> {
    /// The outcome, from `Sender::send` until the `RemoteTask` takes it.
    result: Option<Result<T, RemoteError>>,
    /// Set by the first `send`; never cleared. After it, later sends are ignored.
    done: bool,
    /// Set when the `RemoteTask` asks for cancellation (dropped without `detach`, or
    /// `cancel`). Can only be set before `done`; the worker then drops the future.
    cancelled: bool,
    /// Set when the `RemoteTask` is gone: a later result is dropped by the sender, on the
    /// worker thread, instead of being stored.
    receiver_gone: bool,
    /// The waker of whoever awaits the `RemoteTask`.
    receiver: Option<Waker>,
    /// The waker of the job's task on its worker, woken on cancellation.
    worker: Option<Waker>,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, ChanState<T>> {
        // Nothing panics while the lock is held (no user code runs under it), but a poisoned
        // lock must not turn a result into a second panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates the channel of one job.
pub(crate) fn channel<T>(worker: usize) -> (Sender<T>, RemoteTask<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(ChanState {
            result: None,
            done: false,
            cancelled: false,
            receiver_gone: false,
            receiver: None,
            worker: None,
        }),
    });
    let sender = Sender {
        chan: chan.clone(),
        started: false,
    };
    let task = RemoteTask {
        chan,
        worker,
        detached: false,
    };
    (sender, task)
}

/// The worker's end of a job's channel. It travels inside the job to the worker.
///
/// Dropped without sending, it stores the error that says why: [`RemoteError::Cancelled`] if
/// cancellation was asked for or the job had started (its future was dropped unfinished),
/// [`RemoteError::WorkerGone`] if the job never started (dropped from a closed inbox, or
/// refused by `spawn_on`).
pub(crate) struct Sender<T> {
    chan: Arc<Chan<T>>,
    /// Set on the worker just before the job's closure is called.
    started: bool,
}

impl<T> Sender<T> {
    /// Records that the job's closure is about to run.
    pub(crate) fn mark_started(&mut self) {
        self.started = true;
    }

    /// Whether the `RemoteTask` asked for cancellation.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.chan.lock().cancelled
    }

    /// Stores the outcome and wakes the receiver. Only the first call has an effect. If the
    /// `RemoteTask` is gone, the outcome is dropped here, on the caller's thread.
    pub(crate) fn send(&mut self, outcome: Result<T, RemoteError>) {
        let mut state = self.chan.lock();
        if state.done {
            return;
        }
        state.done = true;
        // Wakers are dropped and woken only after the lock is released.
        let worker = state.worker.take();
        if state.receiver_gone {
            drop(state);
            drop(worker);
            drop(outcome);
            return;
        }
        state.result = Some(outcome);
        let receiver = state.receiver.take();
        drop(state);
        drop(worker);
        if let Some(waker) = receiver {
            waker.wake();
        }
    }

    /// Remembers the job task's waker (for cancellation) and returns whether cancellation
    /// was asked for.
    fn poll_cancelled(&self, cx: &Context<'_>) -> bool {
        let mut state = self.chan.lock();
        if state.cancelled {
            return true;
        }
        let stale = match &state.worker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => state.worker.replace(cx.waker().clone()),
        };
        drop(state);
        drop(stale);
        false
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let state = self.chan.lock();
        if state.done {
            return;
        }
        let error = if state.cancelled || self.started {
            RemoteError::Cancelled
        } else {
            RemoteError::WorkerGone
        };
        drop(state);
        self.send(Err(error));
    }
}

pin_project! {
    /// The future a job's task runs on its worker: the user's future, with panics caught and
    /// the outcome sent back.
    ///
    /// Field order matters: `future` is declared first, so it is dropped before `sender`, and
    /// the receiver learns of a cancellation only after the future is gone.
    pub(crate) struct RemoteJob<F: Future> {
        #[pin]
        future: F,
        sender: Sender<F::Output>,
    }
}

impl<F: Future> RemoteJob<F> {
    pub(crate) fn new(future: F, sender: Sender<F::Output>) -> Self {
        RemoteJob { future, sender }
    }
}

impl<F: Future> Future for RemoteJob<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.sender.poll_cancelled(cx) {
            // Completing the task drops this wrapper, so the future is dropped now, on this
            // thread, and `Sender`'s `Drop` reports `Cancelled`.
            return Poll::Ready(());
        }
        let future = this.future;
        // A panicking job must not reach async-task (which would re-raise it only at a `Task`
        // nobody awaits): it is the job's outcome.
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                this.sender.send(Ok(output));
                Poll::Ready(())
            }
            Err(payload) => {
                this.sender
                    .send(Err(RemoteError::Panicked(CaughtPanic::new(payload))));
                Poll::Ready(())
            }
        }
    }
}

/// A handle to a job running on a pool worker: a `Send` future of its result.
///
/// Created by [`Pool::spawn_on`](super::Pool::spawn_on) and
/// [`spawn_any`](super::Pool::spawn_any). It can be awaited on any thread and by any
/// executor (solo, another runtime, or `futures_lite::future::block_on`).
///
/// Dropping a `RemoteTask` **cancels** the job: the worker drops its future (on the worker
/// thread) the next time it runs. Call [`detach`](RemoteTask::detach) to let the job run to
/// completion in the background instead.
///
/// ```compile_fail
/// // The result crosses threads, so it must be `Send`.
/// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
/// let task = pool.spawn_on(0, || async { std::rc::Rc::new(1) });
/// ```
///
/// # Cancel safety
///
/// Dropping an unfinished `RemoteTask` (for example the losing branch of a race) cancels the
/// job. To race it without cancelling, poll it through `&mut task` and keep it.
///
/// # Panics
///
/// Polling a `RemoteTask` again after it returned `Ready` panics.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let pool = solo::pool::Builder::new()
///     .threads(2)
///     .spawn(|_| std::future::pending())
///     .unwrap();
/// // The closure is `Send`; the future it returns holds an `Rc` and is not.
/// let task = pool.spawn_on(1, || async {
///     let local = Rc::new(20);
///     solo::yield_now().await;
///     *local + 1
/// });
/// assert_eq!(futures_lite::future::block_on(task).unwrap(), 21);
/// pool.shutdown().unwrap();
/// ```
#[must_use = "dropping a RemoteTask cancels the job; use .detach() to let it run"]
pub struct RemoteTask<T> {
    chan: Arc<Chan<T>>,
    /// The worker the job was queued on (`spawn_any` updates it as it looks for one).
    pub(super) worker: usize,
    /// Set by `detach`: the drop that follows does not cancel.
    detached: bool,
}

impl<T> RemoteTask<T> {
    /// The index of the worker the job was sent to.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(2).spawn(|_| std::future::pending()).unwrap();
    /// let task = pool.spawn_on(1, || async {});
    /// assert_eq!(task.worker(), 1);
    /// # futures_lite::future::block_on(task).unwrap();
    /// ```
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Whether the outcome is known (the job finished, panicked, was cancelled or never ran).
    ///
    /// # Examples
    ///
    /// ```
    /// // The worker's main future returns at once, so the worker exits.
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| async {}).unwrap();
    /// let handle = pool.handle();
    /// pool.join().unwrap();
    /// let task = handle.spawn_on(0, || async {});
    /// assert!(task.is_finished()); // refused at once
    /// ```
    pub fn is_finished(&self) -> bool {
        self.chan.lock().done
    }

    /// Lets the job run to completion in the background. Its output is dropped on the worker
    /// thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// pool.spawn_on(0, move || async move { tx.send("ran").unwrap() }).detach();
    /// assert_eq!(rx.recv().unwrap(), "ran");
    /// pool.shutdown().unwrap();
    /// ```
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Cancels the job and waits until its future has been dropped on its worker.
    ///
    /// Returns the job's outcome: `Ok` if it had already finished, otherwise an error
    /// (usually [`RemoteError::Cancelled`]).
    ///
    /// # Errors
    ///
    /// As for awaiting the task; a job that had not finished gives `Cancelled` (or
    /// `WorkerGone` if its worker stopped before reaching it).
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::pool::RemoteError;
    ///
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let task = pool.spawn_on(0, || std::future::pending::<()>());
    /// let outcome = futures_lite::future::block_on(task.cancel());
    /// assert!(matches!(outcome, Err(RemoteError::Cancelled)));
    /// pool.shutdown().unwrap();
    /// ```
    pub async fn cancel(self) -> Result<T, RemoteError> {
        let worker = {
            let mut state = self.chan.lock();
            if !state.done {
                state.cancelled = true;
            }
            state.worker.take()
        };
        if let Some(waker) = worker {
            waker.wake();
        }
        self.await
    }
}

impl<T> Future for RemoteTask<T> {
    type Output = Result<T, RemoteError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.chan.lock();
        if let Some(outcome) = state.result.take() {
            return Poll::Ready(outcome);
        }
        assert!(!state.done, "solo: RemoteTask polled after it completed");
        let stale = match &state.receiver {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => state.receiver.replace(cx.waker().clone()),
        };
        drop(state);
        drop(stale);
        Poll::Pending
    }
}

impl<T> Drop for RemoteTask<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receiver_gone = true;
        let receiver = state.receiver.take();
        let mut worker = None;
        if !self.detached && !state.done {
            state.cancelled = true;
            worker = state.worker.take();
        }
        // An unclaimed result is dropped here, after the lock is released.
        let result = state.result.take();
        drop(state);
        drop(receiver);
        drop(result);
        if let Some(waker) = worker {
            // The job's task is queued back to its worker, which drops its future there.
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteTask")
            .field("worker", &self.worker)
            .field("finished", &self.is_finished())
            .finish()
    }
}
