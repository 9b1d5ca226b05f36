//! [`Builder`]: configures and starts a pool's worker threads.

use std::fmt;
use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Arc, mpsc};
use std::thread;

use super::worker::{self, Mailbox, Start, StartHook, Worker};
use super::{Pool, PoolHandle};

/// Configures a pool of worker threads, each running its own solo runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = solo::pool::Builder::new()
///     .threads(2)
///     .thread_name("svc")
///     .spawn(|worker| async move {
///         let name = std::thread::current().name().map(str::to_owned);
///         assert_eq!(name, Some(format!("svc-{}", worker.index())));
///         solo::time::sleep(Duration::from_millis(1)).await;
///     })
///     .unwrap();
/// pool.join().unwrap();
/// ```
pub struct Builder {
    threads: Option<NonZeroUsize>,
    pin_to_cores: bool,
    name: String,
    stack_size: Option<usize>,
    on_thread_start: Option<StartHook>,
}

impl Builder {
    /// A builder with the defaults: one thread per available CPU
    /// ([`std::thread::available_parallelism`], or 1 if unknown), no pinning, threads named
    /// `solo-worker-{index}`, the standard library's default stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().spawn(|_| async {}).unwrap();
    /// assert!(pool.workers() >= 1);
    /// pool.join().unwrap();
    /// ```
    pub fn new() -> Self {
        Builder {
            threads: None,
            pin_to_cores: false,
            name: "solo-worker".to_owned(),
            stack_size: None,
            on_thread_start: None,
        }
    }

    /// Sets the number of worker threads.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0: a pool needs at least one worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new().threads(3).spawn(|_| async {}).unwrap();
    /// assert_eq!(pool.workers(), 3);
    /// pool.join().unwrap();
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        let n = NonZeroUsize::new(n)
            .expect("solo::pool::Builder::threads(0): a pool needs at least one worker thread");
        self.threads = Some(n);
        self
    }

    /// Pins worker `i` to the `i`-th CPU the process may run on (wrapping around when there
    /// are more workers than CPUs), so that each runtime keeps its caches warm.
    ///
    /// Linux and Android only (`sched_setaffinity`); on other platforms the request is
    /// ignored and the threads float.
    ///
    /// Only the workers are pinned. The threads solo starts on their behalf (the
    /// [`unblock`](crate::unblock) pool, the slow-poll monitor, an executor's fd watcher) run
    /// on every CPU the pool's threads could use before pinning, even when a pinned worker is
    /// what started them, so blocking work runs beside the workers instead of preempting one.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .pin_to_cores(true)
    ///     .spawn(|_| async {})
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn pin_to_cores(mut self, pin: bool) -> Self {
        self.pin_to_cores = pin;
        self
    }

    /// Names the threads `{name}-{index}` (Linux shows the first 15 bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(1)
    ///     .thread_name("io")
    ///     .spawn(|_| async { assert_eq!(std::thread::current().name(), Some("io-0")) })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets each worker thread's stack size, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = solo::pool::Builder::new()
    ///     .threads(1)
    ///     .stack_size(4 << 20)
    ///     .spawn(|_| async {})
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `hook` on each worker thread after start-up (pinning, reactor) and before its
    /// main future. A panic in the hook ends that worker like a panic of its main future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .on_thread_start(move |_worker| {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .spawn(|_| async {})
    ///     .unwrap();
    /// pool.join().unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn(&Worker) + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(hook));
        self
    }

    /// Starts the workers. Each thread creates its own runtime, calls a clone of `make` with
    /// its [`Worker`], and runs the returned future (which need not be `Send`) until it
    /// returns, panics, or the pool shuts down; meanwhile it also runs the jobs sent with
    /// [`Pool::spawn_on`].
    ///
    /// A worker lives as long as its main future: a pool that only runs jobs uses
    /// `|_| std::future::pending()`. `spawn` returns once every worker has created its
    /// runtime.
    ///
    /// # Errors
    ///
    /// The OS error if a thread cannot be spawned, pinned (with
    /// [`pin_to_cores`](Builder::pin_to_cores)), or cannot create its poller. The workers
    /// already started are stopped and joined before the error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let pool = solo::pool::Builder::new()
    ///     .threads(2)
    ///     .spawn(|worker| async move {
    ///         // Per-thread state: no Send, no locks.
    ///         let hits = Rc::new(Cell::new(0));
    ///         let h = hits.clone();
    ///         solo::spawn_local(async move { h.set(h.get() + 1) }).await;
    ///         assert_eq!(hits.get(), 1, "worker {}", worker.index());
    ///     })
    ///     .unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn spawn<F, Fut>(self, make: F) -> io::Result<Pool>
    where
        F: FnOnce(Worker) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let count = self
            .threads
            .or_else(|| thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        let mailboxes: Vec<Arc<Mailbox>> = (0..count).map(|_| Arc::new(Mailbox::new())).collect();
        let handle = PoolHandle::new(mailboxes.clone());
        let mut pool = Pool::new(handle.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, mailbox) in mailboxes.into_iter().enumerate() {
            let start = Start {
                worker: Worker::new(index, handle.clone()),
                mailbox: mailbox.clone(),
                pin_to_core: self.pin_to_cores,
                on_start: self.on_thread_start.clone(),
                ready: ready_tx.clone(),
            };
            let make = make.clone();
            let mut thread = thread::Builder::new().name(format!("{}-{index}", self.name));
            if let Some(bytes) = self.stack_size {
                thread = thread.stack_size(bytes);
            }
            match thread.spawn(move || worker::run(start, make)) {
                Ok(join) => pool.push_thread(join),
                Err(e) => {
                    // The closure (and its `Start`) was dropped: this worker never existed.
                    // Closing it keeps `spawn_on` to it from queueing a job nobody takes.
                    mailbox.request_stop();
                    drop(pool); // stops and joins the workers already started
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        drop(make);
        // Every worker reports once, then drops its sender; a worker that died before
        // reporting just ends the stream early (its panic is then reported by `join`).
        let mut first_error = None;
        for setup in ready_rx.iter().take(count) {
            if let Err(e) = setup {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(pool),
            Some(e) => {
                drop(pool);
                Err(e)
            }
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("threads", &self.threads)
            .field("pin_to_cores", &self.pin_to_cores)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .finish()
    }
}
