//! `solo::sync` benchmarks: solo's channels and mutex against tokio's and smol's, one
//! criterion group per workload.
//!
//! Each group runs the same async code for every entry through two traits: `support::Rt`
//! (the executor) and [`Prims`] (the channel and lock library). The native pairings are the
//! comparisons that matter (`solo::sync on solo`, `tokio::sync on tokio-localset`,
//! `async-channel on async-executor`, the last with async-lock for the mutex); two cross
//! pairings run tokio's and smol's primitives on solo's executor, which separates what the
//! primitive costs from what the executor costs.
//!
//! ```text
//! cargo bench --bench sync -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `mpsc_ping_pong_cap1`: two tasks bounce a counter over two bounded channels of capacity
//!   1 (one iteration = one round trip: two sends, two receives, two wakes).
//! - `oneshot_ping_pong`: the same round trip over a fresh pair of oneshot channels per round
//!   (creating both channels is part of the cost). smol has no oneshot; its entry uses
//!   `async_channel::bounded(1)`, the usual stand-in.
//! - `mutex_uncontended`: lock, increment, unlock in a loop (one iteration = one lock).
//! - `mutex_contended_100_tasks`: 100 tasks lock 100 times each and hold the lock across a
//!   `yield_now`, so the other 99 queue up; every unlock hands the lock to a waiter (one
//!   iteration = 10,000 locks, including spawning the 100 tasks).
//! - `unbounded_burst_1m`: one task sends 1,000,000 messages into a fresh unbounded channel
//!   without yielding, then a consumer task drains them (one iteration = 1M messages).
//!
//! Before the groups run, a counting global allocator reports the allocations per message
//! (per round trip, per lock) of each entry, in the same process. Set
//! `SOLO_BENCH_NO_ALLOC_REPORT=1` to skip it.
//!
//! For instruction counts (repeatable on a loaded machine), `SOLO_BENCH_RUN=group,entry,n`
//! runs one group's workload `n` times for the entries whose name contains `entry`, prints
//! the time per operation and exits. Name one entry in full (`on solo` alone would also run
//! the cross pairings on solo), and take the difference of two runs (`n` and `2n`) to leave
//! out the start-up:
//!
//! ```text
//! SOLO_BENCH_RUN="oneshot_ping_pong,solo::sync on solo,100000" valgrind --tool=callgrind \
//!     target/release/deps/sync-<hash>
//! ```

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::ops::DerefMut;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use support::{AsyncExecutor, Rt, Solo, TokioLocalSet};

const CONTENDERS: u64 = 100;
const LOCKS_EACH: u64 = 100;
const BURST: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Counting allocator

/// Counts every allocation (and reallocation) made by any thread of the bench process while
/// `COUNTING` is set (only during the allocation report, so the timed runs pay one relaxed
/// load per allocation, not a locked increment).
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

#[inline]
fn count_allocation() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds
// `GlobalAlloc`'s contract; the counter and its switch are relaxed atomics that touch no
// memory the caller owns, never allocate and cannot unwind.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: our caller's obligations for `alloc` (a non-zero-size layout) are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// The primitives of each library, as the benches use them

/// One library's bounded and unbounded mpsc, oneshot and mutex.
trait Prims: 'static {
    /// The channels' library.
    const NAME: &'static str;
    /// The mutex's library.
    const LOCK: &'static str;

    type Tx: 'static;
    type Rx: 'static;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()>;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>>;

    type UTx: 'static;
    type URx: 'static;
    fn unbounded() -> (Self::UTx, Self::URx);
    /// Sends without waiting (the channel is unbounded).
    fn push(tx: &Self::UTx, v: u64);
    fn pull(rx: &mut Self::URx) -> impl Future<Output = Option<u64>>;

    type OTx: 'static;
    type ORx: 'static;
    fn oneshot() -> (Self::OTx, Self::ORx);
    fn complete(tx: Self::OTx, v: u64);
    fn wait(rx: Self::ORx) -> impl Future<Output = u64>;

    type Mutex: 'static;
    type Guard<'a>: DerefMut<Target = u64>;
    fn mutex() -> Self::Mutex;
    fn lock(m: &Self::Mutex) -> impl Future<Output = Self::Guard<'_>>;
}

