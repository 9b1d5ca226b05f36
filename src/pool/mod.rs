//! Thread-per-core: one independent solo runtime per thread.
//!
//! A [`Pool`] starts `n` worker threads ([`Builder`]). Each runs its own [`LocalExecutor`],
//! reactor and timers, and a *main future* made on that thread by the closure given to
//! [`Builder::spawn`]; the main future and everything it spawns may be `!Send`. There is no
//! work stealing: a task stays on the thread that spawned it. To spread connections over the
//! workers, each binds its own listener on the same port with `SO_REUSEPORT` and the kernel
//! balances them (see `examples/http_per_core.rs`).
//!
//! Work can also be sent to a worker from any thread with [`Pool::spawn_on`] /
//! [`Pool::spawn_any`]: the closure travels to the worker, which calls it there to build a
//! (possibly `!Send`) future, runs it as a local task, and sends the result back through a
//! [`RemoteTask`].
//!
//! ```
//! use std::rc::Rc;
//!
//! let pool = solo::pool::Builder::new()
//!     .threads(2)
//!     .spawn(|_worker| std::future::pending()) // workers that only run jobs
//!     .unwrap();
//! let tasks: Vec<_> = (0..4)
//!     .map(|i| pool.spawn_any(move || async move { *Rc::new(i) * 10 }))
//!     .collect();
//! let out: Vec<i32> = tasks
//!     .into_iter()
//!     .map(|t| futures_lite::future::block_on(t).unwrap())
//!     .collect();
//! assert_eq!(out, [0, 10, 20, 30]);
//! pool.shutdown().unwrap();
//! ```
//!
//! # Invariants
//!
//! - **What crosses threads:** the `make` closure (cloned once per worker, hence
//!   `Send + Clone`), each job's closure (`Send`), each job's output (`Send`), panic payloads,
//!   and wakers. All of it goes through one `Mutex` per worker inbox and one per job's
//!   result; no lock is held while user code runs.
//! - **What never does:** a worker's executor, reactor, timers, its main future and every
//!   future a job's closure returns. They are created, polled and dropped on their worker
//!   thread only, including when the pool shuts down or a job is cancelled from elsewhere.
//! - **Panics stay on their worker.** A panic in a job is caught and becomes that job's
//!   [`RemoteError::Panicked`]; the worker carries on. A panic in a main future (or in
//!   `on_thread_start`) ends that worker only; [`Pool::join`] / [`Pool::shutdown`] report
//!   it, and jobs sent to it afterwards fail with [`RemoteError::WorkerGone`].
//! - **A worker lives as long as its main future.** When the main future returns or panics,
//!   or a shutdown is requested, the worker stops. Nothing that was sent to it hangs.
//!
//! # Shutdown order
//!
//! [`Pool::shutdown`] (and dropping the [`Pool`]) **cancels**; pending work is not finished:
//!
//! 1. Every worker's inbox is marked stopping: `spawn_on` and `spawn_any` refuse new jobs at
//!    once (`WorkerGone`), from any thread.
//! 2. Each worker notices at its next scheduling point (a worker blocked in synchronous code
//!    notices only once that code returns) and leaves its `block_on`; its main future is
//!    dropped there.
//! 3. The worker closes its inbox: jobs queued but not started are dropped unstarted
//!    (`WorkerGone`; their closures are never called).
//! 4. The worker drops its executor: every task still alive on it (started jobs, whose
//!    `RemoteTask`s then resolve to `Cancelled`, and `spawn_local` tasks) is dropped, on the
//!    worker thread.
//! 5. The thread returns; `shutdown` joins every thread and reports the panics.
//!
//! [`LocalExecutor`]: crate::LocalExecutor

mod affinity;
pub(crate) use affinity::unpin_helper_thread;
mod builder;
mod remote;
mod worker;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

pub use builder::Builder;
pub use remote::{CaughtPanic, RemoteError, RemoteTask};
pub use worker::Worker;

use remote::{RemoteJob, channel};
use worker::{Exit, Job, Mailbox};

/// A running pool of worker threads, one solo runtime each.
///
/// Dropping a `Pool` shuts it down like [`shutdown`](Pool::shutdown), discarding the panic
/// reports. (Dropped on one of its own workers, it requests the shutdown and detaches the
/// threads instead of waiting for itself.)
///
/// # Examples
///
/// ```
/// let pool = solo::pool::Builder::new()
///     .threads(2)
///     .spawn(|_| std::future::pending())
///     .unwrap();
/// let task = pool.spawn_on(0, || async { std::thread::current().name().map(str::to_owned) });
/// let name = futures_lite::future::block_on(task).unwrap();
/// assert_eq!(name.as_deref(), Some("solo-worker-0"));
/// pool.shutdown().unwrap();
/// ```
pub struct Pool {
    handle: PoolHandle,
    /// One per started worker, in index order; emptied by `join_all`.
    threads: Vec<JoinHandle<Exit>>,
}

