//! Randomised interleavings of `solo::sync` under the runtime.
//!
//! Each test runs 100 tasks doing 100 operations each (10,000 in all), with random yields
//! and random cancellation of every kind of waiter: dropped after one poll, or dropped
//! after losing a race against a few `yield_now`s (so it may already have been handed a
//! lock, permit, slot or notification). Every task ends with a plain, un-raced `.await`,
//! so a lost wake-up hangs the test, and the watchdog turns a hang into an abort with a
//! message instead of a stuck CI job.
//!
//! Seeds are fixed; set `SOLO_STRESS_SEED=<u64>` to run one other seed. Every assertion
//! message carries the seed.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures_lite::future::{self, yield_now};
use solo::sync::{Mutex, Notify, RwLock, Semaphore, mpsc, oneshot, watch};

const TASKS: u64 = 100;
const OPS_PER_TASK: u64 = 100;

// ---------------------------------------------------------------------------------------
// Support: seeds, a tiny RNG, a watchdog, random cancellation, drop accounting.
// ---------------------------------------------------------------------------------------

fn seeds() -> Vec<u64> {
    match std::env::var("SOLO_STRESS_SEED") {
        Ok(s) => vec![s.parse().expect("SOLO_STRESS_SEED must be a u64")],
        Err(_) => vec![1, 0xDEAD_BEEF, 2024],
    }
}

/// xorshift64*: enough randomness for interleavings, no extra crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Aborts the process with a message if dropped later than 60 s after creation.
struct Watchdog(Arc<AtomicBool>);