struct SoloSync;

impl Prims for SoloSync {
    const NAME: &'static str = "solo::sync";
    const LOCK: &'static str = "solo::sync";

    type Tx = solo::sync::mpsc::Sender<u64>;
    type Rx = solo::sync::mpsc::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        solo::sync::mpsc::channel(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> {
        rx.recv()
    }

    type UTx = solo::sync::mpsc::Sender<u64>;
    type URx = solo::sync::mpsc::Receiver<u64>;
    fn unbounded() -> (Self::UTx, Self::URx) {
        solo::sync::mpsc::unbounded()
    }
    fn push(tx: &Self::UTx, v: u64) {
        tx.try_send(v).unwrap()
    }
    fn pull(rx: &mut Self::URx) -> impl Future<Output = Option<u64>> {
        rx.recv()
    }

    type OTx = solo::sync::oneshot::Sender<u64>;
    type ORx = solo::sync::oneshot::Receiver<u64>;
    fn oneshot() -> (Self::OTx, Self::ORx) {
        solo::sync::oneshot::channel()
    }
    fn complete(tx: Self::OTx, v: u64) {
        tx.send(v).unwrap()
    }
    async fn wait(rx: Self::ORx) -> u64 {
        rx.await.unwrap()
    }

    type Mutex = solo::sync::Mutex<u64>;
    type Guard<'a> = solo::sync::MutexGuard<'a, u64>;
    fn mutex() -> Self::Mutex {
        solo::sync::Mutex::new(0)
    }
    fn lock(m: &Self::Mutex) -> impl Future<Output = Self::Guard<'_>> {
        m.lock()
    }
}

struct TokioSync;

impl Prims for TokioSync {
    const NAME: &'static str = "tokio::sync";
    const LOCK: &'static str = "tokio::sync";

    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> {
        rx.recv()
    }

    type UTx = tokio::sync::mpsc::UnboundedSender<u64>;
    type URx = tokio::sync::mpsc::UnboundedReceiver<u64>;
    fn unbounded() -> (Self::UTx, Self::URx) {
        tokio::sync::mpsc::unbounded_channel()
    }
    fn push(tx: &Self::UTx, v: u64) {
        tx.send(v).unwrap()
    }
    fn pull(rx: &mut Self::URx) -> impl Future<Output = Option<u64>> {
        rx.recv()
    }

    type OTx = tokio::sync::oneshot::Sender<u64>;
    type ORx = tokio::sync::oneshot::Receiver<u64>;
    fn oneshot() -> (Self::OTx, Self::ORx) {
        tokio::sync::oneshot::channel()
    }
    fn complete(tx: Self::OTx, v: u64) {
        tx.send(v).unwrap()
    }
    async fn wait(rx: Self::ORx) -> u64 {
        rx.await.unwrap()
    }

    type Mutex = tokio::sync::Mutex<u64>;
    type Guard<'a> = tokio::sync::MutexGuard<'a, u64>;
    fn mutex() -> Self::Mutex {
        tokio::sync::Mutex::new(0)
    }
    fn lock(m: &Self::Mutex) -> impl Future<Output = Self::Guard<'_>> {
        m.lock()
    }
}

/// smol's primitives: async-channel for the channels (no oneshot: `bounded(1)` stands in),
/// async-lock for the mutex.
struct SmolSync;

impl Prims for SmolSync {
    const NAME: &'static str = "async-channel";
    const LOCK: &'static str = "async-lock";

    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }

    type UTx = async_channel::Sender<u64>;
    type URx = async_channel::Receiver<u64>;
    fn unbounded() -> (Self::UTx, Self::URx) {
        async_channel::unbounded()
    }
    fn push(tx: &Self::UTx, v: u64) {
        tx.try_send(v).unwrap()
    }
    async fn pull(rx: &mut Self::URx) -> Option<u64> {
        rx.recv().await.ok()
    }

    type OTx = async_channel::Sender<u64>;
    type ORx = async_channel::Receiver<u64>;
    fn oneshot() -> (Self::OTx, Self::ORx) {
        async_channel::bounded(1)
    }
    fn complete(tx: Self::OTx, v: u64) {
        tx.try_send(v).unwrap()
    }
    async fn wait(rx: Self::ORx) -> u64 {
        rx.recv().await.unwrap()
    }

    type Mutex = async_lock::Mutex<u64>;
    type Guard<'a> = async_lock::MutexGuard<'a, u64>;
    fn mutex() -> Self::Mutex {
        async_lock::Mutex::new(0)
    }
    fn lock(m: &Self::Mutex) -> impl Future<Output = Self::Guard<'_>> {
        m.lock()
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads. Each returns its elapsed time and the allocations made while it ran.

