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
//! - The handshake is a Dekker pair: the owner stores `SLEEPING` and then loads `pending` (and
//!   whatever `other_work` reads); a remote pusher (or any signaller) stores its flag and then
//!   loads `state`. A `SeqCst` fence separates the store from the load on both sides, so at
//!   least one side sees the other: either the owner sees the new work and does not sleep, or
//!   the signaller sees `SLEEPING` and notifies. This closes the race between "queue is empty"
//!   and "go to sleep". The fences, not just `SeqCst` accesses, are what loom can check: it
//!   models `SeqCst` accesses as `AcqRel`, under which the pair can miss each other (a false
//!   alarm for the accesses alone). The loom models in this file's tests check the handshake
//!   and fail if a fence is removed or the order of a side is swapped.

// loom's `Mutex::lock` returns std's `LockResult`, so `PoisonError` is std's in both builds.
use std::sync::PoisonError;

#[cfg(solo_loom)]
use loom::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU8, Ordering::Relaxed, Ordering::SeqCst, fence},
};
#[cfg(not(solo_loom))]
use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU8, Ordering::Relaxed, Ordering::SeqCst, fence},
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
        // A swap, not a store: the same instruction on x86 (a SeqCst store is an `xchg`), and an
        // RMW is what loom orders reliably against the owner's RMW in `drain`.
        self.pending.swap(true, SeqCst);
        self.signal()
    }

    /// Claims the notification for the current sleep, if there is one to claim. Used after a
    /// push and after setting any other flag the owner checks in `prepare_sleep`; the fence
    /// orders that flag's store before the load of `state` (the remote half of the Dekker
    /// pair).
    pub(crate) fn signal(&self) -> bool {
        // The signaller's half of the Dekker pair: the caller's store (of `pending`, or of the
        // flag `other_work` reads), this fence, then the load of `state`.
        fence(SeqCst);
        self.state.load(SeqCst) == SLEEPING
            && self
                .state
                .compare_exchange(SLEEPING, NOTIFIED, SeqCst, SeqCst)
                .is_ok()
    }

    /// Whether something was pushed since the last drain (a cheap load, no lock).
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(SeqCst)
    }

    /// Owner only: moves every pushed item into `spare` (which must be empty) and returns how
    /// many there were. Takes the lock only when something was pushed.
    ///
    /// The empty case (every batch of the run loop) is one plain load, no locked instruction.
    /// A push that races past it is seen by the next drain; a sleeping owner is covered by the
    /// handshake. (`compare_exchange` rather than `swap`: the same on hardware, and loom 0.7
    /// mis-models `AtomicBool::swap` in this race, reporting a store lost that is not.)
    pub(crate) fn drain(&self, spare: &mut Vec<T>) -> usize {
        if !self.pending.load(Relaxed)
            || self
                .pending
                .compare_exchange(true, false, SeqCst, SeqCst)
                .is_err()
        {
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
        // The owner's half of the Dekker pair: store `SLEEPING`, fence, then load the flags.
        self.state.store(SLEEPING, SeqCst);
        fence(SeqCst);
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
    #[inline]
    pub(crate) fn is_sleeping(&self) -> bool {
        self.state.load(SeqCst) != AWAKE
    }
}

#[cfg(all(test, solo_loom))]
mod loom_tests {
    //! Run with `RUSTFLAGS="--cfg solo_loom" cargo test --lib --release executor::inbox`.
    //!
    //! Each model checks one promise of the handshake. They were seen to fail when the
    //! handshake is broken: with either fence removed, with `prepare_sleep` loading `pending`
    //! before storing `SLEEPING`, or with `push` signalling before setting `pending`. (A
    //! `Relaxed` load of `pending` after the fence passes, correctly: the fences carry the
    //! ordering.)
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// A stand-in for the OS notifier: counts the notifications sent.
    #[derive(Default)]
    struct FakePoller {
        notifications: AtomicUsize,
    }

    impl FakePoller {
        fn notify_if(&self, must: bool) {
            if must {
                self.notifications.fetch_add(1, SeqCst);
            }
        }
        fn count(&self) -> usize {
            self.notifications.load(SeqCst)
        }
    }

    /// Two pushes land while the owner sleeps: exactly one notification (coalescing).
    #[test]
    fn sleeping_owner_is_notified_exactly_once_for_many_pushes() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let poller = Arc::new(FakePoller::default());
            assert!(inbox.prepare_sleep(|| false));
            let handles: Vec<_> = (0..2)
                .map(|n| {
                    let (i, p) = (inbox.clone(), poller.clone());
                    thread::spawn(move || p.notify_if(i.push(n)))
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(poller.count(), 1);
            assert!(inbox.wake_up());
            let mut spare = Vec::new();
            assert_eq!(inbox.drain(&mut spare), 2);
        });
    }

    /// The race between "the inbox is empty" and "go to sleep": a push from another thread at
    /// any point either keeps the owner awake or notifies it. Never both missed.
    #[test]
    fn push_racing_sleep_either_skips_sleep_or_notifies() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let poller = Arc::new(FakePoller::default());
            let (i2, p2) = (inbox.clone(), poller.clone());
            let t = thread::spawn(move || p2.notify_if(i2.push(1)));
            let slept = inbox.prepare_sleep(|| false);
            // Model the owner's block as "wait for the pusher to finish"; a lost wake-up is a
            // sleep that nobody notified while an item waits.
            t.join().unwrap();
            if slept {
                assert_eq!(poller.count(), 1, "lost wake-up: slept with an unseen item");
                assert!(inbox.wake_up());
            } else {
                // A notification may have raced in before the owner saw the item: at most a
                // spurious wake-up later, never two.
                assert!(poller.count() <= 1);
            }
            let mut spare = Vec::new();
            assert_eq!(inbox.drain(&mut spare), 1);
        });
    }

    /// The same race for a flag the owner checks through `other_work` (the `block_on`
    /// future's wake flag): the waker stores the flag, then signals.
    #[test]
    fn flag_set_racing_sleep_either_skips_sleep_or_notifies() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::<u8>::new());
            let poller = Arc::new(FakePoller::default());
            let flag = Arc::new(AtomicBool::new(false));
            let (i2, p2, f2) = (inbox.clone(), poller.clone(), flag.clone());
            let t = thread::spawn(move || {
                f2.store(true, SeqCst);
                p2.notify_if(i2.signal());
            });
            let slept = inbox.prepare_sleep(|| flag.load(SeqCst));
            t.join().unwrap();
            if slept {
                assert_eq!(poller.count(), 1, "lost wake-up: slept with the flag set");
                inbox.wake_up();
            } else {
                assert!(poller.count() <= 1);
            }
        });
    }

    /// While the owner is awake (it has not announced a sleep), pushes never notify: no
    /// syscall for a wake that the owner will find on its own.
    #[test]
    fn pushes_to_an_awake_owner_send_no_notification() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let poller = Arc::new(FakePoller::default());
            let (i2, p2) = (inbox.clone(), poller.clone());
            let t = thread::spawn(move || {
                p2.notify_if(i2.push(1));
                p2.notify_if(i2.push(2));
            });
            let mut spare = Vec::new();
            let early = inbox.drain(&mut spare);
            t.join().unwrap();
            let mut rest = Vec::new();
            let late = inbox.drain(&mut rest);
            assert_eq!(early + late, 2, "every item drained exactly once");
            assert_eq!(poller.count(), 0);
        });
    }

    /// Shutdown drains while another thread is still pushing, then waits for it (the executor
    /// waits until every live task's `Runnable` has arrived) and drains again: the item is in
    /// exactly one of the drains, never lost in the inbox.
    #[test]
    fn push_during_shutdown_drain_is_seen_by_a_final_drain() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let i2 = inbox.clone();
            let t = thread::spawn(move || {
                let r = i2.push(9);
                eprintln!("pushed, signal={r}, pending={}", i2.has_pending());
            });
            let mut seen = Vec::new();
            let mut spare = Vec::new();
            inbox.drain(&mut spare);
            seen.append(&mut spare);
            t.join().unwrap();
            inbox.drain(&mut spare);
            seen.append(&mut spare);
            assert_eq!(seen, vec![9]);
            assert_eq!(inbox.drain(&mut spare), 0, "nothing left behind");
        });
    }
}