impl Pool {
    fn new(handle: PoolHandle) -> Self {
        Pool {
            handle,
            threads: Vec::new(),
        }
    }

    fn push_thread(&mut self, thread: JoinHandle<Exit>) {
        self.threads.push(thread);
    }

    /// Runs a job on worker `index`: `f` is sent there and called on the worker thread, and
    /// the future it returns (which need not be `Send`) runs as a task of that worker.
    ///
    /// See [`PoolHandle::spawn_on`].
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.workers()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(2).spawn(|_| std::future::pending()).unwrap();
    /// let task = pool.spawn_on(1, || async { 6 * 7 });
    /// assert_eq!(futures_lite::future::block_on(task).unwrap(), 42);
    /// # pool.shutdown().unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_on<F, Fut, T>(&self, index: usize, f: F) -> RemoteTask<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_on(index, f)
    }

    /// Runs a job on the next live worker in round-robin order. See [`PoolHandle::spawn_any`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(2).spawn(|_| std::future::pending()).unwrap();
    /// let a = pool.spawn_any(|| async {});
    /// let b = pool.spawn_any(|| async {});
    /// assert_eq!((a.worker(), b.worker()), (0, 1));
    /// # drop((a, b));
    /// # pool.shutdown().unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_any<F, Fut, T>(&self, f: F) -> RemoteTask<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_any(f)
    }

    /// The number of workers the pool was started with (exited ones included).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(2).spawn(|_| async {}).unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// # pool.join().unwrap();
    /// ```
    pub fn workers(&self) -> usize {
        self.handle.workers()
    }

    /// A cloneable, `Send + Sync` handle for sending jobs and requesting shutdown from other
    /// threads, including from inside the workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let handle = pool.handle();
    /// std::thread::spawn(move || handle.request_shutdown()).join().unwrap();
    /// pool.join().unwrap(); // the workers stopped
    /// ```
    pub fn handle(&self) -> PoolHandle {
        self.handle.clone()
    }

    /// Stops every worker and waits for the threads to exit. Pending work is **cancelled**,
    /// not finished; see the [module docs](self) for the order of events.
    ///
    /// # Errors
    ///
    /// [`JoinError`] if any worker's main future (or `on_thread_start`) panicked, at any time
    /// during the pool's life. The other workers were still stopped and joined.
    ///
    /// # Panics
    ///
    /// Panics if called on one of the pool's own worker threads (it would wait for itself);
    /// use [`PoolHandle::request_shutdown`] there.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(2).spawn(|_| std::future::pending()).unwrap();
    /// let never = pool.spawn_on(0, || std::future::pending::<()>());
    /// pool.shutdown().unwrap();
    /// assert!(futures_lite::future::block_on(never).is_err()); // cancelled
    /// ```
    pub fn shutdown(mut self) -> Result<(), JoinError> {
        self.handle.request_shutdown();
        self.join_all()
    }

    /// Waits until every worker has exited on its own (its main future returned or
    /// panicked, or [`PoolHandle::request_shutdown`] was called). Blocks forever if a main
    /// future never returns and nobody requests a shutdown.
    ///
    /// # Errors
    ///
    /// [`JoinError`] listing every worker whose main future (or `on_thread_start`) panicked.
    ///
    /// # Panics
    ///
    /// Panics if called on one of the pool's own worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .spawn(|w| async move {
    ///         if w.index() == 1 {
    ///             panic!("worker 1 failed");
    ///         }
    ///     })
    ///     .unwrap();
    /// let err = pool.join().unwrap_err();
    /// assert_eq!(err.panics().len(), 1);
    /// assert_eq!(err.panics()[0].index(), 1);
    /// assert_eq!(err.panics()[0].message(), Some("worker 1 failed"));
    /// ```
    pub fn join(mut self) -> Result<(), JoinError> {
        self.join_all()
    }

    fn join_all(&mut self) -> Result<(), JoinError> {
        let me = thread::current().id();
        assert!(
            self.threads.iter().all(|t| t.thread().id() != me),
            "solo::pool: Pool::shutdown/join/drop called on one of the pool's own workers, \
             which would wait for itself; use PoolHandle::request_shutdown there"
        );
        let mut panics = Vec::new();
        for (index, thread) in self.threads.drain(..).enumerate() {
            // `run` catches the panics of user code itself; `Err` here would come from the
            // thread's own machinery and is reported the same way.
            let exit = thread.join().unwrap_or_else(Err);
            if let Err(payload) = exit {
                panics.push(WorkerPanic {
                    index,
                    panic: CaughtPanic::new(payload),
                });
            }
        }
        if panics.is_empty() {
            Ok(())
        } else {
            Err(JoinError { panics })
        }
    }
}