/// `n` round trips over two bounded channels of capacity 1, between two spawned tasks.
async fn mpsc_ping_pong<R: Rt, P: Prims>(n: u64) -> (Duration, u64) {
    let (to_pong, mut from_ping) = P::bounded(1);
    let (to_ping, mut from_pong) = P::bounded(1);
    let allocs = allocations();
    let start = Instant::now();
    let ping = R::spawn(async move {
        for i in 0..n {
            P::send(&to_pong, i).await;
            black_box(P::recv(&mut from_pong).await);
        }
    });
    let pong = R::spawn(async move {
        while let Some(v) = P::recv(&mut from_ping).await {
            P::send(&to_ping, v).await;
        }
    });
    ping.await;
    pong.await;
    (start.elapsed(), allocations() - allocs)
}

/// Where ping leaves pong's ends of the next round: (receiver of round `i + 1`, reply sender
/// of round `i`).
type NextRound<P> = Rc<RefCell<Option<(<P as Prims>::ORx, <P as Prims>::OTx)>>>;

/// `n` round trips, each over two fresh oneshot channels (ping -> pong, pong -> ping).
///
/// Before sending round `i`, ping leaves the receiver of round `i + 1` and the reply sender
/// of round `i` in a shared slot, which pong takes once round `i`'s value arrived.
async fn oneshot_ping_pong<R: Rt, P: Prims>(n: u64) -> (Duration, u64) {
    let next: NextRound<P> = Rc::default();
    let next2 = next.clone();
    let (first_tx, first_rx) = P::oneshot();
    let allocs = allocations();
    let start = Instant::now();
    let ping = R::spawn(async move {
        let mut to_pong = first_tx;
        for i in 0..n {
            let (following_tx, following_rx) = P::oneshot();
            let (reply_tx, reply_rx) = P::oneshot();
            *next.borrow_mut() = Some((following_rx, reply_tx));
            P::complete(std::mem::replace(&mut to_pong, following_tx), i);
            black_box(P::wait(reply_rx).await);
        }
        // Round `n` never comes: pong sees this value as the end.
        P::complete(to_pong, u64::MAX);
    });
    let pong = R::spawn(async move {
        let mut from_ping = first_rx;
        loop {
            let v = P::wait(from_ping).await;
            if v == u64::MAX {
                break;
            }
            let (following_rx, reply_tx) = next2.borrow_mut().take().unwrap();
            P::complete(reply_tx, v);
            from_ping = following_rx;
        }
    });
    ping.await;
    pong.await;
    (start.elapsed(), allocations() - allocs)
}

/// `n` uncontended lock-increment-unlock cycles.
async fn mutex_uncontended<P: Prims>(n: u64) -> (Duration, u64) {
    let m = P::mutex();
    let allocs = allocations();
    let start = Instant::now();
    for _ in 0..n {
        *P::lock(&m).await += 1;
    }
    let elapsed = start.elapsed();
    let allocs = allocations() - allocs;
    assert_eq!(*P::lock(&m).await, n);
    (elapsed, allocs)
}