fn watchdog(what: String) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    thread::spawn(move || {
        let start = Instant::now();
        while !flag.load(Ordering::Acquire) {
            if start.elapsed() > Duration::from_secs(60) {
                eprintln!("watchdog: {what} still running after 60 s; a wake-up was lost");
                std::process::abort();
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

async fn yields(rng: &mut Rng, max: u64) {
    for _ in 0..rng.below(max + 1) {
        yield_now().await;
    }
}

/// Awaits `fut` to the end, or cancels it at a random point. `None` means it was
/// cancelled before completing. The ways to cancel:
///
/// - after one poll (typically while queued);
/// - when it loses a race against a few yields, which are polled first;
/// - on a poll caused by its own wake-up, i.e. right after the primitive handed it a lock,
///   permit, slot or notification and before it could observe that (the hard case for
///   "no lost wake-up").
async fn maybe_cancel<F: Future>(rng: &mut Rng, fut: F) -> Option<F::Output> {
    let deadline: Pin<Box<dyn Future<Output = ()>>> = match rng.below(6) {
        0 => return future::poll_once(fut).await,
        1 => {
            let n = 1 + rng.below(4);
            Box::pin(async move {
                for _ in 0..n {
                    yield_now().await;
                }
            })
        }
        2 => Box::pin(CancelOnWake {
            rng: Rng::new(rng.next()),
            polled: false,
        }),
        _ => return Some(fut.await),
    };
    future::or(
        async move {
            deadline.await;
            None
        },
        async { Some(fut.await) },
    )
    .await
}

/// Never wakes anyone itself; on each poll after the first (each caused by the *other*
/// branch's wake-up) completes with probability 1/2.
struct CancelOnWake {
    rng: Rng,
    polled: bool,
}

impl Future for CancelOnWake {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if !std::mem::replace(&mut self.polled, true) || self.rng.below(2) == 0 {
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

/// Spawns `TASKS` tasks built by `make(task_index)` and awaits them all.
async fn run_all<F: Future<Output = ()> + 'static>(mut make: impl FnMut(u64) -> F) {
    let tasks: Vec<_> = (0..TASKS).map(|t| solo::spawn_local(make(t))).collect();
    for task in tasks {
        task.await;
    }
}

// ---------------------------------------------------------------------------------------
// Randomised interleavings: everything completes, invariants hold throughout.
// ---------------------------------------------------------------------------------------

#[test]
fn mutex_random_interleaving_excludes_and_loses_no_handoff() {
    for seed in seeds() {
        let _wd = watchdog(format!("mutex seed {seed}"));
        solo::block_on(async move {
            let m = Rc::new(Mutex::new(0u64));
            let inside = Rc::new(Cell::new(false));
            let increments = Rc::new(Cell::new(0u64));
            let (m2, increments2) = (m.clone(), increments.clone());
            run_all(move |t| {
                let (m, inside, increments) = (m2.clone(), inside.clone(), increments2.clone());
                let mut rng = Rng::new(seed ^ (t << 32));
                async move {
                    for _ in 0..OPS_PER_TASK {
                        let guard = if rng.below(8) == 0 {
                            m.try_lock()
                        } else {
                            maybe_cancel(&mut rng, m.lock()).await
                        };
                        let Some(mut guard) = guard else {
                            yields(&mut rng, 1).await;
                            continue;
                        };
                        assert!(!inside.replace(true), "seed {seed}: two guards at once");
                        yields(&mut rng, 2).await;
                        *guard += 1;
                        increments.set(increments.get() + 1);
                        inside.set(false);
                        drop(guard);
                        yields(&mut rng, 1).await;
                    }
                    // Un-raced: hangs (watchdog) if a hand-off was ever lost.
                    drop(m.lock().await);
                }
            })
            .await;
            let value = *m.try_lock().expect("lock leaked after every task finished");
            assert_eq!(value, increments.get(), "seed {seed}");
            assert!(increments.get() > 0, "seed {seed}: nothing ran");
        });
    }
}

#[test]
fn rwlock_random_interleaving_keeps_readers_and_writers_apart() {
    for seed in seeds() {
        let _wd = watchdog(format!("rwlock seed {seed}"));
        solo::block_on(async move {
            let lock = Rc::new(RwLock::new(0u64));
            // (readers inside, writer inside)
            let inside = Rc::new(Cell::new((0u32, false)));
            let writes = Rc::new(Cell::new(0u64));
            let (l2, w2) = (lock.clone(), writes.clone());
            run_all(move |t| {
                let (lock, inside, writes) = (l2.clone(), inside.clone(), w2.clone());
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x5157);
                async move {
                    for _ in 0..OPS_PER_TASK {
                        if rng.below(3) == 0 {
                            let Some(mut g) = maybe_cancel(&mut rng, lock.write()).await else {
                                continue;
                            };
                            assert_eq!(inside.get(), (0, false), "seed {seed}: writer shares");
                            inside.set((0, true));
                            yields(&mut rng, 2).await;
                            *g += 1;
                            writes.set(writes.get() + 1);
                            inside.set((0, false));
                        } else {
                            let Some(g) = maybe_cancel(&mut rng, lock.read()).await else {
                                continue;
                            };
                            let (readers, writer) = inside.get();
                            assert!(!writer, "seed {seed}: reader beside a writer");
                            inside.set((readers + 1, false));
                            yields(&mut rng, 2).await;
                            assert_eq!(*g, writes.get(), "seed {seed}: value moved under a reader");
                            let (readers, _) = inside.get();
                            inside.set((readers - 1, false));
                        }
                    }
                    drop(lock.write().await);
                }
            })
            .await;
            assert_eq!(*lock.try_write().expect("lock leaked"), writes.get());
        });
    }
}

#[test]
fn semaphore_random_interleaving_never_oversubscribes_and_returns_every_permit() {
    const PERMITS: u64 = 8;
    for seed in seeds() {
        let _wd = watchdog(format!("semaphore seed {seed}"));
        solo::block_on(async move {
            let sem = Rc::new(Semaphore::new(PERMITS as usize));
            let in_use = Rc::new(Cell::new(0u64));
            let s2 = sem.clone();
            run_all(move |t| {
                let (sem, in_use) = (s2.clone(), in_use.clone());
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x5e4a);
                async move {
                    for _ in 0..OPS_PER_TASK {
                        let n = rng.below(PERMITS + 1) as usize;
                        let permit = if rng.below(8) == 0 {
                            sem.try_acquire(n).ok()
                        } else {
                            maybe_cancel(&mut rng, sem.acquire(n))
                                .await
                                .map(|r| r.expect("never closed"))
                        };
                        let Some(permit) = permit else { continue };
                        in_use.set(in_use.get() + n as u64);
                        assert!(in_use.get() <= PERMITS, "seed {seed}: oversubscribed");
                        yields(&mut rng, 2).await;
                        in_use.set(in_use.get() - n as u64);
                        if rng.below(10) == 0 {
                            // Forget and give back by hand: the count must still balance.
                            permit.forget();
                            sem.add_permits(n);
                        } else {
                            drop(permit);
                        }
                    }
                    // The biggest possible request, un-raced: needs every permit back.
                    drop(sem.acquire(PERMITS as usize).await.unwrap());
                }
            })
            .await;
            assert_eq!(sem.available_permits(), PERMITS as usize, "seed {seed}");
        });
    }
}

#[test]
fn mpsc_random_interleaving_delivers_exactly_what_was_sent_in_order() {
    for seed in seeds() {
        for capacity in [Some(1), Some(3), None] {
            let _wd = watchdog(format!("mpsc {capacity:?} seed {seed}"));
            solo::block_on(mpsc_round(seed, capacity));
        }
    }
}

async fn mpsc_round(seed: u64, capacity: Option<usize>) {
    let (tx, mut rx) = match capacity {
        Some(c) => mpsc::channel::<(usize, u64)>(c),
        None => mpsc::unbounded(),
    };
    let producers = (TASKS - 1) as usize;
    let sent = Rc::new(RefCell::new(vec![Vec::new(); producers]));
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (tx, sent) = (tx.clone(), sent.clone());
        let mut rng = Rng::new(seed ^ ((p as u64) << 32) ^ 0x3b5c);
        tasks.push(solo::spawn_local(async move {
            for seq in 0..OPS_PER_TASK {
                let ok = if rng.below(8) == 0 {
                    tx.try_send((p, seq)).is_ok()
                } else {
                    // A cancelled send guarantees the message was not sent.
                    matches!(
                        maybe_cancel(&mut rng, tx.send((p, seq))).await,
                        Some(Ok(()))
                    )
                };
                if ok {
                    sent.borrow_mut()[p].push(seq);
                }
                yields(&mut rng, 1).await;
            }
            // Un-raced: hangs if a slot or wake-up was lost.
            tx.send((p, OPS_PER_TASK)).await.unwrap();
            sent.borrow_mut()[p].push(OPS_PER_TASK);
        }));
    }
    drop(tx);
    let mut rng = Rng::new(seed ^ 0xc0ffee);
    let mut received = vec![Vec::new(); producers];
    loop {
        let msg = if rng.below(8) == 0 {
            match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::TryRecvError::Empty) => {
                    yield_now().await;
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => None,
            }
        } else {
            // Cancelling recv must lose nothing.
            match maybe_cancel(&mut rng, rx.recv()).await {
                Some(m) => m,
                None => continue,
            }
        };
        let Some((p, seq)) = msg else { break };
        if let Some(cap) = capacity {
            assert!(rx.len() < cap, "seed {seed}: over capacity");
        }
        received[p].push(seq);
        yields(&mut rng, 1).await;
    }
    for t in tasks {
        t.await;
    }
    assert_eq!(
        *sent.borrow(),
        received,
        "seed {seed}, capacity {capacity:?}"
    );
}

#[test]
fn notify_random_interleaving_wakes_a_consumer_for_every_token() {
    const TOKENS: u64 = 5_000;
    for seed in seeds() {
        let _wd = watchdog(format!("notify seed {seed}"));
        solo::block_on(async move {
            let notify = Rc::new(Notify::new());
            // Where consumers that gave up wait for the end, without watching `pending`.
            let parking = Rc::new(Notify::new());
            let pending = Rc::new(Cell::new(0u64));
            let consumed = Rc::new(Cell::new(0u64));
            let done = Rc::new(Cell::new(false));
            let world = (notify, parking, pending, consumed.clone(), done);
            run_all(move |t| {
                let (notify, parking, pending, consumed, done) = world.clone();
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x4e07);
                async move {
                    if t == 0 {
                        // Producer: hand over one token at a time and wait until it is
                        // taken. A lost notification leaves it untaken with every
                        // consumer asleep: the watchdog fires.
                        for _ in 0..TOKENS {
                            pending.set(pending.get() + 1);
                            if rng.below(10) == 0 {
                                notify.notify_waiters();
                            } else {
                                notify.notify_one();
                            }
                            while pending.get() > 0 {
                                yield_now().await;
                            }
                        }
                        done.set(true);
                        notify.notify_waiters();
                        parking.notify_waiters();
                        return;
                    }
                    // Consumers: check the condition, then wait. Odd ones sometimes give
                    // up right after being woken, then stop watching: a `notify_one` they
                    // received must be forwarded to someone else.
                    let quitter = t % 2 == 1;
                    while !done.get() {
                        if pending.get() > 0 {
                            pending.set(pending.get() - 1);
                            consumed.set(consumed.get() + 1);
                            yields(&mut rng, 1).await;
                            continue;
                        }
                        if quitter && rng.below(16) == 0 {
                            let gave_up = CancelOnWake {
                                rng: Rng::new(rng.next()),
                                polled: false,
                            };
                            if future::or(
                                async {
                                    gave_up.await;
                                    true
                                },
                                async {
                                    notify.notified().await;
                                    false
                                },
                            )
                            .await
                            {
                                if !done.get() {
                                    parking.notified().await;
                                }
                                return;
                            }
                        } else if !quitter && rng.below(3) == 0 {
                            // Cancellations that re-check the condition afterwards.
                            maybe_cancel(&mut rng, notify.notified()).await;
                        } else {
                            notify.notified().await;
                        }
                    }
                }
            })
            .await;
            assert_eq!(consumed.get(), TOKENS, "seed {seed}");
        });
    }
}

