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
//! - Each sleep has a number, kept in `state` above its two tag bits and bumped by every
//!   `prepare_sleep`. A signaller that acts on a *possibly stale* observation (the embedding fd
//!   watcher: "the owner's epoll set had an event") reads a [`SleepToken`] first, checks that its
//!   reason still holds, and then claims exactly that sleep with [`claim`](Inbox::claim). If
//!   the owner woke in between, even if it has gone back to sleep since, the claim fails: the
//!   owner has looked at everything that was pending when it woke, so no notification is owed.
//!   (The counter wraps after 2^62 sleeps on 64-bit targets, 2^30 on 32-bit ones; a signaller
//!   would have to stall that long between its two steps to be fooled.)

// loom's `Mutex::lock` returns std's `LockResult`, so `PoisonError` is std's in both builds.
use std::sync::PoisonError;

#[cfg(solo_loom)]
use loom::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence},
};
#[cfg(not(solo_loom))]
use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence},
};

/// The owner thread is running and will look at the inbox before it sleeps: nobody notifies.
pub(crate) const AWAKE: usize = 0;
/// The owner announced it is about to block (or is blocked, or is idle inside a host loop):
/// the next signaller must notify it.
pub(crate) const SLEEPING: usize = 1;
/// A signaller already notified (or is notifying) this sleep: later signallers stay quiet.
pub(crate) const NOTIFIED: usize = 2;
/// The tag bits of `state`; the bits above them number the sleeps.
const TAG: usize = 3;
/// One step of the sleep counter.
const ONE_SLEEP: usize = TAG + 1;

/// One particular sleep of the owner, for [`Inbox::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SleepToken(usize);

/// A multi-producer, single-consumer hand-off of woken tasks to the owner thread.
pub(crate) struct Inbox<T> {
    queue: Mutex<Vec<T>>,
    /// Set after every push; cleared by the owner before it takes the queue. A `true` seen
    /// without items is harmless (the owner finds the queue empty).
    pending: AtomicBool,
    /// A tag (`AWAKE`, `SLEEPING` or `NOTIFIED`) in the low bits, the sleep's number above.
    state: AtomicUsize,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Self {
        Inbox {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            state: AtomicUsize::new(AWAKE),
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
        self.sleeping().is_some_and(|token| self.claim(token))
    }

    /// The owner's current sleep, if it is sleeping and nobody has notified it yet.
    pub(crate) fn sleeping(&self) -> Option<SleepToken> {
        let state = self.state.load(SeqCst);
        (state & TAG == SLEEPING).then_some(SleepToken(state))
    }

    /// Claims the notification for the sleep `token` names: `true` (the caller must notify)
    /// only if the owner has not woken since the token was read and nobody else has claimed it.
    pub(crate) fn claim(&self, token: SleepToken) -> bool {
        let notified = (token.0 & !TAG) | NOTIFIED;
        self.state
            .compare_exchange(token.0, notified, SeqCst, SeqCst)
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
        // Only the owner changes the sleep number, so a plain load of it is current.
        let number = (self.state.load(Relaxed) & !TAG).wrapping_add(ONE_SLEEP);
        self.state.store(number | SLEEPING, SeqCst);
        fence(SeqCst);
        if self.pending.load(SeqCst) || other_work() {
            self.state.store(number | AWAKE, SeqCst);
            return false;
        }
        true
    }

    /// Owner only: ends a sleep. Returns `true` if a signaller notified it.
    pub(crate) fn wake_up(&self) -> bool {
        let number = self.state.load(Relaxed) & !TAG;
        self.state.swap(number | AWAKE, SeqCst) & TAG == NOTIFIED
    }

    /// Whether the owner is currently between `prepare_sleep` and `wake_up`.
    #[inline]
    pub(crate) fn is_sleeping(&self) -> bool {
        self.state.load(SeqCst) & TAG != AWAKE
    }
}

#[cfg(all(test, not(solo_loom)))]
mod tests {
    use super::*;

    /// The embedding watcher's stale event, step by step: a token read in one sleep claims
    /// nothing once the owner has woken, even after it has gone back to sleep.
    #[test]
    fn a_token_claims_only_its_own_sleep() {
        let inbox = Inbox::<u8>::new();
        assert_eq!(inbox.sleeping(), None, "an awake owner has no token");
        assert!(inbox.prepare_sleep(|| false));
        let first = inbox.sleeping().expect("asleep");
        assert!(!inbox.wake_up());
        assert!(inbox.prepare_sleep(|| false));
        assert!(!inbox.claim(first), "a stale token claimed a later sleep");
        let second = inbox.sleeping().expect("asleep again");
        assert_ne!(first, second);
        assert!(inbox.claim(second));
        assert!(!inbox.claim(second), "one claim per sleep");
        assert_eq!(
            inbox.sleeping(),
            None,
            "claimed: later signallers stay quiet"
        );
        assert!(inbox.wake_up(), "the owner learns it was notified");
        assert!(!inbox.is_sleeping());
    }

    /// A sleep abandoned in `prepare_sleep` (work arrived) still counts: a token from before
    /// it cannot claim the sleep after it.
    #[test]
    fn an_abandoned_sleep_still_invalidates_tokens() {
        let inbox = Inbox::<u8>::new();
        assert!(inbox.prepare_sleep(|| false));
        let token = inbox.sleeping().expect("asleep");
        inbox.wake_up();
        assert!(!inbox.prepare_sleep(|| true));
        assert!(!inbox.is_sleeping());
        assert!(inbox.prepare_sleep(|| false));
        assert!(!inbox.claim(token));
        assert!(inbox.signal(), "a fresh signaller still notifies");
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

    /// A signaller that read a sleep token and then stalls while the owner wakes and sleeps
    /// again (the embedding fd watcher acting on a stale event) either claimed the first sleep
    /// (and the owner saw it) or claims nothing: never the second sleep.
    #[test]
    fn a_stale_token_never_claims_a_later_sleep() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::<u8>::new());
            assert!(inbox.prepare_sleep(|| false));
            let token = inbox.sleeping().expect("asleep");
            let i2 = inbox.clone();
            let t = thread::spawn(move || i2.claim(token));
            let saw_claim = inbox.wake_up();
            assert!(inbox.prepare_sleep(|| false));
            let claimed = t.join().unwrap();
            assert_eq!(claimed, saw_claim, "a claim the owner did not see");
            assert!(
                inbox.sleeping().is_some(),
                "a stale token claimed the second sleep"
            );
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
