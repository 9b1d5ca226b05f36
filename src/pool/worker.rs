//! One worker: its identity ([`Worker`]), its inbox of remote jobs ([`Mailbox`]), and the
//! body of its thread ([`run`]).
//!
//! # Invariants
//!
//! - A `Mailbox` is shared by the worker thread and every thread that calls `spawn_on`.
//!   Other threads only push jobs and set `stop`; only the worker takes jobs and sets
//!   `closed`. Its `Mutex` is never held while user code runs.
//! - Once `stop` or `closed` is set, `push` refuses every job, so nothing enters an inbox
//!   that its worker will not look at again.
//! - The worker's executor, reactor and every future it runs stay on the worker thread and
//!   are dropped there, in the order [`run`] documents.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use super::PoolHandle;
use super::affinity;
use crate::LocalExecutor;
use crate::reactor::Reactor;

/// A remote job: called on its worker, inside the worker's executor, to spawn its task.
pub(crate) type Job = Box<dyn FnOnce(&LocalExecutor<'static>) + Send + 'static>;

/// The hook run on each worker thread before its main future starts.
pub(crate) type StartHook = Arc<dyn Fn(&Worker) + Send + Sync + 'static>;

/// What a worker thread returns: `Err` carries the payload of a panic of its main future
/// (or of `on_thread_start`, or of its closure).
pub(crate) type Exit = Result<(), Box<dyn Any + Send + 'static>>;

/// The identity of a pool worker, handed to the closure passed to
/// [`Builder::spawn`](super::Builder::spawn).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let pool = solo::pool::Builder::new()
///     .threads(2)
///     .spawn(move |worker| async move {
///         tx.send((worker.index(), worker.count())).unwrap();
///     })
///     .unwrap();
/// pool.join().unwrap();
/// let mut seen: Vec<_> = rx.iter().collect();
/// seen.sort();
/// assert_eq!(seen, [(0, 2), (1, 2)]);
/// ```
#[derive(Clone)]
pub struct Worker {
    index: usize,
    pool: PoolHandle,
}

impl Worker {
    pub(crate) fn new(index: usize, pool: PoolHandle) -> Self {
        Worker { index, pool }
    }

    /// This worker's index, from `0` to `count() - 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(3)
    ///     .spawn(|worker| async move { assert!(worker.index() < 3) })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of workers in the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .spawn(|worker| async move { assert_eq!(worker.count(), 2) })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn count(&self) -> usize {
        self.pool.workers()
    }

    /// A handle to the pool, to send jobs to the other workers (or to this one).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .spawn(|worker| async move {
    ///         if worker.index() == 0 {
    ///             let peer = worker.pool().spawn_on(1, || async { "from 1" });
    ///             assert_eq!(peer.await.unwrap(), "from 1");
    ///             worker.pool().request_shutdown();
    ///         } else {
    ///             std::future::pending::<()>().await; // serve jobs until shutdown
    ///         }
    ///     })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn pool(&self) -> &PoolHandle {
        &self.pool
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("count", &self.count())
            .finish()
    }
}

/// The inbox of one worker.
pub(crate) struct Mailbox {
    state: Mutex<MailboxState>,
}

struct MailboxState {
    jobs: VecDeque<Job>,
    /// The waker of the worker's inbox loop while it waits for jobs.
    waker: Option<Waker>,
    /// Set by `request_stop` (any thread): the worker leaves its loop at its next look, and
    /// no job is accepted any more. Never cleared.
    stop: bool,
    /// Set by the worker as it exits (or fails to start). Never cleared.
    closed: bool,
}

/// What the inbox loop found.
enum Mail {
    Jobs,
    Stop,
}

