//! The reactor: one per thread, shared by every executor on that thread. It owns the
//! `polling::Poller`, the registered sources and the timer heap, and turns OS events and due
//! timers into wakes.
//!
//! # Invariants
//!
//! - A `Reactor` is created lazily by the first executor, `Async` or timer on a thread, lives
//!   in that thread's TLS and in the `Rc`s of everything registered with it, and is never
//!   touched by another thread (only its `Poller` is shared, for cross-thread notification).
//! - Wakers are never woken while a `RefCell` of the reactor is borrowed: they are collected
//!   into `to_wake` first, so a waker that re-enters the reactor (registers, drops a source)
//!   cannot hit "already borrowed". A waker that panics is contained, and the rest of the batch
//!   is still woken.
//! - Deregistration happens before the fd is closed (`Async`'s `Drop`), and event keys carry a
//!   generation, so a reused fd number never receives a stale event.

mod async_io;
mod source;
mod sys;

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use polling::{Event, PollMode, Poller};
use slab::Slab;

pub use async_io::Async;
pub(crate) use source::Source;

use crate::time::TimerHeap;
use crate::time::clock;

/// The longest single sleep in the OS. A timer further away than this (a "never" deadline)
/// costs one wake-up per day instead of an overflow.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

thread_local! {
    static REACTOR: OnceCell<Rc<Reactor>> = const { OnceCell::new() };
}

