//! The only state an executor shares with other threads: the inbox of tasks woken elsewhere,
//! and the sleep/notify handshake that tells a remote waker whether it must wake the owner.
//!
//! # Invariants
//!
//! - Any thread may [`push`](Inbox::push). Only the owner thread calls [`drain`](Inbox::drain),
//!   [`prepare_sleep`](Inbox::prepare_sleep) and [`wake_up`](Inbox::wake_up).
//! - `state` is [`AWAKE`] while the owner runs, [`SLEEPING`] from `prepare_sleep` until
//!   `wake_up`, and [`NOTIFIED`] once one remote signaller has claimed the right to send the
//!   single OS notification for this sleep. At most one notification is sent per sleep, so a
//!   thousand coalesced wakes cost one syscall, and none is sent while the owner is awake.
//! - The handshake is a Dekker pair: the owner stores `SLEEPING` and then loads `pending`; a
//!   remote pusher stores `pending` and then loads `state`. Both are `SeqCst`, so at least one
//!   side sees the other: either the owner sees the new item and does not sleep, or the pusher
//!   sees `SLEEPING` and notifies. This closes the race between "queue is empty" and "go to
//!   sleep". The loom model in this file's tests checks it.

#[cfg(loom)]
use loom::sync::{
    Mutex, PoisonError,
    atomic::{AtomicBool, AtomicU8, Ordering::SeqCst},
};
#[cfg(not(loom))]
use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicBool, AtomicU8, Ordering::SeqCst},
};

/// The owner thread is running and will look at the inbox before it sleeps: nobody notifies.
pub(crate) const AWAKE: u8 = 0;
/// The owner announced it is about to block (or is blocked, or is idle inside a host loop):
/// the next signaller must notify it.
pub(crate) const SLEEPING: u8 = 1;
/// A signaller already notified (or is notifying) this sleep: later signallers stay quiet.
pub(crate) const NOTIFIED: u8 = 2;

/// A multi-producer, single-consumer hand-off of woken tasks to the owner thread.
pub(crate) struct Inbox<T> {
    queue: Mutex<Vec<T>>,
    /// Set after every push; cleared by the owner before it takes the queue. A `true` seen
    /// without items is harmless (the owner finds the queue empty).
    pending: AtomicBool,
    state: AtomicU8,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Self {
        Inbox {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            state: AtomicU8::new(AWAKE),
        }
    }

    /// Hands `item` to the owner. Returns `true` when the caller must notify the owner
    /// (it was sleeping and nobody else has notified it yet).
    pub(crate) fn push(&self, item: T) -> bool {
        // A panic while the lock is held is impossible (a push aborts on OOM), but a poisoned
        // lock must not turn every later wake into a panic.
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        self.pending.store(true, SeqCst);
        self.signal()
    }

    /// Claims the notification for the current sleep, if there is one to claim. Used after a
    /// push and after setting any other flag the owner checks in `prepare_sleep`.
    pub(crate) fn signal(&self) -> bool {
        self.state.load(SeqCst) == SLEEPING
            && self
                .state
                .compare_exchange(SLEEPING, NOTIFIED, SeqCst, SeqCst)
                .is_ok()
    }

    /// Whether something was pushed since the last drain (a cheap load, no lock).
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(SeqCst)
    }

    /// Owner only: moves every pushed item into `spare` (which must be empty) and returns how
    /// many there were. Takes the lock only when something was pushed.
    pub(crate) fn drain(&self, spare: &mut Vec<T>) -> usize {
        // A plain load first: the owner drains at least twice per batch of polls, and a swap is
        // a locked read-modify-write even when nothing was pushed. A push that the load misses
        // is seen by the next drain or by `prepare_sleep`, which loads `pending` after
        // announcing the sleep (the handshake does not depend on this function).
        if !self.pending.load(SeqCst) || !self.pending.swap(false, SeqCst) {
            return 0;
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *queue, spare);
        spare.len()
    }

    /// Owner only: announces that the owner is about to sleep. Returns `false` (and stays
    /// awake) if work arrived in the inbox or `other_work()` reports some; the owner must then
    /// run instead of sleeping.
    pub(crate) fn prepare_sleep(&self, other_work: impl Fn() -> bool) -> bool {
        self.state.store(SLEEPING, SeqCst);
        if self.pending.load(SeqCst) || other_work() {
            self.state.store(AWAKE, SeqCst);
            return false;
        }
        true
    }

    /// Owner only: ends a sleep. Returns `true` if a signaller notified it.
    pub(crate) fn wake_up(&self) -> bool {
        self.state.swap(AWAKE, SeqCst) == NOTIFIED
    }

    /// Whether the owner is currently between `prepare_sleep` and `wake_up`.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.state.load(SeqCst) != AWAKE
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test --lib --release executor::inbox`.
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// A stand-in for the OS notifier: counts the notifications sent.
    struct FakePoller {
        notifications: AtomicUsize,
    }

    #[test]
    fn sleeping_owner_is_notified_exactly_once_for_many_pushes() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let poller = Arc::new(FakePoller {
                notifications: AtomicUsize::new(0),
            });
            assert!(inbox.prepare_sleep(|| false));
            let handles: Vec<_> = (0..2)
                .map(|n| {
                    let (i, p) = (inbox.clone(), poller.clone());
                    thread::spawn(move || {
                        if i.push(n) {
                            p.notifications.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            // Both pushes landed while the owner slept: exactly one notification.
            assert_eq!(poller.notifications.load(SeqCst), 1);
            assert!(inbox.wake_up());
            let mut spare = Vec::new();
            assert_eq!(inbox.drain(&mut spare), 2);
        });
    }

    #[test]
    fn push_racing_sleep_either_skips_sleep_or_notifies() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let poller = Arc::new(FakePoller {
                notifications: AtomicUsize::new(0),
            });
            let (i2, p2) = (inbox.clone(), poller.clone());
            let t = thread::spawn(move || {
                if i2.push(1) {
                    p2.notifications.fetch_add(1, SeqCst);
                }
            });
            let slept = inbox.prepare_sleep(|| false);
            if slept {
                // The owner blocks until notified. Model the block: wait for the pusher.
                t.join().unwrap();
                let notified = poller.notifications.load(SeqCst) == 1;
                let pending = inbox.has_pending();
                // If the owner slept, the pusher must have notified it (the item was pushed
                // after the owner's check), so the owner cannot sleep forever.
                assert!(
                    notified && pending,
                    "lost wake-up: slept with an unseen item"
                );
                inbox.wake_up();
            } else {
                t.join().unwrap();
                assert!(inbox.has_pending());
            }
        });
    }

    #[test]
    fn push_during_shutdown_drain_is_seen_by_a_final_drain() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let i2 = inbox.clone();
            let t = thread::spawn(move || {
                i2.push(9);
            });
            // Shutdown: the owner drains until it has seen every item it waits for.
            let mut seen = Vec::new();
            loop {
                let mut spare = Vec::new();
                inbox.drain(&mut spare);
                seen.append(&mut spare);
                if !seen.is_empty() {
                    break;
                }
                thread::yield_now();
            }
            t.join().unwrap();
            assert_eq!(seen, vec![9]);
        });
    }
}