impl Mailbox {
    pub(crate) fn new() -> Self {
        Mailbox {
            state: Mutex::new(MailboxState {
                jobs: VecDeque::new(),
                waker: None,
                stop: false,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        // No user code runs under the lock; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` and wakes the worker, or gives the job back if the worker is stopping or
    /// gone.
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.stop || state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Asks the worker to stop and refuses further jobs.
    pub(crate) fn request_stop(&self) {
        let mut state = self.lock();
        state.stop = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the worker runs and accepts jobs.
    pub(crate) fn is_open(&self) -> bool {
        let state = self.lock();
        !state.stop && !state.closed
    }

    /// Worker only: refuses further jobs and returns the queued ones, for the caller to drop
    /// outside the lock.
    fn close(&self) -> VecDeque<Job> {
        let mut state = self.lock();
        state.closed = true;
        let waker = state.waker.take();
        let jobs = std::mem::take(&mut state.jobs);
        drop(state);
        drop(waker);
        jobs
    }

    /// Worker only: runs queued jobs as they arrive, until a stop is requested.
    async fn serve(&self, ex: &LocalExecutor<'static>) {
        let mut batch = VecDeque::new();
        loop {
            let mail = poll_fn(|cx| {
                let mut state = self.lock();
                if state.stop {
                    return Poll::Ready(Mail::Stop);
                }
                if !state.jobs.is_empty() {
                    std::mem::swap(&mut state.jobs, &mut batch);
                    return Poll::Ready(Mail::Jobs);
                }
                let stale = match &state.waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => state.waker.replace(cx.waker().clone()),
                };
                drop(state);
                drop(stale);
                Poll::Pending
            })
            .await;
            match mail {
                Mail::Stop => return,
                // Each job only spawns its task (and calls the user's closure to build the
                // future): no job blocks the loop for long.
                Mail::Jobs => batch.drain(..).for_each(|job| job(ex)),
            }
        }
    }
}

/// What a worker thread needs besides the user's closure.
pub(crate) struct Start {
    pub(crate) worker: Worker,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) pin_to_core: bool,
    pub(crate) on_start: Option<StartHook>,
    /// Receives the outcome of the start-up steps that can fail with an `io::Error`.
    pub(crate) ready: mpsc::Sender<io::Result<()>>,
}

/// The body of a worker thread.
///
/// 1. Start-up: pin the thread (if asked) and create its reactor; report the outcome on
///    `ready`. On failure, close the inbox and return.
/// 2. Run `on_thread_start`, then `block_on` the main future together with the inbox loop,
///    until the main future returns or panics, or a stop is requested. The main future is
///    dropped as `block_on` returns.
/// 3. Close the inbox: queued jobs are dropped unstarted (`WorkerGone`).
/// 4. Drop the executor: every task still alive (remote jobs, `spawn_local` tasks) is dropped
///    here, on this thread (`Cancelled`).
pub(crate) fn run<F, Fut>(start: Start, make: F) -> Exit
where
    F: FnOnce(Worker) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let Start {
        worker,
        mailbox,
        pin_to_core,
        on_start,
        ready,
    } = start;
    let setup = (|| {
        if pin_to_core {
            affinity::pin_current_thread(worker.index())?;
        }
        Reactor::current().map(drop)
    })();
    let failed = setup.is_err();
    // The builder waits for every worker's report; it may have given up already.
    let _ = ready.send(setup);
    drop(ready);
    if failed {
        drop(mailbox.close());
        return Ok(());
    }

    let ex = LocalExecutor::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // The hook and `make` run inside `block_on`, so that a `spawn_local` in them lands on
        // this executor (outside any `block_on` it would land on the thread's default
        // executor, which nothing here runs).
        ex.block_on(async {
            if let Some(hook) = &on_start {
                hook(&worker);
            }
            let main = make(worker);
            futures_lite::future::or(main, mailbox.serve(&ex)).await;
        });
    }));
    // Shutdown order: refuse new jobs and drop the queued ones, then every task.
    let queued = mailbox.close();
    let dropped = catch_unwind(AssertUnwindSafe(move || {
        drop(queued);
        drop(ex);
    }));
    outcome.and(dropped)
}
