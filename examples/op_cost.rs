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
//! `benches/timers.rs`; prints the process CPU time per timer too).
//!
//! With `OP_COST_NO_SLOW_POLL=1` in the environment, slow-poll detection is off (to measure
//! what its per-poll marker costs). Every run prints its wall time per operation.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

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
        "sleep_many" => {
            let before = cpu_time();
            ex.block_on(async {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64;
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        rng ^= rng >> 12;
                        rng ^= rng << 25;
                        rng ^= rng >> 27;
                        let ns = rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % (max_ms * 1_000_000 + 1);
                        ex.spawn(solo::time::sleep(Duration::from_nanos(ns)))
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            });
            let cpu = cpu_time() - before;
            println!(
                "{n} timers: {:.0} ns of CPU per timer",
                cpu.as_nanos() as f64 / n as f64
            );
        }
        other => panic!("unknown workload {other:?}"),
    }
    eprintln!(
        "{what}: {:.1} ns per operation (wall)",
        start.elapsed().as_nanos() as f64 / n as f64
    );
}
