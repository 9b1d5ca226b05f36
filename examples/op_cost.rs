//! solo's hot paths, one workload at a time, for counting instructions with callgrind.
//!
//! ```text
//! cargo build --release --example op_cost
//! for n in 10000 20000; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.spawn.$n \
//!     target/release/examples/op_cost spawn $n
//! done
//! # instructions per spawn = (Ir(20000) - Ir(10000)) / 10000; where they go:
//! callgrind_annotate --inclusive=yes cg.spawn.20000 | head -40
//! ```
//!
//! Workloads (each runs `n` operations on one `LocalExecutor`):
//! `spawn` (spawn + await one task), `spawn_many` (spawn `n`, then await them),
//! `yield` (100 tasks yield `n / 100` times each), `chain` (each task spawns the next),
//! `ping_pong` (round trips through a one-place channel), `block_on` (a ready future),
//! `sleep` (create a 1 s sleep, poll once, drop), `sleep_100k` (the same with 100k live timers),
//! `sleep_many` (`n` tasks each sleep a random duration in [0, 50 ms], as in
//! `benches/timers.rs`; prints the process CPU time per timer too), and `bare_sleep_many`
//! (the same on the bare async-task baseline of `benches/support/bare.rs`, which is not a
//! runtime: the difference is what solo's features cost). With `OP_COST_ROUNDS=k`, these two
//! run `k` rounds in one process and report the last (the steady state the criterion bench
//! sees, with freed memory reused rather than faulted in afresh).
//!
//! With `OP_COST_NO_SLOW_POLL=1` in the environment, slow-poll detection is off (to measure
//! what its per-poll marker costs). Every run prints its wall time per operation.

#[path = "../benches/support/bare.rs"]
mod bare;

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// `n` random durations in [0, `max_ms`] ms, from a fixed-seed xorshift.
fn random_sleeps(n: u64, max_ms: u64) -> impl Iterator<Item = Duration> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    (0..n).map(move |_| {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        Duration::from_nanos(rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % (max_ms * 1_000_000 + 1))
    })
}

/// One-place local channel (the same as the benches' `Slot`).
#[derive(Default)]
struct Slot {
    value: Cell<Option<u64>>,
    waker: Cell<Option<Waker>>,
}

impl Slot {
    fn send(&self, v: u64) {
        self.value.set(Some(v));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn recv(&self) -> u64 {
        poll_fn(|cx| match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

fn chain(n: u64, done: Rc<Slot>) {
    if n == 0 {
        done.send(0);
    } else {
        solo::spawn_local(async move { chain(n - 1, done) }).detach();
    }
}

async fn poll_once<F: Future>(f: F) {
    let mut f = pin!(f);
    poll_fn(|cx| {
        black_box(f.as_mut().poll(cx).is_ready());
        Poll::Ready(())
    })
    .await
}

/// The process's CPU time (user + system) and minor page faults so far.
fn usage() -> (Duration, i64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime) + tv(usage.ru_stime), usage.ru_minflt)
}

/// Runs `round` `OP_COST_ROUNDS` times (default 1) and prints the CPU time per timer and the
/// page faults of the last round: with several rounds, that is the steady state a benchmark
/// that repeats the workload in one process sees.
fn timer_rounds(n: u64, mut round: impl FnMut()) {
    let rounds: u32 = std::env::var("OP_COST_ROUNDS").map_or(1, |s| s.parse().expect("a count"));
    let mut last = (Duration::ZERO, 0);
    for _ in 0..rounds {
        let before = usage();
        round();
        let after = usage();
        last = (after.0 - before.0, after.1 - before.1);
    }
    println!(
        "{n} timers: {:.0} ns of CPU per timer, {} page faults (last of {rounds} rounds)",
        last.0.as_nanos() as f64 / n as f64,
        last.1
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "spawn".into());
    let n: u64 = args.next().map_or(10_000, |s| s.parse().expect("a count"));
    // `sleep_many` only: the longest sleep in ms (50; longer under valgrind, whose slowness
    // would otherwise let every deadline pass before its first poll).
    let max_ms: u64 = args.next().map_or(50, |s| s.parse().expect("milliseconds"));
    if std::env::var_os("OP_COST_NO_SLOW_POLL").is_some() {
        solo::diag::set_slow_poll_threshold(None);
    }
    let ex = solo::LocalExecutor::new();
    let start = std::time::Instant::now();
    match what.as_str() {
        "spawn" => ex.block_on(async {
            for i in 0..n {
                black_box(ex.spawn(async move { black_box(i) }).await);
            }
        }),
        "spawn_many" => ex.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| ex.spawn(async move { black_box(i) }))
                .collect();
            for t in tasks {
                black_box(t.await);
            }
        }),
        "yield" => ex.block_on(async {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    ex.spawn(async move {
                        for _ in 0..n / 100 {
                            solo::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        }),
        "chain" => ex.block_on(async {
            let done = Rc::new(Slot::default());
            chain(n, done.clone());
            done.recv().await;
        }),
        "ping_pong" => ex.block_on(async {
            let (ab, ba) = (Rc::new(Slot::default()), Rc::new(Slot::default()));
            let (ab2, ba2) = (ab.clone(), ba.clone());
            let ping = ex.spawn(async move {
                for i in 0..n {
                    ab.send(i);
                    black_box(ba.recv().await);
                }
            });
            let pong = ex.spawn(async move {
                for _ in 0..n {
                    let v = ab2.recv().await;
                    ba2.send(v);
                }
            });
            ping.await;
            pong.await;
        }),
        "block_on" => {
            for i in 0..n {
                black_box(ex.block_on(async { black_box(i) }));
            }
        }
        "sleep" | "sleep_100k" => ex.block_on(async {
            let live = if what == "sleep" { 0 } else { 100_000 };
            let mut others: Vec<_> = (0..live)
                .map(|i| Box::pin(solo::time::sleep(Duration::from_secs(60 + i % 60))))
                .collect();
            poll_fn(|cx| {
                for s in &mut others {
                    assert!(s.as_mut().poll(cx).is_pending());
                }
                Poll::Ready(())
            })
            .await;
            for _ in 0..n {
                poll_once(solo::time::sleep(Duration::from_secs(1))).await;
            }
        }),
        "sleep_many" => timer_rounds(n, || {
            ex.block_on(async {
                let tasks: Vec<_> = random_sleeps(n, max_ms)
                    .map(|d| ex.spawn(solo::time::sleep(d)))
                    .collect();
                for t in tasks {
                    t.await;
                }
            })
        }),
        "bare_sleep_many" => timer_rounds(n, || {
            bare::block_on(async {
                let tasks: Vec<_> = random_sleeps(n, max_ms)
                    .map(|d| bare::spawn(bare::sleep(d)))
                    .collect();
                for t in tasks {
                    t.await;
                }
            })
        }),
        other => panic!("unknown workload {other:?}"),
    }
    eprintln!(
        "{what}: {:.1} ns per operation (wall)",
        start.elapsed().as_nanos() as f64 / n as f64
    );
}
