//! Memory per idle task: the RSS growth of spawning 100,000 small tasks that each run once
//! and then stay pending, for solo and its peers.
//!
//! ```text
//! cargo run --release --example task_memory            # every runtime, one child process each
//! cargo run --release --example task_memory -- solo    # one runtime
//! ```
//!
//! Each runtime is measured in a fresh child process: the resident set size (from
//! `/proc/self/statm`) is read after the runtime has been created and has run a warm-up task,
//! and again once all 100,000 tasks have been polled once and are parked. The future is a
//! zero-sized `async` block (it bumps a thread-local counter, then waits forever); its
//! `JoinHandle`/`Task` is detached, so only what the runtime keeps per task is counted,
//! including the run-queue capacity the burst of spawns left behind.

// The baseline: bare async-task tasks on a `VecDeque`, nothing tracked (not a runtime).
#[path = "../benches/support/bare.rs"]
#[allow(dead_code)]
mod bare;

use std::cell::Cell;
use std::future::Future;
use std::process::Command;

const TASKS: usize = 100_000;
const RUNTIMES: [&str; 7] = [
    "solo",
    "tokio-localset",
    "tokio-localrt",
    "async-executor",
    "futures-localpool",
    "monoio",
    "bare",
];

thread_local! {
    static STARTED: Cell<usize> = const { Cell::new(0) };
}

/// The idle task: zero-sized until it is polled, then parked forever.
async fn idle_task() {
    STARTED.with(|s| s.set(s.get() + 1));
    std::future::pending::<()>().await;
}

fn started() -> usize {
    STARTED.with(Cell::get)
}

/// Resident set size in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

/// Yields until every task has run once.
async fn until_all_started(yield_now: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>) {
    while started() < TASKS {
        yield_now().await;
    }
}

fn measure(runtime: &str) -> (usize, usize) {
    let boxed_yield = || -> std::pin::Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(futures_lite::future::yield_now())
    };
    match runtime {
        "solo" => {
            let ex = solo::LocalExecutor::new();
            ex.block_on(ex.spawn(async {}));
            let before = rss();
            for _ in 0..TASKS {
                ex.spawn(idle_task()).detach();
            }
            ex.run_until_stalled();
            assert_eq!(started(), TASKS);
            (before, rss())
        }
        "tokio-localset" | "tokio-localrt" => {
            let mut b = tokio::runtime::Builder::new_current_thread();
            b.enable_all();
            let work = async {
                tokio::task::spawn_local(async {}).await.unwrap();
                let before = rss();
                for _ in 0..TASKS {
                    drop(tokio::task::spawn_local(idle_task()));
                }
                until_all_started(boxed_yield).await;
                (before, rss())
            };
            if runtime == "tokio-localset" {
                let rt = b.build().unwrap();
                tokio::task::LocalSet::new().block_on(&rt, work)
            } else {
                let rt = b
                    .build_local(tokio::runtime::LocalOptions::default())
                    .unwrap();
                rt.block_on(work)
            }
        }
        "async-executor" => {
            let ex = async_executor::LocalExecutor::new();
            async_io::block_on(ex.run(async {
                ex.spawn(async {}).await;
                let before = rss();
                for _ in 0..TASKS {
                    ex.spawn(idle_task()).detach();
                }
                until_all_started(boxed_yield).await;
                (before, rss())
            }))
        }
        "futures-localpool" => {
            use futures_util::task::LocalSpawnExt;
            let mut pool = futures_executor::LocalPool::new();
            let spawner = pool.spawner();
            spawner.spawn_local(async {}).unwrap();
            pool.run_until_stalled();
            let before = rss();
            for _ in 0..TASKS {
                spawner.spawn_local(idle_task()).unwrap();
            }
            pool.run_until_stalled();
            assert_eq!(started(), TASKS);
            (before, rss())
        }
        "monoio" => {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .unwrap();
            rt.block_on(async {
                monoio::spawn(async {}).await;
                let before = rss();
                for _ in 0..TASKS {
                    drop(monoio::spawn(idle_task()));
                }
                // monoio's `block_on` re-polls a self-woken main future before running tasks:
                // a yield loop would spin forever, so wait on a timer instead.
                while started() < TASKS {
                    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                (before, rss())
            })
        }
        "bare" => bare::block_on(async {
            bare::spawn(async {}).await;
            let before = rss();
            for _ in 0..TASKS {
                bare::spawn(idle_task()).detach();
            }
            until_all_started(boxed_yield).await;
            (before, rss())
        }),
        other => panic!("unknown runtime {other:?}; one of {RUNTIMES:?}"),
    }
}

fn main() {
    if let Some(runtime) = std::env::args().nth(1) {
        let (before, after) = measure(&runtime);
        let per_task = after.saturating_sub(before) as f64 / TASKS as f64;
        println!(
            "{runtime:<18} {per_task:>7.1} bytes/task   (RSS {} KiB -> {} KiB over {TASKS} tasks)",
            before / 1024,
            after / 1024
        );
        // Leave without dropping 100k parked tasks: only the growth matters.
        std::process::exit(0);
    }
    let exe = std::env::current_exe().expect("current_exe");
    for runtime in RUNTIMES {
        let status = Command::new(&exe)
            .arg(runtime)
            .status()
            .expect("re-running this example");
        assert!(status.success(), "{runtime} failed");
    }
}
