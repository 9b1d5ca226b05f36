//! A calloop event loop drives solo: `EventLoop::dispatch` is the only loop on this thread.
//!
//! solo's fd is a calloop `Generic` source (readable when I/O is ready or a task was woken
//! from another thread) and solo's next timer deadline becomes a calloop `Timer`, re-armed
//! after every dispatch. Tasks sleep, exchange "ping"/"pong" over loopback TCP and wait for a
//! message from a std thread; they record what happened in `Rc<RefCell<_>>` state that the
//! host loop reads between dispatches, as a GUI would when it redraws.
//!
//! Run with: `cargo run --release --example calloop_host`

#[path = "support/host_tasks.rs"]
mod host_tasks;

use std::rc::Rc;
use std::time::{Duration, Instant};

use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{EventLoop, Interest, Mode, PostAction};
use solo::LocalExecutor;

/// How many tasks run per `run_ready` call: the host keeps control between batches.
const BUDGET: usize = 64;

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    let ex = Rc::new(LocalExecutor::new());
    let ui: host_tasks::Ui = Default::default();
    let tasks = host_tasks::spawn(&ex, &ui)?;

    let mut event_loop: EventLoop<'_, ()> = EventLoop::try_new().map_err(std::io::Error::other)?;
    let handle = event_loop.handle();
    let fd = ex.as_fd().try_clone_to_owned()?;
    let on_fd = ex.clone();
    handle
        .insert_source(
            Generic::new(fd, Interest::READ, Mode::Level),
            move |_, _, _| {
                on_fd.run_ready(BUDGET);
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;

    let mut dispatches = 0;
    let mut shown = 0;
    // Spawning does not make the fd readable: run once to start the tasks.
    ex.run_ready(BUDGET);
    while tasks.iter().any(|t| !t.is_finished()) {
        // The next deadline becomes a one-shot calloop timer, re-queried after every dispatch.
        let timer = ex.next_deadline().map(|deadline| {
            let on_timer = ex.clone();
            handle
                .insert_source(Timer::from_deadline(deadline), move |_, _, _| {
                    on_timer.run_ready(BUDGET);
                    TimeoutAction::Drop
                })
                .expect("calloop refused a timer source")
        });
        event_loop
            .dispatch(Some(Duration::from_secs(5)), &mut ())
            .map_err(std::io::Error::other)?;
        if let Some(timer) = timer {
            handle.remove(timer);
        }
        dispatches += 1;
        // The "redraw": show what the tasks recorded since the last dispatch.
        for line in &ui.borrow()[shown..] {
            println!("[{:>6.2} ms] {line}", start.elapsed().as_secs_f64() * 1e3);
        }
        shown = ui.borrow().len();
        if start.elapsed() > Duration::from_secs(30) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the tasks did not finish in 30 s",
            ));
        }
    }
    for task in tasks {
        // Every task is finished: `block_on` returns its output without waiting.
        ex.block_on(task)?;
    }
    println!(
        "done: {} events in {dispatches} calloop dispatches, {:.2} ms",
        ui.borrow().len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
