//! What embedding costs: cross-thread wake latency per host, and the idle cost of a host loop.
//!
//! ```sh
//! # Latency from `wake()` on another thread to the task running, 10,000 wakes per host:
//! # solo's own `block_on` next to calloop, a bare poll(2) host, a poll(2) host that also
//! # calls `run_ready` at 60 Hz, and (with --features glib) `solo::glib::attach`.
//! cargo run --release --example wake_latency
//! cargo run --release --features glib --example wake_latency
//!
//! # Idle cost: ~20 ms of work (timers, an unblock), then idling until SECS with a task waiting
//! # on a signal that never comes and a 60 s timer pending. Count syscalls per thread in a
//! # 2 s window after a warm-up, e.g. attached:
//! cargo build --release --example wake_latency
//! target/release/examples/wake_latency idle calloop 6 & sleep 1.5
//! timeout -s INT 2 strace -f -c -p $!
//! # or, without attach artefacts, trace the whole run per thread and count by timestamp:
//! strace -f -ff -ttt -o /tmp/t target/release/examples/wake_latency idle calloop 5
//! ```
//!
//! Hosts for `idle`: `block_on`, `calloop`, `poll(2)`, `poll-60hz`, `glib` (with the feature).
//!
//! The waking thread stamps the time just before `wake()`; the task stamps it when it runs.
//! "idle" rounds wait ~100 µs between the task re-arming and the wake, so the owner thread is
//! asleep in its host's poll when the wake comes (the case that matters for a GUI); "hot"
//! rounds wake as soon as the task has re-armed, usually before the owner has gone to sleep.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use solo::{LocalExecutor, RunStatus, Task};

const WAKES: usize = 10_000;
const WARM_UP: usize = 200;
const BUDGET: usize = 64;

/// A one-bit signal set from another thread, with the time it was set.
struct Signal {
    /// (fired, the waiting task's waker)
    state: Mutex<(bool, Option<Waker>)>,
    /// Set by the task when it stored its waker: the next `fire` is a real wake.
    armed: AtomicBool,
    /// Nanoseconds since `base` just before the last `wake()`.
    stamp: AtomicU64,
    base: Instant,
}

impl Signal {
    fn fire(&self) {
        self.stamp
            .store(self.base.elapsed().as_nanos() as u64, Ordering::SeqCst);
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        waker.expect("fired before the task armed").wake();
    }
}

struct Fired(Arc<Signal>);

impl Future for Fired {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.state.lock().unwrap();
        if std::mem::take(&mut state.0) {
            return Poll::Ready(());
        }
        state.1 = Some(cx.waker().clone());
        self.0.armed.store(true, Ordering::SeqCst);
        Poll::Pending
    }
}

/// The waking thread: waits for the task to arm, optionally lets the owner fall asleep, wakes.
fn spawn_waker(signal: Arc<Signal>, rounds: usize, gap: Duration) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..rounds {
            while !signal.armed.swap(false, Ordering::SeqCst) {
                thread::yield_now();
            }
            if !gap.is_zero() {
                thread::sleep(gap);
            }
            signal.fire();
        }
    })
}

/// The task: awaits `rounds` wakes and records each latency in nanoseconds.
async fn waiter(signal: Arc<Signal>, rounds: usize, out: Rc<RefCell<Vec<u64>>>) {
    for _ in 0..rounds {
        Fired(signal.clone()).await;
        let now = signal.base.elapsed().as_nanos() as u64;
        out.borrow_mut()
            .push(now.saturating_sub(signal.stamp.load(Ordering::SeqCst)));
    }
}

/// Drives `ex` with one of the hosts until `main` finishes.
type Host = fn(&Rc<LocalExecutor<'static>>, Task<()>);

fn host_block_on(ex: &Rc<LocalExecutor<'static>>, main: Task<()>) {
    ex.block_on(main);
}

fn host_calloop(ex: &Rc<LocalExecutor<'static>>, main: Task<()>) {
    use calloop::generic::Generic;
    use calloop::timer::{TimeoutAction, Timer};
    use calloop::{EventLoop, Interest, Mode, PostAction};

    let mut event_loop: EventLoop<'_, ()> = EventLoop::try_new().unwrap();
    let handle = event_loop.handle();
    let fd = ex.as_fd().try_clone_to_owned().unwrap();
    let ex2 = ex.clone();
    handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            move |_, _, _| {
                ex2.run_ready(BUDGET);
                Ok(PostAction::Continue)
            },
        )
        .unwrap();
    let mut status = ex.run_ready(BUDGET);
    while !main.is_finished() {
        // The recipe: the deadline becomes a calloop timer, re-armed after every dispatch.
        let timer = match status {
            RunStatus::Idle => None,
            _ => ex.next_deadline().map(|deadline| {
                let ex3 = ex.clone();
                handle
                    .insert_source(Timer::from_deadline(deadline), move |_, _, _| {
                        ex3.run_ready(BUDGET);
                        TimeoutAction::Drop
                    })
                    .unwrap()
            }),
        };
        event_loop.dispatch(None, &mut ()).unwrap();
        if let Some(timer) = timer {
            handle.remove(timer);
        }
        status = match ex.next_deadline() {
            Some(t) if t <= Instant::now() => RunStatus::MoreWork,
            Some(t) => RunStatus::WaitUntil(t),
            None => RunStatus::Idle,
        };
    }
}

/// A bare poll(2) loop on solo's fd, bounded by its deadline.
fn host_poll(ex: &Rc<LocalExecutor<'static>>, main: Task<()>) {
    poll_loop(ex, main, None);
}

