//! A winit-style host without fd support drives solo through the wake callback alone.
//!
//! winit's loop cannot watch a file descriptor; it learns of outside work through
//! `EventLoopProxy::send_event` and wakes up for timers through `ControlFlow::WaitUntil`.
//! Here a std channel stands in for the proxy: solo's wake callback sends a "user event"
//! when the executor goes from idle to having work (from whichever thread woke it), and the
//! host waits on the channel until the instant `run_ready` returned. Tasks sleep, exchange
//! "ping"/"pong" over loopback TCP, and receive a message from a std thread.
//!
//! Run with: `cargo run --release --example callback_host`

#[path = "support/host_tasks.rs"]
mod host_tasks;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use solo::{LocalExecutor, RunStatus};

/// How many tasks run per `run_ready` call: the host keeps control between batches.
const BUDGET: usize = 64;

/// The host's events: winit's `Event::UserEvent`.
enum UserEvent {
    SoloHasWork,
}

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    let ex = LocalExecutor::new();
    let (proxy, events) = mpsc::channel::<UserEvent>();
    // Any thread may call this; it only posts an event, never runs the executor.
    ex.set_wake_callback(move || {
        let _ = proxy.send(UserEvent::SoloHasWork);
    });

    let ui: host_tasks::Ui = Default::default();
    let tasks = host_tasks::spawn(&ex, &ui)?;

    let mut iterations = 0;
    let mut shown = 0;
    loop {
        iterations += 1;
        // winit: `Event::UserEvent` or `StartCause::ResumeTimeReached` -> run solo.
        let status = ex.run_ready(BUDGET);
        for line in &ui.borrow()[shown..] {
            println!("[{:>6.2} ms] {line}", start.elapsed().as_secs_f64() * 1e3);
        }
        shown = ui.borrow().len();
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        // winit: `ControlFlow::Poll`, `WaitUntil(t)` or `Wait`.
        let wait = match status {
            RunStatus::MoreWork => Duration::ZERO,
            RunStatus::WaitUntil(t) => t.saturating_duration_since(Instant::now()),
            RunStatus::Idle => Duration::from_secs(5),
        };
        match events.recv_timeout(wait) {
            Ok(UserEvent::SoloHasWork) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the executor holds the proxy")
            }
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the tasks did not finish in 30 s",
            ));
        }
    }
    for task in tasks {
        ex.block_on(task)?;
    }
    println!(
        "done: {} events in {iterations} host iterations, {:.2} ms",
        ui.borrow().len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
