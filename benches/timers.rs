//! Timer benchmarks: solo against its peers, one criterion group per workload.
//!
//! ```text
//! cargo bench --bench timers -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! - `sleep_create_poll_drop/0_live` and `/100k_live`: create a 1 s sleep, poll it once from
//!   a task (registering it), drop it (cancelling it). One iteration = one sleep. In the
//!   `100k_live` variant 100,000 other sleeps with random deadlines 60-120 s ahead stay
//!   registered, so every new 1 s sleep is the earliest one (the worst case for a heap).
//! - `sleep_many`: 100,000 tasks each sleep a random duration in [0, 50 ms] and finish. The
//!   time reported is the **process CPU time** (user + system, `getrusage`), not wall time:
//!   one iteration = 100,000 timers, so divide by 100,000 for CPU ns per timer. It also runs
//!   on `bare async-task` (`benches/support/bare.rs`): not a runtime, only async-task tasks, a
//!   `VecDeque` and `std`'s `BinaryHeap`, so the same run shows what these parts cost alone.
//!
//! futures' `LocalPool` has no timers and is absent here; async-executor uses async-io's
//! `Timer` under `async_io::block_on`.

mod support;

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use support::{AsyncExecutor, Bare, Monoio, Rng, Solo, TimerRt, TokioLocalRt, TokioLocalSet};

const LIVE: u64 = 100_000;
const SLEEPERS: u64 = 100_000;
const MAX_SLEEP_NS: u64 = 50_000_000;

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

macro_rules! for_each_rt {
    ($group:expr, $body:ident, $arg:expr; $($rt:ident),*) => {
        $( $body(&mut $group, $rt::new(), $arg); )*
    };
    ($group:expr, $body:ident; $($rt:ident),*) => {
        $( $body(&mut $group, $rt::new()); )*
    };
}

/// Polls `f` once with the current task's context and drops it.
async fn poll_once<F: Future>(f: F) {
    let mut f = pin!(f);
    poll_fn(|cx| {
        black_box(f.as_mut().poll(cx).is_ready());
        Poll::Ready(())
    })
    .await
}

fn sleep_create_poll_drop<R: TimerRt>(g: &mut Group<'_>, mut rt: R, live: u64) {
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                // The live timers: registered (polled once) and kept until the end.
                let mut rng = Rng::new();
                let mut others: Vec<_> = (0..live)
                    .map(|_| {
                        let d = Duration::from_secs(60)
                            + Duration::from_nanos(rng.below(60_000_000_000));
                        Box::pin(R::sleep(d))
                    })
                    .collect();
                poll_fn(|cx| {
                    for s in &mut others {
                        assert!(s.as_mut().poll(cx).is_pending());
                    }
                    Poll::Ready(())
                })
                .await;
                let start = Instant::now();
                for _ in 0..iters {
                    poll_once(R::sleep(Duration::from_secs(1))).await;
                }
                let elapsed = start.elapsed();
                drop(others);
                elapsed
            })
        })
    });
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn sleep_many<R: TimerRt>(g: &mut Group<'_>, mut rt: R) {
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let before = cpu_time();
                rt.block_on(async {
                    let mut rng = Rng::new();
                    let handles: Vec<_> = (0..SLEEPERS)
                        .map(|_| {
                            let d = Duration::from_nanos(rng.below(MAX_SLEEP_NS + 1));
                            R::spawn(R::sleep(d))
                        })
                        .collect();
                    for h in handles {
                        h.await;
                    }
                });
                cpu += cpu_time() - before;
            }
            cpu
        })
    });
}

fn benches(c: &mut Criterion) {
    for (name, live) in [("0_live", 0), ("100k_live", LIVE)] {
        let mut g = c.benchmark_group(format!("sleep_create_poll_drop/{name}"));
        if live > 0 {
            // Each sample registers 100k timers first (not timed): keep the sample count low.
            g.sample_size(20);
        }
        for_each_rt!(g, sleep_create_poll_drop, live; Solo, TokioLocalSet, TokioLocalRt, AsyncExecutor, Monoio);
        g.finish();
    }

    let mut g = c.benchmark_group("sleep_many");
    g.throughput(Throughput::Elements(SLEEPERS));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for_each_rt!(g, sleep_many; Solo, TokioLocalSet, TokioLocalRt, AsyncExecutor, Monoio, Bare);
    g.finish();
}

criterion_group! {
    name = timers;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(timers);