/// The poll(2) loop of a host that also wakes for a 60 Hz frame and calls `run_ready` every
/// frame whether or not solo has work (as a game loop or a redraw timer would).
fn host_poll_60hz(ex: &Rc<LocalExecutor<'static>>, main: Task<()>) {
    poll_loop(ex, main, Some(Duration::from_micros(16_667)));
}

fn poll_loop(ex: &Rc<LocalExecutor<'static>>, main: Task<()>, frame: Option<Duration>) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    while !main.is_finished() {
        let timeout = match ex.run_ready(BUDGET) {
            RunStatus::MoreWork => Some(Duration::ZERO),
            RunStatus::WaitUntil(t) => Some(t.saturating_duration_since(Instant::now())),
            RunStatus::Idle => None,
        };
        let timeout = match (timeout, frame) {
            (Some(t), Some(f)) => Some(t.min(f)),
            (t, f) => t.or(f),
        };
        if main.is_finished() {
            break;
        }
        let fd = ex.as_fd();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let ts = timeout.map(|t| Timespec::try_from(t).unwrap());
        poll(&mut fds, ts.as_ref()).unwrap();
    }
}

#[cfg(feature = "glib")]
fn host_glib(ex: &Rc<LocalExecutor<'static>>, main: Task<()>) {
    let context = glib::MainContext::new();
    let _attached = solo::glib::attach(ex.clone(), &context);
    while !main.is_finished() {
        context.iteration(true);
    }
}

fn hosts() -> Vec<(&'static str, Host)> {
    #[allow(unused_mut)]
    let mut hosts: Vec<(&'static str, Host)> = vec![
        ("block_on", host_block_on),
        ("calloop", host_calloop),
        ("poll(2)", host_poll),
        ("poll-60hz", host_poll_60hz),
    ];
    #[cfg(feature = "glib")]
    hosts.push(("glib", host_glib));
    hosts
}

fn measure(host: Host, gap: Duration) -> Vec<u64> {
    let ex = Rc::new(LocalExecutor::new());
    let signal = Arc::new(Signal {
        state: Mutex::new((false, None)),
        armed: AtomicBool::new(false),
        stamp: AtomicU64::new(0),
        base: Instant::now(),
    });
    let rounds = WARM_UP + WAKES;
    let out = Rc::new(RefCell::new(Vec::with_capacity(rounds)));
    let task = ex.spawn(waiter(signal.clone(), rounds, out.clone()));
    let waker = spawn_waker(signal, rounds, gap);
    host(&ex, task);
    waker.join().unwrap();
    let mut v = out.borrow()[WARM_UP..].to_vec();
    v.sort_unstable();
    v
}

fn micros(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1000.0)
}

fn latency() {
    println!(
        "cross-thread wake() -> task running, {WAKES} wakes per host ({WARM_UP} warm-up wakes not counted)"
    );
    for (mode, gap) in [
        (
            "idle (owner asleep, ~100 µs gap)",
            Duration::from_micros(100),
        ),
        ("hot (wake as soon as re-armed)", Duration::ZERO),
    ] {
        println!("\n{mode}");
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>10}",
            "host", "median", "p90", "p99", "max"
        );
        for (name, host) in hosts() {
            let v = measure(host, gap);
            let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
            println!(
                "{:<10} {:>10} {:>10} {:>10} {:>10}",
                name,
                micros(at(0.5)),
                micros(at(0.9)),
                micros(at(0.99)),
                micros(*v.last().unwrap())
            );
        }
    }
}

/// A burst of work (timers, a cross-thread wake), then SECS of idling with a task waiting on
/// a signal that never comes and a 60 s timer pending.
fn idle(host_name: &str, secs: u64) {
    let host = hosts()
        .into_iter()
        .find(|(n, _)| *n == host_name)
        .unwrap_or_else(|| {
            panic!("unknown host {host_name}; try block_on, calloop, poll(2), poll-60hz, glib")
        })
        .1;
    let ex = Rc::new(LocalExecutor::new());
    let start = Instant::now();
    for ms in [1, 5, 10] {
        ex.spawn(solo::time::sleep(Duration::from_millis(ms)))
            .detach();
    }
    ex.spawn(solo::time::sleep(Duration::from_secs(60)))
        .detach();
    let done = ex.spawn(solo::unblock(|| thread::sleep(Duration::from_millis(20))));
    let new_signal = || {
        Arc::new(Signal {
            state: Mutex::new((false, None)),
            armed: AtomicBool::new(false),
            stamp: AtomicU64::new(0),
            base: Instant::now(),
        })
    };
    let never = new_signal();
    let n = never.clone();
    ex.spawn(Fired(n)).detach();
    println!(
        "pid {} host {host_name}: work for ~20 ms, then idle until {secs} s",
        std::process::id()
    );
    // The main task waits for a stop signal that a helper thread sends at the deadline.
    let stop = new_signal();
    let s = stop.clone();
    let main = ex.spawn(Fired(s));
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_secs(secs));
        while !stop.armed.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
        }
        stop.fire();
    });
    host(&ex, main);
    stopper.join().unwrap();
    assert!(done.is_finished());
    drop(never);
    println!("idle run finished after {:?}", start.elapsed());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("latency") => latency(),
        Some("idle") => {
            let host = args.get(1).map(String::as_str).unwrap_or("calloop");
            let secs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);
            idle(host, secs);
        }
        Some(other) => {
            eprintln!("usage: wake_latency [latency | idle HOST SECS] (got {other:?})");
            std::process::exit(2);
        }
    }
}