impl Drop for Pool {
    /// Shuts the pool down (cancelling pending work) and joins the threads; panic reports
    /// are discarded.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.handle.request_shutdown();
        let me = thread::current().id();
        if self.threads.iter().any(|t| t.thread().id() == me) {
            // Dropped on one of its own workers: joining would wait for ourselves. The stop
            // is requested; the threads finish on their own, detached.
            self.threads.clear();
            return;
        }
        // Dropping the reports drops user panic payloads, whose destructors could panic;
        // destructors should not panic, so contain it.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(self.join_all())));
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

/// A cloneable, `Send + Sync` handle to a [`Pool`]: sends jobs and requests shutdown, from
/// any thread. It does not keep the workers alive.
///
/// # Examples
///
/// ```
/// let pool = solo::pool::Builder::new().threads(2).spawn(|_| std::future::pending()).unwrap();
/// let handle = pool.handle();
/// let out = std::thread::spawn(move || {
///     futures_lite::future::block_on(handle.spawn_on(1, || async { "hi" }))
/// })
/// .join()
/// .unwrap();
/// assert_eq!(out.unwrap(), "hi");
/// pool.shutdown().unwrap();
/// ```
#[derive(Clone)]
pub struct PoolHandle {
    inner: Arc<Inner>,
}

struct Inner {
    mailboxes: Box<[Arc<Mailbox>]>,
    /// The round-robin cursor of `spawn_any`.
    next: AtomicUsize,
}

impl PoolHandle {
    fn new(mailboxes: Vec<Arc<Mailbox>>) -> Self {
        PoolHandle {
            inner: Arc::new(Inner {
                mailboxes: mailboxes.into_boxed_slice(),
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs a job on worker `index`: `f` is sent there and called on the worker thread, and
    /// the future it returns (which need not be `Send`) runs as a task of that worker's
    /// executor, like a `solo::spawn_local` task.
    ///
    /// The returned [`RemoteTask`] resolves to the output, or to an error: `WorkerGone` at
    /// once if the worker has exited or the pool is shutting down (`f` is dropped uncalled),
    /// `Panicked` if `f` or its future panics (the worker keeps running), `Cancelled` if the
    /// worker stops before the job finishes. Dropping the `RemoteTask` cancels the job.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.workers()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::pool::RemoteError;
    ///
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let handle = pool.handle();
    /// pool.shutdown().unwrap();
    /// let late = handle.spawn_on(0, || async {});
    /// assert!(matches!(futures_lite::future::block_on(late), Err(RemoteError::WorkerGone)));
    /// ```
    #[track_caller]
    pub fn spawn_on<F, Fut, T>(&self, index: usize, f: F) -> RemoteTask<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let count = self.workers();
        assert!(
            index < count,
            "solo::pool: spawn_on({index}) on a pool of {count} workers"
        );
        let (task, job) = job(index, f, Location::caller());
        // A refused job is dropped here: its sender resolves the task to `WorkerGone`.
        let _ = self.inner.mailboxes[index].push(job);
        task
    }

    /// Runs a job on the next worker in round-robin order, skipping workers that have exited.
    /// See [`spawn_on`](PoolHandle::spawn_on).
    ///
    /// The `k`-th call (counting from 0, over all handles of the pool) starts looking at
    /// worker `k % workers()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(3).spawn(|_| std::future::pending()).unwrap();
    /// let handle = pool.handle();
    /// let on: Vec<usize> = (0..6).map(|_| handle.spawn_any(|| async {}).worker()).collect();
    /// assert_eq!(on, [0, 1, 2, 0, 1, 2]);
    /// # pool.shutdown().unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_any<F, Fut, T>(&self, f: F) -> RemoteTask<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let count = self.workers();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % count;
        let (mut task, mut job) = job(start, f, Location::caller());
        for step in 0..count {
            let index = (start + step) % count;
            match self.inner.mailboxes[index].push(job) {
                Ok(()) => {
                    task.worker = index;
                    return task;
                }
                Err(refused) => job = refused,
            }
        }
        // Every worker is gone: dropping the job resolves the task to `WorkerGone`.
        drop(job);
        task
    }

    /// The number of workers the pool was started with (exited ones included).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(2).spawn(|_| async {}).unwrap();
    /// assert_eq!(pool.handle().workers(), 2);
    /// # pool.join().unwrap();
    /// ```
    pub fn workers(&self) -> usize {
        self.inner.mailboxes.len()
    }

    /// Whether worker `index` still accepts jobs: `false` once it has exited (or is exiting)
    /// or a shutdown was requested.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.workers()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(1).spawn(|_| std::future::pending()).unwrap();
    /// let handle = pool.handle();
    /// assert!(handle.is_running(0));
    /// pool.shutdown().unwrap();
    /// assert!(!handle.is_running(0));
    /// ```
    pub fn is_running(&self, index: usize) -> bool {
        self.inner.mailboxes[index].is_open()
    }

    /// Asks every worker to stop, without waiting: new jobs are refused at once, and each
    /// worker cancels its work and exits at its next scheduling point. Safe to call from a
    /// worker. [`Pool::join`] then waits for the threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .spawn(|w| async move {
    ///         if w.index() == 0 {
    ///             w.pool().request_shutdown(); // e.g. on a "quit" command
    ///         }
    ///         std::future::pending::<()>().await;
    ///     })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn request_shutdown(&self) {
        for mailbox in self.inner.mailboxes.iter() {
            mailbox.request_stop();
        }
    }
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

/// Packs `f` into a job for worker `index`, with its result channel. The job's task records
/// `location` (the `spawn_on` caller) as where it was spawned, for diagnostics.
fn job<F, Fut, T>(index: usize, f: F, location: &'static Location<'static>) -> (RemoteTask<T>, Job)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (mut sender, task) = channel(index);
    let job: Job = Box::new(move |ex| {
        if sender.is_cancelled() {
            return; // dropping `sender` reports `Cancelled`; `f` is dropped uncalled
        }
        sender.mark_started();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(future) => ex
                .spawn_at(RemoteJob::new(future, sender), location, None)
                .detach(),
            Err(payload) => sender.send(Err(RemoteError::Panicked(CaughtPanic::new(payload)))),
        }
    });
    (task, job)
}

/// The panic of one worker's main future (or `on_thread_start`).
///
/// # Examples
///
/// ```
/// let pool = solo::pool::Builder::new()
///     .threads(1)
///     .spawn(|_| async { panic!("bad config") })
///     .unwrap();
/// let err = pool.join().unwrap_err();
/// let panic = &err.panics()[0];
/// assert_eq!((panic.index(), panic.message()), (0, Some("bad config")));
/// ```
#[derive(Debug)]
pub struct WorkerPanic {
    index: usize,
    panic: CaughtPanic,
}

impl WorkerPanic {
    /// The index of the worker that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!() }).unwrap();
    /// let err = pool.join().unwrap_err();
    /// assert_eq!(err.panics()[0].index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The panic message, if the payload is a string.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!("{}", 7) }).unwrap();
    /// let err = pool.join().unwrap_err();
    /// assert_eq!(err.panics()[0].message(), Some("7"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.panic.message()
    }