/// `CONTENDERS` tasks each take the lock `LOCKS_EACH` times, holding it across a yield.
async fn mutex_contended<R: Rt, P: Prims>() -> (Duration, u64) {
    let m = Rc::new(P::mutex());
    let allocs = allocations();
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let m = m.clone();
            R::spawn(async move {
                for _ in 0..LOCKS_EACH {
                    let mut guard = P::lock(&m).await;
                    *guard += 1;
                    R::yield_now().await;
                    drop(guard);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let elapsed = start.elapsed();
    let allocs = allocations() - allocs;
    assert_eq!(*P::lock(&m).await, CONTENDERS * LOCKS_EACH);
    (elapsed, allocs)
}

/// `BURST` messages sent into a fresh unbounded channel without yielding, then drained by a
/// consumer task.
async fn unbounded_burst<R: Rt, P: Prims>() -> (Duration, u64) {
    let allocs = allocations();
    let start = Instant::now();
    let (tx, mut rx) = P::unbounded();
    let consumer = R::spawn(async move {
        let mut sum = 0u64;
        while let Some(v) = P::pull(&mut rx).await {
            sum += v;
        }
        sum
    });
    for i in 0..BURST {
        P::push(&tx, i);
    }
    drop(tx);
    let sum = consumer.await;
    let elapsed = start.elapsed();
    let allocs = allocations() - allocs;
    assert_eq!(sum, BURST * (BURST - 1) / 2);
    (elapsed, allocs)
}

// ---------------------------------------------------------------------------------------------
// Groups

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The entry's name: the channels, then the executor they run on.
fn id<R: Rt, P: Prims>() -> String {
    format!("{} on {}", P::NAME, R::NAME)
}

/// The entry's name in the mutex groups.
fn lock_id<R: Rt, P: Prims>() -> String {
    format!("{} on {}", P::LOCK, R::NAME)
}

/// Runs `$bench::<R, P>` for the native pairings, then the cross pairings on solo.
macro_rules! for_each_pair {
    ($group:expr, $bench:ident) => {
        $bench::<Solo, SoloSync>(&mut $group, Solo::new());
        $bench::<TokioLocalSet, TokioSync>(&mut $group, TokioLocalSet::new());
        $bench::<AsyncExecutor, SmolSync>(&mut $group, AsyncExecutor::new());
        $bench::<Solo, TokioSync>(&mut $group, Solo::new());
        $bench::<Solo, SmolSync>(&mut $group, Solo::new());
    };
}

fn bench_mpsc_ping_pong<R: Rt, P: Prims>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(id::<R, P>(), |b| {
        b.iter_custom(|iters| rt.block_on(mpsc_ping_pong::<R, P>(iters)).0)
    });
}

fn bench_oneshot_ping_pong<R: Rt, P: Prims>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(id::<R, P>(), |b| {
        b.iter_custom(|iters| rt.block_on(oneshot_ping_pong::<R, P>(iters)).0)
    });
}

fn bench_mutex_uncontended<R: Rt, P: Prims>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(lock_id::<R, P>(), |b| {
        b.iter_custom(|iters| rt.block_on(mutex_uncontended::<P>(iters)).0)
    });
}

fn bench_mutex_contended<R: Rt, P: Prims>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(lock_id::<R, P>(), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(mutex_contended::<R, P>()).0)
                .sum()
        })
    });
}

fn bench_unbounded_burst<R: Rt, P: Prims>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(id::<R, P>(), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(unbounded_burst::<R, P>()).0)
                .sum()
        })
    });
}

/// Prints allocations per operation for every entry, measured in this process.
fn report_allocations<R: Rt, P: Prims>(_: &mut (), mut rt: R) {
    const ROUNDS: u64 = 100_000;
    // Warm up so one-time runtime allocations (queues, thread-locals) are not counted.
    rt.block_on(mpsc_ping_pong::<R, P>(1_000));
    rt.block_on(oneshot_ping_pong::<R, P>(1_000));
    rt.block_on(mutex_contended::<R, P>());
    let mpsc = rt.block_on(mpsc_ping_pong::<R, P>(ROUNDS)).1;
    let oneshot = rt.block_on(oneshot_ping_pong::<R, P>(ROUNDS)).1;
    let uncontended = rt.block_on(mutex_uncontended::<P>(ROUNDS)).1;
    let contended = rt.block_on(mutex_contended::<R, P>()).1;
    let burst = rt.block_on(unbounded_burst::<R, P>()).1;
    println!(
        "| {} / {} | {:.4} | {:.4} | {:.4} | {:.4} | {} ({:.6}) |",
        id::<R, P>(),
        P::LOCK,
        mpsc as f64 / ROUNDS as f64,
        oneshot as f64 / ROUNDS as f64,
        uncontended as f64 / ROUNDS as f64,
        contended as f64 / (CONTENDERS * LOCKS_EACH) as f64,
        burst,
        burst as f64 / BURST as f64,
    );
}