#[test]
fn oneshot_random_interleaving_each_value_received_or_handed_back_exactly_once() {
    for seed in seeds() {
        let _wd = watchdog(format!("oneshot seed {seed}"));
        let log = DropLog::default();
        let world = Rc::new(OneshotWorld::default());
        let (log2, world2) = (log.clone(), world.clone());
        solo::block_on(async move {
            run_all(move |t| {
                let (log, world) = (log2.clone(), world2.clone());
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x0e5a);
                async move {
                    if t < ONESHOT_CONSUMERS {
                        oneshot_consumer(&world, &mut rng, seed).await;
                    } else {
                        oneshot_producer(&world, &log, &mut rng, seed).await;
                    }
                }
            })
            .await;
        });
        assert!(
            world.pool.borrow().is_empty(),
            "seed {seed}: a sender was never served"
        );
        let outcomes = world.outcomes.borrow();
        assert_eq!(
            outcomes.len(),
            (ONESHOT_CONSUMERS * OPS_PER_TASK) as usize,
            "seed {seed}"
        );
        let mut fates = std::collections::BTreeMap::new();
        for (id, o) in outcomes.iter().enumerate() {
            // Exactly one fate per channel, consistent from both ends.
            let fate = match (
                o.sent,
                o.handed_back,
                o.tx_dropped,
                o.received,
                o.rx_dropped,
            ) {
                // Sent and received.
                (true, false, false, true, false) => "received",
                // Sent, then the receiver was dropped with the value inside.
                (true, false, false, false, true) => "dropped with the receiver",
                // Receiver dropped first: the send handed the value back.
                (false, true, false, false, true) => "handed back",
                // Sender dropped unused: the receiver saw the error, or was dropped.
                (false, false, true, false, _) => "sender dropped",
                _ => panic!("seed {seed}: channel {id} has no consistent fate: {o:?}"),
            };
            *fates.entry(fate).or_insert(0u32) += 1;
            assert_eq!(
                o.error_seen,
                o.tx_dropped && !o.rx_dropped,
                "seed {seed}: {id} {o:?}"
            );
        }
        // Every path was taken (5,000 channels make each one near certain).
        assert_eq!(fates.len(), 4, "seed {seed}: {fates:?}");
        // Every value that was created was dropped exactly once, on this thread.
        log.assert_each_dropped_once_here(seed);
    }
}