    /// The caught panic.
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!("x") }).unwrap();
    /// let err = pool.join().unwrap_err();
    /// assert_eq!(err.panics()[0].panic().message(), Some("x"));
    /// ```
    pub fn panic(&self) -> &CaughtPanic {
        &self.panic
    }

    /// Takes the caught panic, e.g. to re-raise it with [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { std::panic::panic_any(5u8) }).unwrap();
    /// let err = pool.join().unwrap_err();
    /// let payload = err.into_panics().pop().unwrap().into_panic().into_payload();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&5));
    /// ```
    pub fn into_panic(self) -> CaughtPanic {
        self.panic
    }
}

/// The workers that panicked, reported by [`Pool::join`] and [`Pool::shutdown`].
///
/// # Examples
///
/// ```
/// let pool = solo::pool::Builder::new()
///     .threads(2)
///     .spawn(|_| async { panic!("both") })
///     .unwrap();
/// let err = pool.join().unwrap_err();
/// assert_eq!(err.panics().len(), 2);
/// assert!(err.to_string().contains("both"));
/// ```
#[derive(Debug)]
pub struct JoinError {
    panics: Vec<WorkerPanic>,
}

impl JoinError {
    /// The panics, in worker order (never empty).
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!() }).unwrap();
    /// assert_eq!(pool.join().unwrap_err().panics().len(), 1);
    /// ```
    pub fn panics(&self) -> &[WorkerPanic] {
        &self.panics
    }

    /// Takes the panics, e.g. to re-raise one with [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let pool = solo::pool::Builder::new().threads(1).spawn(|_| async { panic!() }).unwrap();
    /// let panics = pool.join().unwrap_err().into_panics();
    /// assert_eq!(panics[0].index(), 0);
    /// ```
    pub fn into_panics(self) -> Vec<WorkerPanic> {
        self.panics
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pool worker(s) panicked", self.panics.len())?;
        for panic in &self.panics {
            match panic.message() {
                Some(msg) => write!(f, "; worker {}: {msg}", panic.index)?,
                None => write!(f, "; worker {}", panic.index)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for JoinError {}
