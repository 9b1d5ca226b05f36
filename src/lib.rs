//! # solo: one async runtime per thread
//!
//! solo runs `async` code on the thread that calls it. Tasks are `!Send` futures that share
//! state through `Rc<RefCell<_>>`; the executor, the reactor (on [`polling`]) and the timer
//! heap all belong to that one thread. Programs that want every core run one solo runtime per
//! thread (thread-per-core) instead of sharing one across threads.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! solo::block_on(async {
//!     let mut tasks = Vec::new();
//!     for id in 0..3 {
//!         let log = log.clone();
//!         tasks.push(solo::spawn_local(async move {
//!             solo::time::sleep(Duration::from_millis(3 - id)).await;
//!             log.borrow_mut().push(id);
//!         }));
//!     }
//!     for task in tasks {
//!         task.await;
//!     }
//! });
//! assert_eq!(*log.borrow(), [2, 1, 0]);
//! ```
//!
//! # The pieces
//!
//! - [`LocalExecutor`] runs tasks; [`block_on`] and [`spawn_local`] use the thread's default
//!   executor. [`Task`] is the handle of a spawned task.
//! - [`Async`] registers any file descriptor with the thread's reactor; [`net`] builds TCP,
//!   UDP and Unix sockets on it.
//! - [`time`] has sleeps, timeouts and intervals.
//! - `compat` (features `hyper`, `tokio-io`) runs hyper 1.x and crates written on tokio's I/O
//!   traits on solo, without a tokio runtime.
//!
//! # Wakers and threads
//!
//! Wakers are `Send + Sync`. Waking a task from another thread hands it back to its owner
//! thread (and wakes that thread if it sleeps); the task's future is only ever polled and
//! dropped on its own thread. Waking, cloning or dropping a waker after its executor is gone
//! is a harmless no-op.
//!
//! # Guarantees
//!
//! Each promise is pinned by an integration test in the repository's `tests/` directory (the
//! README's "Guarantees" table and `tests/README.md` list them one by one):
//!
//! - **Wakers from other threads**: a `!Send` future is only polled and dropped on its own
//!   thread, even when its last waker or its [`Task`] dies elsewhere; wakes after the executor
//!   is gone are no-ops; a remote wake is never lost, even racing the owner going to sleep
//!   (`tests/wakers.rs`, and loom models of the hand-over).
//! - **Panics**: a task's panic stays in the task and is re-raised where its [`Task`] is
//!   awaited; a panic in the [`block_on`] future reaches the caller and leaves the thread
//!   usable; a destructor that panics while a task is cancelled or an executor dropped is
//!   caught and reported by the panic hook, and the other futures are still dropped; a waker
//!   that panics does not stop the rest of its batch (`tests/panics.rs`).
//! - **Shutdown**: dropping an executor drops every unfinished future once, on its thread,
//!   deregisters its sockets before they close and removes its timers; awaiting a [`Task`]
//!   whose executor is gone returns its output if it finished and panics with a clear message
//!   if not (`tests/shutdown.rs`).
//! - **Re-entrancy**: [`block_on`] nests; a timer or socket operation that would have to wait
//!   where no solo executor runs panics with a clear message instead of hanging
//!   (`tests/reentrancy.rs`).
//! - **Timers**: never early; deadline order, ties in creation order; `Duration::MAX` and
//!   far deadlines never overflow; past deadlines are ready at once; an [`Interval`] that
//!   falls behind (or whose test clock jumps) ticks once and resumes on its grid; the clock
//!   never reads earlier than before (`tests/timers.rs`).
//! - **Sockets**: EOF is `Ok(0)` every time; zero-length buffers return `Ok(0)` at once; a
//!   peer reset is an error, never a `SIGPIPE` death; `accept` under `EMFILE` returns the
//!   error and the listener survives (`tests/async_io.rs`, `tests/net_*.rs`).
//!
//! [`polling`]: https://docs.rs/polling
//! [`Interval`]: time::Interval

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

// Adapters for hyper (feature `hyper`) and tokio's I/O traits (feature `tokio-io`).
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
pub mod compat;
pub mod diag;
mod embed;
mod executor;
pub mod future;
// The GLib adapter (`solo::glib::attach`), behind the off-by-default `glib` feature.
#[cfg(feature = "glib")]
pub mod glib;
pub mod net;
pub mod pool;
mod reactor;
#[cfg(unix)]
pub mod signal;
pub mod sync;
mod task_group;
pub mod time;
mod unblock;

/// Tasks: the [`Task`] handle, [`Builder`](task::Builder) for named tasks, and ids.
pub mod task {
    pub use crate::executor::{Builder, Task, TaskId, YieldNow, yield_now};
    pub use crate::task_group::TaskGroup;
}

pub use embed::{RunStatus, WakeHandle};
pub use executor::{LocalExecutor, Task, YieldNow, block_on, spawn_local, yield_now};
pub use reactor::Async;
pub use task_group::TaskGroup;
pub use unblock::{Unblock, unblock};