/// Half the tasks of the oneshot test wait for values; the other half send them.
const ONESHOT_CONSUMERS: u64 = TASKS / 2;

/// What happened to one oneshot channel, seen from both ends.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    sent: bool,
    handed_back: bool,
    tx_dropped: bool,
    received: bool,
    error_seen: bool,
    rx_dropped: bool,
}

#[derive(Default)]
struct OneshotWorld {
    /// Senders waiting for a producer, with their channel's id.
    pool: RefCell<Vec<(usize, oneshot::Sender<Tracked>)>>,
    outcomes: RefCell<Vec<Outcome>>,
    consumers_done: Cell<u64>,
}

/// Creates a channel, hands the sender to the producers, then waits for the value with
/// random cancellation; a cancelled wait either waits again (nothing may be lost) or drops
/// the receiver (the value, if any, must be dropped with it or handed back).
async fn oneshot_consumer(world: &OneshotWorld, rng: &mut Rng, seed: u64) {
    for _ in 0..OPS_PER_TASK {
        let id = {
            let mut outcomes = world.outcomes.borrow_mut();
            outcomes.push(Outcome::default());
            outcomes.len() - 1
        };
        let (tx, mut rx) = oneshot::channel::<Tracked>();
        world.pool.borrow_mut().push((id, tx));
        let result = match maybe_cancel(rng, &mut rx).await {
            Some(r) => Some(r),
            None if rng.below(2) == 0 => {
                world.outcomes.borrow_mut()[id].rx_dropped = true;
                drop(rx);
                None
            }
            // Un-raced: hangs if the cancelled wait swallowed the wake-up.
            None => Some(rx.await),
        };
        match result {
            Some(Ok(v)) => {
                assert_eq!(v.id_tag, id, "seed {seed}: value for another channel");
                world.outcomes.borrow_mut()[id].received = true;
            }
            Some(Err(_)) => {
                world.outcomes.borrow_mut()[id].error_seen = true;
            }
            None => {}
        }
        yields(rng, 1).await;
    }
    world.consumers_done.set(world.consumers_done.get() + 1);
}

