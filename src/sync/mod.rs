//! Synchronisation primitives for tasks that share one thread.
//!
//! | Type | For |
//! |---|---|
//! | [`oneshot`] | one value, once, from one task to another |
//! | [`mpsc`] | a stream of values from many senders to one receiver, bounded or not |
//! | [`watch`] | the latest value of something, observed by many |
//! | [`Mutex`], [`RwLock`] | exclusive or shared access held across `.await` |
//! | [`Semaphore`] | limiting how many tasks do something at once |
//! | [`Notify`] | a bare wake-up signal |
//!
//! # Invariants
//!
//! - **One thread.** Every primitive keeps its state in `Cell`/`RefCell` (channels share it
//!   through an `Rc`); there are no atomics and no `unsafe`. Every primitive, its halves,
//!   guards and permits are `!Send` and `!Sync`: they belong to the thread (the runtime)
//!   that created them, and only its tasks can touch them. They cost a borrow flag, not a
//!   fence.
//! - **Who owns what.** A primitive owns its state; a waiting future owns exactly one entry
//!   in that primitive's FIFO queue, and only that future removes it. Other paths (unlock,
//!   notify, close) only *unlink* an entry and write down what was handed to it.
//! - **No lost wake-ups.** A lock, permit, message slot or `notify_one` handed to a waiter
//!   is recorded in its entry before the waker is called. If the waiter is dropped before
//!   it observes the hand-off, its destructor passes the hand-off to the next waiter.
//! - **No re-entrant borrow.** Wakers are collected while the state is borrowed and woken
//!   only after the borrow is released (a waker may poll or drop something that uses the
//!   same primitive). User values (messages, replaced `watch` values) are dropped outside
//!   the borrow too. A waker that panics does not stop the rest of its batch from being
//!   woken.
//! - **Fair.** Every queue is FIFO and hand-offs go to the head: a newcomer never barges past
//!   a waiter, a waiting writer blocks later readers, and a large semaphore request at the
//!   head is not starved by small ones.
//! - **No poisoning.** A guard dropped during a panic releases normally.
//! - Repeated polls of a pending future do not clone its waker unless it changed
//!   (`Waker::will_wake`).
//!
//! # Cancel safety
//!
//! Dropping a future before it completes ("cancelling" it, e.g. in a `select` or a
//! timeout) has these effects:
//!
//! | Operation | Cancel-safe? | What a cancelled call loses |
//! |---|---|---|
//! | `oneshot::Receiver` (`.await` on `&mut rx`) | yes | nothing; the value stays for the next poll |
//! | `oneshot::Sender::closed` | yes | nothing |
//! | `mpsc::Receiver::recv` / `poll_recv` / `Stream::next` | yes | nothing; a message leaves the channel only when returned |
//! | `mpsc::Sender::send` | yes (message *not* sent) | the message, dropped with the future, and the sender's place in the queue; a slot reserved for it goes to the next blocked sender |
//! | `Mutex::lock` | yes | the place in the queue; a lock already handed over goes to the next waiter |
//! | `RwLock::read` / `write` | yes | the place in the queue; access already handed over is released |
//! | `Semaphore::acquire` | yes | the place in the queue; permits already handed over are returned |
//! | `Notify::notified` | yes | the place in the queue; a `notify_one` already received is forwarded to the next waiter (or stored); a `notify_waiters` wake-up is missed |
//! | `watch::Receiver::changed` | yes | nothing; the change stays unseen until a later call |
//!
//! The non-async methods (`try_*`, `send` on oneshot/watch, `close`, `notify_*`) finish
//! before returning and have nothing to cancel.
//!
//! # Examples
//!
//! A worker pool fed by a bounded channel, with results returned on oneshots:
//!
//! ```
//! use solo::sync::{mpsc, oneshot};
//!
//! solo::block_on(async {
//!     let (jobs, mut queue) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(4);
//!     let worker = solo::spawn_local(async move {
//!         while let Some((n, reply)) = queue.recv().await {
//!             let _ = reply.send(n * n);
//!         }
//!     });
//!     let mut answers = Vec::new();
//!     for n in 1..=3 {
//!         let (tx, rx) = oneshot::channel();
//!         jobs.send((n, tx)).await.unwrap();
//!         answers.push(rx.await.unwrap());
//!     }
//!     drop(jobs);
//!     worker.await;
//!     assert_eq!(answers, [1, 4, 9]);
//! });
//! ```
//!
//! Guards and channel halves stay on their thread:
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! let (tx, _rx) = solo::sync::mpsc::unbounded::<u8>();
//! assert_send(tx);
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! let m = solo::sync::Mutex::new(0);
//! assert_send(m.try_lock().unwrap());
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(solo::sync::Mutex::new(0));
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(solo::sync::Semaphore::new(1));
//! ```
//!
//! ```compile_fail
//! fn assert_sync<T: Sync>(_: T) {}
//! assert_sync(solo::sync::Notify::new());
//! ```

pub mod mpsc;
pub mod oneshot;
pub mod watch;

mod mutex;
mod notify;
mod rwlock;
mod semaphore;
mod waiters;

pub use mutex::{Lock, Mutex, MutexGuard};
pub use notify::{Notified, Notify};
pub use rwlock::{ReadLock, RwLock, RwLockReadGuard, RwLockWriteGuard, WriteLock};
pub use semaphore::{Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