/// The thread's poller, sources and timers.
pub(crate) struct Reactor {
    poller: Arc<Poller>,
    /// Edge-triggered registrations (epoll, kqueue); otherwise oneshot, re-armed on wait.
    edge: bool,
    sources: RefCell<Slab<Rc<Source>>>,
    generation: Cell<u32>,
    waiter: RefCell<sys::Waiter>,
    pub(crate) timers: RefCell<TimerHeap>,
    /// Wakers collected during one `react`, woken after all borrows end.
    to_wake: RefCell<Vec<Waker>>,
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        let poller = Poller::new()?;
        let edge = !cfg!(solo_portable_poll) && poller.supports_edge();
        Ok(Reactor {
            poller: Arc::new(poller),
            edge,
            sources: RefCell::new(Slab::new()),
            generation: Cell::new(0),
            waiter: RefCell::new(sys::Waiter::new()),
            timers: RefCell::new(TimerHeap::new()),
            to_wake: RefCell::new(Vec::new()),
        })
    }

    /// This thread's reactor, created on first use.
    ///
    /// # Errors
    ///
    /// The OS refused to create a poller, or the thread is exiting.
    pub(crate) fn current() -> io::Result<Rc<Reactor>> {
        REACTOR
            .try_with(|cell| {
                if let Some(reactor) = cell.get() {
                    return Ok(reactor.clone());
                }
                let reactor = Rc::new(Reactor::new()?);
                Ok(cell.get_or_init(|| reactor).clone())
            })
            .unwrap_or_else(|_| {
                Err(io::Error::other(
                    "solo: this thread is exiting; its reactor is gone",
                ))
            })
    }

    pub(crate) fn poller(&self) -> &Arc<Poller> {
        &self.poller
    }

    /// Registers `fd` for both directions. On error nothing is registered.
    ///
    /// # Errors
    ///
    /// Whatever `epoll_ctl` says: `AlreadyExists` for an fd registered twice (the first
    /// registration keeps working), `PermissionDenied` for a regular file.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Rc<Source>> {
        use std::os::fd::AsRawFd;
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let generation = self.generation.get();
        // Keep the key away from polling's notifier key (`usize::MAX`).
        self.generation
            .set(generation.wrapping_add(1) & 0x7fff_ffff);
        let key = make_key(entry.key(), generation);
        let interest = if self.edge {
            Event::all(key)
        } else {
            Event::none(key)
        };
        let mode = if self.edge {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        // SAFETY: `fd` is valid for this call. polling requires it to be deleted before it is
        // closed; `Async` guarantees that in `into_inner` and `Drop` (a leaked `Async` leaks
        // its fd too, so it is never closed while registered).
        unsafe { self.poller.add_with_mode(fd.as_raw_fd(), interest, mode)? };
        let source = Rc::new(Source::new(fd.as_raw_fd(), key));
        entry.insert(source.clone());
        Ok(source)
    }

    /// Removes a source from the poller and the slab. Must run before its fd is closed.
    pub(crate) fn deregister(&self, source: &Source) -> io::Result<()> {
        let index = key_index(source.key);
        {
            let mut sources = self.sources.borrow_mut();
            if sources.get(index).is_some_and(|s| s.key == source.key) {
                sources.remove(index);
            }
        }
        // SAFETY: the caller still owns the fd (it is closed only after this returns).
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        self.poller.delete(fd)
    }

    /// Re-arms a oneshot registration for the directions that have waiters. A no-op (and no
    /// syscall) under edge triggering.
    pub(crate) fn rearm(&self, source: &Source) -> io::Result<()> {
        if self.edge {
            return Ok(());
        }
        let (readable, writable) = source.interest();
        let mut event = Event::none(source.key);
        event.readable = readable;
        event.writable = writable;
        // SAFETY: the source is registered, so its fd is open (see `register`).
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        self.poller.modify_with_mode(fd, event, PollMode::Oneshot)
    }

    /// Whether any fd is registered (if not, a non-blocking check needs no syscall).
    fn has_sources(&self) -> bool {
        !self.sources.borrow().is_empty()
    }

    /// Fires due timers and dispatches ready I/O, then wakes the collected wakers.
    ///
    /// With `block`, sleeps until the earliest timer, an I/O event or a notification, unless
    /// a timer was already due. Returns the number of wakers woken. I/O errors from the
    /// poller are reported on stderr and treated as "no events": a blocking caller then sees
    /// a spurious wake-up, never a hang or a crash.
    pub(crate) fn react(&self, block: bool) -> usize {
        let mut wake = std::mem::take(&mut *self.to_wake.borrow_mut());
        let now = clock::now();
        self.timers
            .borrow_mut()
            .fire_due(now, |_, w| wake.extend(w));

        let timeout = if !block || !wake.is_empty() {
            Some(Duration::ZERO)
        } else {
            clock::sleep_timeout(now, self.timers.borrow_mut().next_deadline())
                .map(|d| d.min(MAX_SLEEP))
        };
        if timeout != Some(Duration::ZERO) || self.has_sources() {
            self.wait(timeout, &mut wake);
            if timeout != Some(Duration::ZERO) {
                self.timers
                    .borrow_mut()
                    .fire_due(clock::now(), |_, w| wake.extend(w));
            }
        }

        let woken = wake.len();
        for waker in wake.drain(..) {
            // Don't let a panicking waker blow everything up: the rest of the batch must still
            // be woken, and the reactor's state is already consistent. The panic hook has
            // reported it.
            let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
        // Keep the buffer's capacity for next time (unless a waker re-entered and left one).
        let mut slot = self.to_wake.borrow_mut();
        if slot.capacity() < wake.capacity() {
            *slot = wake;
        }
        woken
    }

    fn wait(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) {
        let sources = self.sources.borrow();
        let result =
            self.waiter
                .borrow_mut()
                .wait(&self.poller, timeout, |key, readable, writable| {
                    if let Some(source) = sources.get(key_index(key)) {
                        if source.key == key {
                            source.dispatch(readable, writable, wake);
                        }
                    }
                });
        if let Err(e) = result {
            eprintln!("solo: waiting for I/O events failed: {e}");
            // Avoid a hot loop if the failure repeats.
            if timeout != Some(Duration::ZERO) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// The earliest live timer deadline.
    #[allow(dead_code)] // for the embedding API, which is not merged yet
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow_mut().next_deadline()
    }

    /// The number of registered sources (for tests and stats).
    #[allow(dead_code)]
    pub(crate) fn source_count(&self) -> usize {
        self.sources.borrow().len()
    }
}

fn make_key(index: usize, generation: u32) -> usize {
    if usize::BITS >= 64 {
        ((generation as u64) << 32 | index as u64) as usize
    } else {
        index
    }
}

fn key_index(key: usize) -> usize {
    if usize::BITS >= 64 {
        (key as u64 & 0xffff_ffff) as usize
    } else {
        key
    }
}