/// Serves random senders from the pool: sends a tracked value, drops the sender, or first
/// waits (cancellably) for the receiver to go away.
async fn oneshot_producer(world: &OneshotWorld, log: &DropLog, rng: &mut Rng, seed: u64) {
    loop {
        let picked = {
            let mut pool = world.pool.borrow_mut();
            if pool.is_empty() {
                None
            } else {
                let i = rng.below(pool.len() as u64) as usize;
                Some(pool.swap_remove(i))
            }
        };
        let Some((id, mut tx)) = picked else {
            if world.consumers_done.get() == ONESHOT_CONSUMERS {
                return;
            }
            yield_now().await;
            continue;
        };
        if rng.below(4) == 0 {
            // `closed()` resolves only if the receiver goes away: race it against yields.
            future::or(tx.closed(), yields(rng, 3)).await;
        }
        if rng.below(10) == 0 {
            world.outcomes.borrow_mut()[id].tx_dropped = true;
            drop(tx);
        } else {
            let mut value = log.value();
            value.id_tag = id;
            match tx.send(value) {
                Ok(()) => world.outcomes.borrow_mut()[id].sent = true,
                Err(back) => {
                    assert_eq!(back.id_tag, id, "seed {seed}");
                    assert!(
                        world.outcomes.borrow()[id].rx_dropped,
                        "seed {seed}: send to live receiver {id} failed"
                    );
                    world.outcomes.borrow_mut()[id].handed_back = true;
                }
            }
        }
        yields(rng, 1).await;
    }
}

