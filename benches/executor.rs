//! Executor benchmarks: solo against its peers, one criterion group per workload.
//!
//! Every group runs the same async code on each runtime through `support::Rt`, so one run
//! prints solo and each peer side by side. Times are per criterion iteration; the groups
//! whose iteration is a batch set `Throughput::Elements` to the number of operations in it
//! (divide the time by it for ns per operation).
//!
//! ```text
//! cargo bench --bench executor -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! - `spawn_one`: spawn one task and await it (one iteration = one spawn + await).
//! - `spawn_many`: spawn 10,000 tasks, then await them all (one iteration = 10,000 tasks).
//! - `yield_now`: 1,000 tasks yield 1,000 times each (one iteration = 1,000,000 yields).
//! - `chained_spawn`: each task spawns the next, 1,000 deep (one iteration = 1,000 spawns).
//! - `ping_pong`: two tasks hand a value back and forth through a one-place local channel
//!   that wakes the other side (one iteration = one round trip: two wakes, two polls).
//! - `block_on_ready`: `block_on` of a future that is ready at once.
//! - `remote_wake`: a task hands its waker to another thread, which wakes it; one iteration
//!   is the round trip (the executor sleeps in between). monoio is absent: a wake from a
//!   non-monoio thread needs its `sync` feature.
//!
//! `bare async-task`, in the spawn, yield, chain and ping-pong groups, is not a runtime:
//! `async-task` runnables on a `VecDeque` and nothing else (`benches/support/bare.rs`). It
//! shows, in the same run, what any executor built on `async-task` has to pay too.

mod support;

use std::future::poll_fn;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use support::{
    AsyncExecutor, Bare, LocalPool, Monoio, Rt, Slot, Solo, TokioLocalRt, TokioLocalSet,
};

const SPAWN_MANY: u64 = 10_000;
const YIELD_TASKS: u64 = 1_000;
const YIELDS: u64 = 1_000;
const CHAIN: u64 = 1_000;

/// Runs `body` once per runtime in one group.
macro_rules! for_each_rt {
    ($group:expr, $body:ident $(, $rt:ident)*) => {
        $( $body(&mut $group, $rt::new()); )*
    };
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn spawn_one<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(R::spawn(async { black_box(1u64) }).await);
                }
                start.elapsed()
            })
        })
    });
}

fn spawn_many<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        let mut handles = Vec::with_capacity(SPAWN_MANY as usize);
        b.iter(|| {
            rt.block_on(async {
                for i in 0..SPAWN_MANY {
                    handles.push(R::spawn(async move { black_box(i) }));
                }
                for h in handles.drain(..) {
                    black_box(h.await);
                }
            })
        })
    });
}

fn yield_now<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let handles: Vec<_> = (0..YIELD_TASKS)
                    .map(|_| {
                        R::spawn(async {
                            for _ in 0..YIELDS {
                                R::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.await;
                }
            })
        })
    });
}

fn chain<R: Rt>(n: u64, done: Rc<Slot>) {
    if n == 0 {
        done.send(0);
    } else {
        R::detach(async move { chain::<R>(n - 1, done) });
    }
}

fn chained_spawn<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let done = Rc::new(Slot::default());
                chain::<R>(CHAIN, done.clone());
                done.recv().await;
            })
        })
    });
}

fn ping_pong<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let (ab, ba) = (Rc::new(Slot::default()), Rc::new(Slot::default()));
                let (ab2, ba2) = (ab.clone(), ba.clone());
                let start = Instant::now();
                let ping = R::spawn(async move {
                    for i in 0..iters {
                        ab.send(i);
                        black_box(ba.recv().await);
                    }
                });
                let pong = R::spawn(async move {
                    for _ in 0..iters {
                        let v = ab2.recv().await;
                        ba2.send(v);
                    }
                });
                ping.await;
                pong.await;
                start.elapsed()
            })
        })
    });
}

fn block_on_ready<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter(|| rt.block_on(async { black_box(1u64) }))
    });
}

/// Waits for one wake from the helper thread.
async fn remote_round_trip(tx: &mpsc::Sender<(Arc<AtomicBool>, Waker)>, flag: &Arc<AtomicBool>) {
    let mut sent = false;
    poll_fn(|cx| {
        if !sent {
            sent = true;
            flag.store(false, Ordering::Relaxed);
            tx.send((flag.clone(), cx.waker().clone())).unwrap();
            return Poll::Pending;
        }
        if flag.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

fn remote_wake<R: Rt>(g: &mut Group<'_>, mut rt: R) {
    let (tx, rx) = mpsc::channel::<(Arc<AtomicBool>, Waker)>();
    let helper = thread::spawn(move || {
        for (flag, waker) in rx {
            flag.store(true, Ordering::Release);
            waker.wake();
        }
    });
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            let tx = tx.clone();
            rt.block_on(async move {
                let start = Instant::now();
                R::spawn(async move {
                    let flag = Arc::new(AtomicBool::new(false));
                    for _ in 0..iters {
                        remote_round_trip(&tx, &flag).await;
                    }
                })
                .await;
                start.elapsed()
            })
        })
    });
    drop(tx);
    helper.join().unwrap();
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_one");
    for_each_rt!(
        g,
        spawn_one,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Bare,
        Monoio
    );
    g.finish();

    let mut g = c.benchmark_group("spawn_many");
    g.throughput(Throughput::Elements(SPAWN_MANY));
    for_each_rt!(
        g,
        spawn_many,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Bare,
        Monoio
    );
    g.finish();

    let mut g = c.benchmark_group("yield_now");
    g.throughput(Throughput::Elements(YIELD_TASKS * YIELDS));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for_each_rt!(
        g,
        yield_now,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Bare,
        Monoio
    );
    g.finish();

    let mut g = c.benchmark_group("chained_spawn");
    g.throughput(Throughput::Elements(CHAIN));
    for_each_rt!(
        g,
        chained_spawn,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Bare,
        Monoio
    );
    g.finish();

    let mut g = c.benchmark_group("ping_pong");
    for_each_rt!(
        g,
        ping_pong,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Bare,
        Monoio
    );
    g.finish();

    let mut g = c.benchmark_group("block_on_ready");
    for_each_rt!(
        g,
        block_on_ready,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool,
        Monoio
    );
    // The thread's default executor (a TLS lookup more) and the lighter peer entry points.
    g.bench_function("solo::block_on", |b| {
        b.iter(|| solo::block_on(async { black_box(1u64) }))
    });
    g.bench_function("async-executor (futures-lite block_on)", |b| {
        let ex = async_executor::LocalExecutor::new();
        b.iter(|| futures_lite::future::block_on(ex.run(async { black_box(1u64) })))
    });
    g.bench_function("futures::executor::block_on", |b| {
        b.iter(|| futures_executor::block_on(async { black_box(1u64) }))
    });
    g.finish();

    let mut g = c.benchmark_group("remote_wake");
    // monoio: skipped, see the module docs.
    for_each_rt!(
        g,
        remote_wake,
        Solo,
        TokioLocalSet,
        TokioLocalRt,
        AsyncExecutor,
        LocalPool
    );
    g.finish();
}

criterion_group! {
    name = executor;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(executor);