/// Runs one workload `n` times for each entry whose name contains `entry`, outside criterion,
/// and prints the time per operation: a fixed amount of work to count instructions of, e.g.
/// `SOLO_BENCH_RUN=oneshot_ping_pong,solo::sync,100000 valgrind --tool=callgrind ...`.
fn run_once<R: Rt, P: Prims>(spec: &mut (String, String, u64), mut rt: R) {
    let (group, entry, n) = (spec.0.as_str(), spec.1.as_str(), spec.2);
    let name = if group.starts_with("mutex") {
        lock_id::<R, P>()
    } else {
        id::<R, P>()
    };
    if !name.contains(entry) {
        return;
    }
    let (elapsed, ops) = match group {
        "mpsc_ping_pong_cap1" => (rt.block_on(mpsc_ping_pong::<R, P>(n)).0, n),
        "oneshot_ping_pong" => (rt.block_on(oneshot_ping_pong::<R, P>(n)).0, n),
        "mutex_uncontended" => (rt.block_on(mutex_uncontended::<P>(n)).0, n),
        "mutex_contended_100_tasks" => (
            (0..n)
                .map(|_| rt.block_on(mutex_contended::<R, P>()).0)
                .sum(),
            n * CONTENDERS * LOCKS_EACH,
        ),
        "unbounded_burst_1m" => (
            (0..n)
                .map(|_| rt.block_on(unbounded_burst::<R, P>()).0)
                .sum(),
            n * BURST,
        ),
        other => panic!("SOLO_BENCH_RUN: no group {other:?}"),
    };
    println!(
        "{group}/{name}: {:.1} ns per operation ({ops} operations)",
        elapsed.as_nanos() as f64 / ops as f64
    );
}

fn benches(c: &mut Criterion) {
    // Long polls are what these benches do (a 1M-message burst is one poll): keep the
    // slow-poll detector running, as it does by default, but do not print its reports.
    solo::diag::set_slow_poll_handler(|_| {});

    if let Ok(spec) = std::env::var("SOLO_BENCH_RUN") {
        let mut parts = spec.splitn(3, ',');
        let mut spec = match (parts.next(), parts.next(), parts.next()) {
            (Some(group), Some(entry), Some(n)) => (
                group.to_owned(),
                entry.to_owned(),
                n.parse().expect("SOLO_BENCH_RUN=group,entry,iterations"),
            ),
            _ => panic!("SOLO_BENCH_RUN=group,entry,iterations"),
        };
        for_each_pair!(spec, run_once);
        std::process::exit(0);
    }

    if std::env::var_os("SOLO_BENCH_NO_ALLOC_REPORT").is_none() {
        println!("Allocations (counting global allocator, after a warm-up run):");
        println!(
            "| entry | mpsc cap 1 per round trip | oneshot per round trip | \
             uncontended per lock | 100 tasks per lock | 1M unbounded burst: total (per message) |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        COUNTING.store(true, Ordering::Relaxed);
        for_each_pair!((), report_allocations);
        COUNTING.store(false, Ordering::Relaxed);
        println!();
    }

    let mut g = c.benchmark_group("mpsc_ping_pong_cap1");
    for_each_pair!(g, bench_mpsc_ping_pong);
    g.finish();

    let mut g = c.benchmark_group("oneshot_ping_pong");
    for_each_pair!(g, bench_oneshot_ping_pong);
    g.finish();

    let mut g = c.benchmark_group("mutex_uncontended");
    for_each_pair!(g, bench_mutex_uncontended);
    g.finish();

    let mut g = c.benchmark_group("mutex_contended_100_tasks");
    g.throughput(Throughput::Elements(CONTENDERS * LOCKS_EACH));
    for_each_pair!(g, bench_mutex_contended);
    g.finish();

    let mut g = c.benchmark_group("unbounded_burst_1m");
    g.throughput(Throughput::Elements(BURST));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for_each_pair!(g, bench_unbounded_burst);
    g.finish();
}

criterion_group! {
    name = sync;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(sync);
