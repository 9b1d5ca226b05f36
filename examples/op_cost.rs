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
//! `SOLO_SLOW_POLL=off` turns slow-poll detection off, to measure what it costs.
//!
//! Workloads (each runs `n` operations on one `LocalExecutor`):
//! `spawn` (spawn + await one task), `spawn_many` (spawn `n`, then await them),
//! `yield` (100 tasks yield `n / 100` times each), `chain` (each task spawns the next),
//! `ping_pong` (round trips through a one-place channel), `block_on` (a ready future),
//! `sleep` (create a 1 s sleep, poll once, drop), `sleep_100k` (the same with 100k live timers).

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

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "spawn".into());
    let n: u64 = args.next().map_or(10_000, |s| s.parse().expect("a count"));
    // SOLO_SLOW_POLL=off measures the cost of slow-poll detection (on by default).
    if std::env::var_os("SOLO_SLOW_POLL").is_some_and(|v| v == "off") {
        solo::diag::set_slow_poll_threshold(None);
    }
    let ex = solo::LocalExecutor::new();
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
        other => panic!("unknown workload {other:?}"),
    }
}