#[test]
fn watch_random_interleaving_every_receiver_sees_monotonic_values_and_the_last() {
    const SENDS: u64 = 2_000;
    for seed in seeds() {
        let _wd = watchdog(format!("watch seed {seed}"));
        solo::block_on(async move {
            let (tx, rx) = watch::channel(0u64);
            let tx = Rc::new(RefCell::new(Some(tx)));
            let rx = Rc::new(rx);
            let observed = Rc::new(Cell::new(0u64));
            let (observed2, rx2) = (observed.clone(), rx.clone());
            run_all(move |t| {
                let (tx, observed) = (tx.clone(), observed2.clone());
                let mut rx = (*rx2).clone();
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x3a7c);
                async move {
                    if t == 0 {
                        // Publisher: increasing values, then the sender goes away.
                        for v in 1..=SENDS {
                            let sent = tx.borrow().as_ref().unwrap().send(v);
                            sent.expect("receivers are alive");
                            yields(&mut rng, 2).await;
                        }
                        drop(tx.borrow_mut().take());
                        return;
                    }
                    let mut last = *rx.borrow_and_update();
                    loop {
                        match maybe_cancel(&mut rng, rx.changed()).await {
                            // Cancelled: the change stays unseen for the next call.
                            None => continue,
                            Some(Ok(())) => {
                                let v = *rx.borrow_and_update();
                                assert!(v > last, "seed {seed}: {v} after {last}");
                                last = v;
                                observed.set(observed.get() + 1);
                            }
                            Some(Err(_)) => break,
                        }
                        if rng.below(20) == 0 {
                            // A fresh handle has seen the current value.
                            rx = rx.clone();
                            assert!(!rx.has_changed().unwrap_or(false), "seed {seed}");
                        }
                        yields(&mut rng, 2).await;
                    }
                    // Closed only after the last value was seen (unseen changes win).
                    assert_eq!(last, SENDS, "seed {seed}: closed before the last value");
                }
            })
            .await;
            assert_eq!(*rx.borrow(), SENDS);
            assert!(
                observed.get() >= TASKS - 1,
                "seed {seed}: nobody saw a change"
            );
        });
    }
}

// ---------------------------------------------------------------------------------------
// Drop everything mid-flight: every value dropped exactly once, on this thread.
// ---------------------------------------------------------------------------------------

/// Records, per value, how many times and on which threads it was dropped.
#[derive(Clone, Default)]
struct DropLog(Rc<RefCell<Vec<Vec<ThreadId>>>>);

impl DropLog {
    fn value(&self) -> Tracked {
        let mut log = self.0.borrow_mut();
        log.push(Vec::new());
        Tracked {
            id: log.len() - 1,
            id_tag: 0,
            log: self.clone(),
        }
    }

    fn assert_each_dropped_once_here(&self, seed: u64) {
        let here = thread::current().id();
        let log = self.0.borrow();
        assert!(!log.is_empty());
        for (id, drops) in log.iter().enumerate() {
            assert_eq!(
                drops.len(),
                1,
                "seed {seed}: value {id} dropped {} times",
                drops.len()
            );
            assert_eq!(
                drops[0], here,
                "seed {seed}: value {id} dropped on another thread"
            );
        }
    }
}

struct Tracked {
    id: usize,
    /// Free for a test to label the value with (the oneshot test stores its channel's id).
    id_tag: usize,
    log: DropLog,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.0.borrow_mut()[self.id].push(thread::current().id());
    }
}

type Flight = tokio_test::task::Spawn<Pin<Box<dyn Future<Output = ()>>>>;

/// Polls `fut` once (with a test waker) and keeps it in flight.
fn launch(fut: impl Future + 'static) -> Box<dyn Any> {
    let fut: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
        fut.await;
    });
    let mut flight: Flight = tokio_test::task::spawn(fut);
    let _ = flight.poll();
    Box::new(flight)
}

#[test]
fn drop_everything_mid_flight_drops_each_value_exactly_once() {
    for seed in seeds() {
        for round in 0..20 {
            let log = DropLog::default();
            let mut rng = Rng::new(seed ^ round);
            let mut things = in_flight_world(&log);
            rng.shuffle(&mut things);
            // Drop one at a time: each drop may hand something to a later one.
            while let Some(thing) = things.pop() {
                drop(thing);
            }
            log.assert_each_dropped_once_here(seed);
        }
    }
}

