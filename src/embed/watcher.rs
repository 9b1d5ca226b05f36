//! The fd watcher behind [`LocalExecutor::set_wake_callback`](crate::LocalExecutor::set_wake_callback):
//! I/O readiness for hosts that cannot watch a file descriptor.
//!
//! A host like winit learns of outside work only through its callback. Task wakes already
//! reach it (the executor calls the callback when it goes from idle to having work), but a
//! socket becoming readable wakes nobody: the event sits in the thread's epoll set until
//! somebody calls `epoll_wait`. The watcher is a thread that does so on the host's behalf,
//! without taking the events: it watches the thread's epoll fd from a poller of its own,
//! edge-triggered, and on each new readiness signals the executor exactly like a remote wake.
//!
//! # Invariants
//!
//! - The watcher only *observes* the owner's epoll set (a nested epoll registration of a
//!   duplicate of its fd); it never reads events out of it, so the owner's `run_ready` still
//!   sees every event.
//! - Edge-triggered: one wake-up per new event on the owner's set, so an fd that stays
//!   readable until the owner gets round to `run_ready` does not make the watcher spin. The
//!   signal goes through the sleep handshake, so it calls the host only when the executor is
//!   idle, once per idle period.
//! - An event the watcher sees may already be stale: the owner can take it (in `run_ready`)
//!   and go idle again between the watcher's wake-up and its signal. Signalling then would
//!   call the host for nothing and, worse, use up the idle period's one callback, so the next
//!   real event would call nobody until the host ran. So the watcher reads the owner's sleep
//!   token, checks that the set still has events, and claims that very sleep: the claim fails
//!   if the owner woke in between. Nothing is lost by skipping: an event that lands after the
//!   check is a new edge, and the watcher wakes for it again.
//! - An event that lands while the owner is awake (inside `run_ready`, after its drain) raises
//!   no callback: the owner checks its epoll fd once more after going idle (see
//!   [`FdWatcher::io_ready`]) and reports `MoreWork` instead of stranding the event.
//! - Dropping the watcher stops and joins the thread before the executor is gone; the thread
//!   holds its own duplicate of the epoll fd, so it never touches a closed or reused fd.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use polling::{Event, Events, PollMode, Poller};

use crate::executor::Shared;

/// A thread that turns readiness on an executor's epoll fd into wake signals.
pub(crate) struct FdWatcher {
    /// The owner's epoll fd (a duplicate), for [`FdWatcher::io_ready`].
    epoll: Arc<OwnedFd>,
    /// The watcher's own poller; `notify` interrupts its wait at shutdown.
    poller: Arc<Poller>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FdWatcher {
    /// Starts watching `epoll` (the thread's poller fd) for `shared`'s executor.
    ///
    /// Fails with `Unsupported` where `polling` has no edge-triggered mode (there a
    /// level-triggered watcher would spin), and with the OS error if a thread or a poller
    /// cannot be created.
    pub(crate) fn start(epoll: BorrowedFd<'_>, shared: Arc<Shared>) -> io::Result<FdWatcher> {
        let poller = Arc::new(Poller::new()?);
        if !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this platform's poller has no edge-triggered mode",
            ));
        }
        let epoll = Arc::new(epoll.try_clone_to_owned()?);
        // SAFETY: `add_with_mode` requires the fd to be deleted from the poller before it is
        // closed. The thread below deletes it before exiting; the fd is kept open by the
        // `Arc<OwnedFd>` the thread holds, so it cannot be closed while registered.
        unsafe { poller.add_with_mode(&*epoll, Event::readable(0), PollMode::Edge)? };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (epoll, poller, stop) = (epoll.clone(), poller.clone(), stop.clone());
            thread::Builder::new()
                .name("solo-fd-watcher".into())
                .spawn(move || {
                    crate::pool::unpin_helper_thread();
                    let mut events = Events::new();
                    loop {
                        events.clear();
                        // `polling` retries EINTR itself; any other error would repeat forever.
                        if poller.wait(&mut events, None).is_err() || stop.load(Ordering::Acquire) {
                            break;
                        }
                        if !events.is_empty() {
                            // Token first, then the check, then the claim (module docs).
                            if let Some(token) = shared.inbox.sleeping()
                                && has_events(&epoll)
                                && shared.inbox.claim(token)
                            {
                                shared.notify();
                            }
                        }
                    }
                    let _ = poller.delete(&*epoll);
                })?
        };
        Ok(FdWatcher {
            epoll,
            poller,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether the owner's epoll set has events waiting, without taking them (one `poll(2)`
    /// with a zero timeout). Closes the window in which an event lands while the owner is
    /// awake: the watcher's signal is ignored then, so the owner looks once more after it has
    /// gone idle.
    pub(crate) fn io_ready(&self) -> bool {
        has_events(&self.epoll)
    }
}

/// Whether the epoll set `epoll` has events waiting, without taking them.
fn has_events(epoll: &OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(epoll, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
}

impl Drop for FdWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // If the notification fails the poller is broken and its wait has failed too.
        let _ = self.poller.notify();
        if let Some(thread) = self.thread.take() {
            // The thread only signals and deregisters; it cannot panic in solo's code, and a
            // panic in the host's callback was already reported by the panic hook.
            let _ = thread.join();
        }
    }
}