/// Builds channels and locks with values buffered, held and in flight in every state.
fn in_flight_world(log: &DropLog) -> Vec<Box<dyn Any>> {
    let mut things: Vec<Box<dyn Any>> = Vec::new();

    // Bounded mpsc: two buffered, three blocked senders, one of them then granted a slot.
    let (tx, mut rx) = mpsc::channel(2);
    for _ in 0..2 {
        tx.try_send(log.value()).ok().unwrap();
    }
    for _ in 0..3 {
        let (tx, v) = (tx.clone(), log.value());
        things.push(launch(async move {
            let _ = tx.send(v).await;
        }));
    }
    things.push(Box::new(rx.try_recv().unwrap()));
    things.push(Box::new(tx));
    things.push(Box::new(rx));

    // Unbounded mpsc with buffered values and a pending receiver elsewhere.
    let (tx, rx) = mpsc::unbounded();
    for _ in 0..5 {
        tx.try_send(log.value()).ok().unwrap();
    }
    let (tx2, mut rx2) = mpsc::unbounded::<Tracked>();
    things.push(launch(async move {
        let _ = rx2.recv().await;
    }));
    things.extend([Box::new(tx) as Box<dyn Any>, Box::new(rx), Box::new(tx2)]);

    // Oneshots: one value sent and unreceived, one receiver pending.
    let (tx, rx) = oneshot::channel();
    tx.send(log.value()).ok().unwrap();
    things.push(Box::new(rx));
    let (tx, rx) = oneshot::channel::<Tracked>();
    things.push(launch(rx));
    things.push(Box::new(tx));

    // Mutex: a holder parked forever, waiters queued behind it, each owning a value.
    let m = Rc::new(Mutex::new(log.value()));
    for i in 0..4 {
        let (m, v) = (m.clone(), log.value());
        things.push(launch(async move {
            let _guard = m.lock().await;
            let _v = v;
            if i == 0 {
                future::pending::<()>().await;
            }
        }));
    }
    things.push(Box::new(m));

    // RwLock: a reader parked, a writer and readers queued.
    let l = Rc::new(RwLock::new(log.value()));
    for i in 0..4 {
        let (l, v) = (l.clone(), log.value());
        things.push(launch(async move {
            let _v = v;
            if i == 1 {
                let _w = l.write().await;
            } else {
                let _r = l.read().await;
                future::pending::<()>().await;
            }
        }));
    }
    things.push(Box::new(l));

    // Semaphore: permits held forever and requests queued.
    let sem = Rc::new(Semaphore::new(2));
    for n in [2, 1, 2] {
        let (sem, v) = (sem.clone(), log.value());
        things.push(launch(async move {
            let _p = sem.acquire(n).await;
            let _v = v;
            future::pending::<()>().await;
        }));
    }
    things.push(Box::new(sem));

    // Notify: waiters, one of them already chosen by notify_one.
    let notify = Rc::new(Notify::new());
    for _ in 0..3 {
        let (notify, v) = (notify.clone(), log.value());
        things.push(launch(async move {
            notify.notified().await;
            let _v = v;
            future::pending::<()>().await;
        }));
    }
    notify.notify_one();
    things.push(Box::new(notify));

    // Watch: a replaced value, a current one and waiting receivers.
    let (tx, rx) = watch::channel(log.value());
    tx.send(log.value()).ok().unwrap();
    for _ in 0..2 {
        let mut rx = rx.clone();
        things.push(launch(async move {
            rx.borrow_and_update();
            let _ = rx.changed().await;
            future::pending::<()>().await;
        }));
    }
    things.extend([Box::new(tx) as Box<dyn Any>, Box::new(rx)]);

    things
}

// ---------------------------------------------------------------------------------------
// Re-entrant wakers: a waker may use the primitive that is waking it.
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Run (once) by the next `wake` of a `HookWaker` on this thread.
    static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
}

/// A waker that counts wake-ups and runs the thread's `HOOK` inside `wake`, the way a
/// waker that polls synchronously would re-enter the primitive.
struct HookWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for HookWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }
}

/// Installs `hook`, runs `trigger`, and checks the hook ran inside a wake-up.
fn wake_reenters(hook: impl FnOnce() + 'static, trigger: impl FnOnce()) {
    let ran = Rc::new(Cell::new(false));
    let ran2 = ran.clone();
    HOOK.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            hook();
            ran2.set(true);
        }))
    });
    trigger();
    assert!(ran.get(), "the trigger did not wake the waiter");
}

fn poll_hooked<F: Future>(fut: Pin<&mut F>, waker: &std::task::Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

#[test]
fn wakers_may_reenter_the_primitive_that_woke_them() {
    let waker = std::task::Waker::from(Arc::new(HookWaker(Default::default())));

    // Mutex: the hand-off wakes the waiter, whose waker tries the lock.
    let m = Rc::new(Mutex::new(0));
    let guard = m.try_lock().unwrap();
    let mut lock = std::pin::pin!(m.lock());
    assert!(poll_hooked(lock.as_mut(), &waker).is_pending());
    let m2 = m.clone();
    wake_reenters(move || assert!(m2.try_lock().is_none()), || drop(guard));
    assert!(poll_hooked(lock.as_mut(), &waker).is_ready());

    // RwLock: releasing the last reader admits a writer, whose waker tries to read.
    let l = Rc::new(RwLock::new(0));
    let r = l.try_read().unwrap();
    let mut write = std::pin::pin!(l.write());
    assert!(poll_hooked(write.as_mut(), &waker).is_pending());
    let l2 = l.clone();
    wake_reenters(move || assert!(l2.try_read().is_none()), || drop(r));
    assert!(poll_hooked(write.as_mut(), &waker).is_ready());

    // Semaphore: add_permits serves a waiter, whose waker adds more.
    let sem = Rc::new(Semaphore::new(0));
    let mut acquire = std::pin::pin!(sem.acquire(1));
    assert!(poll_hooked(acquire.as_mut(), &waker).is_pending());
    let s2 = sem.clone();
    wake_reenters(move || s2.add_permits(1), || sem.add_permits(1));
    let Poll::Ready(Ok(permit)) = poll_hooked(acquire.as_mut(), &waker) else {
        panic!("served waiter not ready");
    };
    assert_eq!(sem.available_permits(), 1);
    drop(permit);

    // Notify: notify_one picks a waiter, whose waker notifies again (stored as a permit).
    let notify = Rc::new(Notify::new());
    let mut notified = std::pin::pin!(notify.notified());
    assert!(poll_hooked(notified.as_mut(), &waker).is_pending());
    let n2 = notify.clone();
    wake_reenters(move || n2.notify_one(), || notify.notify_one());
    assert!(poll_hooked(notified.as_mut(), &waker).is_ready());
    assert!(poll_hooked(std::pin::pin!(notify.notified()), &waker).is_ready());

    // mpsc: a send wakes the receiver, whose waker sends again; a recv frees a slot for a
    // blocked sender, whose waker checks the channel.
    let (tx, mut rx) = mpsc::channel(1);
    let tx = Rc::new(tx);
    assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
    let tx2 = tx.clone();
    wake_reenters(
        move || assert_eq!(tx2.try_send(2), Err(mpsc::TrySendError::Full(2))),
        || tx.try_send(1).unwrap(),
    );
    assert_eq!(rx.try_recv(), Ok(1));
    tx.try_send(3).unwrap();
    let mut send = std::pin::pin!(tx.send(4));
    assert!(poll_hooked(send.as_mut(), &waker).is_pending());
    let tx3 = tx.clone();
    wake_reenters(
        move || assert!(!tx3.is_closed()),
        || assert_eq!(rx.try_recv(), Ok(3)),
    );
    assert!(poll_hooked(send.as_mut(), &waker).is_ready());

    // oneshot: sending wakes the receiver, whose waker looks at the receiver.
    let (tx, rx) = oneshot::channel();
    let rx = Rc::new(RefCell::new(rx));
    assert!(poll_hooked(Pin::new(&mut *rx.borrow_mut()), &waker).is_pending());
    let rx2 = rx.clone();
    wake_reenters(
        move || assert_eq!(rx2.borrow_mut().try_recv(), Ok(5)),
        || tx.send(5).unwrap(),
    );

    // watch: a send wakes a watcher, whose waker reads the new value.
    let (tx, mut rx) = watch::channel(0);
    let tx = Rc::new(tx);
    let mut changed = std::pin::pin!(rx.changed());
    assert!(poll_hooked(changed.as_mut(), &waker).is_pending());
    let tx2 = tx.clone();
    wake_reenters(move || assert_eq!(*tx2.borrow(), 6), || tx.send(6).unwrap());
    assert!(poll_hooked(changed.as_mut(), &waker).is_ready());
}
