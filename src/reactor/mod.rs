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
use std::time::{Duration, Instant};

use polling::{Event, PollMode, Poller};
use slab::Slab;

pub use async_io::Async;
pub(crate) use async_io::Ticket;
pub(crate) use source::{Dir, Source};

use crate::diag::{Counters, PollSlot, Stats};
use crate::executor::Wakeup;
use crate::time::TimerHeap;
use crate::time::clock;

/// The longest single sleep in the OS. A timer further away than this (a "never" deadline)
/// costs one wake-up per day instead of an overflow.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// How [`Reactor::react`] may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum React {
    /// Never block; skip the syscall when no fd is registered (only timers can be due).
    NoBlock,
    /// Never block, but always ask the OS: drains a pending notification, so a host
    /// watching the poller's fd does not see it readable again (embedding).
    Drain,
    /// Sleep until the earliest timer, an I/O event or a notification, unless a timer is due.
    Block,
}

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
    /// The real clock's reading when timers were last fired (never later than now): a
    /// first poll of a `Sleep` compares its deadline with it instead of reading the clock.
    pub(crate) last_now: Cell<Instant>,
    /// Wakers collected during one `react`, woken after all borrows end.
    to_wake: RefCell<Vec<Wakeup>>,
    /// This thread's runtime statistics.
    pub(crate) counters: Counters,
    /// What this thread is polling, for the slow-poll monitor.
    pub(crate) poll_slot: Arc<PollSlot>,
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
            // The heap counts deadlines from this thread's clock now (never later than it).
            timers: RefCell::new(TimerHeap::new(clock::now())),
            last_now: Cell::new(Instant::now()),
            to_wake: RefCell::new(Vec::new()),
            counters: Counters::default(),
            poll_slot: PollSlot::new(),
        })
    }

    /// This thread's reactor, created on first use.
    ///
    /// # Errors
    ///
    /// The OS refused to create a poller, or the thread is exiting.
    #[inline]
    pub(crate) fn current() -> io::Result<Rc<Reactor>> {
        // The common case, kept small enough to inline: `Reactor::new` stays out of line.
        if let Ok(Some(reactor)) = REACTOR.try_with(|cell| cell.get().cloned()) {
            return Ok(reactor);
        }
        Self::current_slow()
    }

    #[cold]
    fn current_slow() -> io::Result<Rc<Reactor>> {
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
        // SAFETY: `fd` is valid for this call, and it is deleted before it is closed: `Async`
        // guarantees that in `into_inner` and `Drop` (a leaked `Async` leaks its fd too, so
        // it is never closed while registered).
        unsafe {
            if self.edge {
                sys::add_edge(&self.poller, fd, key)?
            } else {
                sys::add_oneshot(&self.poller, fd, key)?
            }
        };
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
        sys::delete(&self.poller, fd)
    }

    /// Re-arms a oneshot registration for the directions that have waiters. A no-op (and no
    /// syscall) under edge triggering.
    #[inline]
    pub(crate) fn rearm(&self, source: &Source) -> io::Result<()> {
        if self.edge {
            return Ok(());
        }
        self.rearm_oneshot(source)
    }

    #[cold]
    fn rearm_oneshot(&self, source: &Source) -> io::Result<()> {
        let (readable, writable) = source.interest();
        let mut event = Event::none(source.key);
        event.readable = readable;
        event.writable = writable;
        // SAFETY: the source is registered, so its fd is open (see `register`).
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        self.poller.modify_with_mode(fd, event, PollMode::Oneshot)
    }

    /// Whether a timer is pending (cancelled ones do not count: they never fire).
    #[inline]
    fn has_timers(&self) -> bool {
        self.timers.borrow().len() > 0
    }

    /// Whether any fd is registered (if not, a non-blocking check needs no syscall).
    fn has_sources(&self) -> bool {
        !self.sources.borrow().is_empty()
    }

    /// Fires due timers and dispatches ready I/O, then wakes the collected wakers.
    ///
    /// Returns the number of wakers woken. I/O errors from the poller are reported on stderr
    /// and treated as "no events": a blocking caller then sees a spurious wake-up, never a
    /// hang or a crash.
    pub(crate) fn react(&self, mode: React) -> usize {
        self.react_then(mode, || {})
    }

    /// [`react`](Reactor::react), calling `before_wake` after the wait and before any waker
    /// runs. `block_on` ends its sleep state there: a waker that runs while the executor
    /// still counts as asleep would notify the poller (an `eventfd` write, then a drain on the
    /// next wait) for a task that is about to run anyway.
    pub(crate) fn react_then(&self, mode: React, before_wake: impl FnOnce()) -> usize {
        let mut wake = std::mem::take(&mut *self.to_wake.borrow_mut());
        // With no live timer there is nothing to fire and no deadline to sleep until, so the
        // clock is not read (twice per blocking wait: before and after). `last_now` then stays
        // older than it could be, which only makes a sleep's first poll register its timer
        // rather than complete at once (see `Sleep`): never early. No timer can be added during
        // the wait below: it runs no user code.
        let now = self.has_timers().then(clock::now);
        if let Some(now) = now {
            self.fire_due(now, &mut wake);
        }

        if mode != React::Block || !wake.is_empty() {
            if mode == React::Drain || self.has_sources() {
                Counters::add(&self.counters.reactor_polls, 1);
                self.wait(Some(Duration::ZERO), &mut wake);
            }
        } else if clock::is_paused() {
            // Test clock: look at the OS without blocking; if nothing is ready, jump to the
            // earliest timer instead of sleeping until it (auto-advance).
            Counters::add(&self.counters.reactor_polls, 1);
            self.wait(Some(Duration::ZERO), &mut wake);
            if wake.is_empty() {
                match self.next_deadline() {
                    Some(deadline) => {
                        clock::advance_to(deadline);
                        self.fire_due(clock::now(), &mut wake);
                    }
                    None => {
                        Counters::add(&self.counters.reactor_sleeps, 1);
                        self.wait(None, &mut wake);
                    }
                }
            }
        } else {
            let timeout = now
                .and_then(|now| clock::sleep_timeout(now, self.next_deadline()))
                .map(|d| d.min(MAX_SLEEP));
            Counters::add(&self.counters.reactor_sleeps, 1);
            self.wait(timeout, &mut wake);
            if now.is_some() {
                self.fire_due(clock::now(), &mut wake);
            }
        }
        before_wake();
        self.wake_all(wake)
    }

    /// Fires due timers now and wakes their tasks (used by `time::advance`).
    pub(crate) fn fire_due_timers(&self) -> usize {
        let mut wake = std::mem::take(&mut *self.to_wake.borrow_mut());
        self.fire_due(clock::now(), &mut wake);
        self.wake_all(wake)
    }

    fn fire_due(&self, now: Instant, wake: &mut Vec<Wakeup>) {
        if clock::is_real() {
            self.last_now.set(now);
        }
        self.timers
            .borrow_mut()
            .fire_due(now, |_, w| wake.extend(w));
    }

    /// Wakes everything collected, outside every borrow, and keeps the buffer.
    fn wake_all(&self, mut wake: Vec<Wakeup>) -> usize {
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

    fn wait(&self, timeout: Option<Duration>, wake: &mut Vec<Wakeup>) {
        let sources = self.sources.borrow();
        let mut events = 0;
        let result = self.waiter.borrow_mut().wait(
            &self.poller,
            timeout,
            |key, readable, writable, closed| {
                if let Some(source) = sources.get(key_index(key)) {
                    if source.key == key {
                        events += 1;
                        source.dispatch(readable, writable, closed, wake);
                    }
                }
            },
        );
        Counters::add(&self.counters.io_events, events);
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

    /// A snapshot of this thread's counters.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let timers = self.timers.borrow();
        Stats {
            tasks_alive: c.tasks_spawned.get() - c.tasks_dropped.get(),
            tasks_spawned: c.tasks_spawned.get(),
            tasks_completed: c.tasks_completed.get(),
            polls: c.polls.get(),
            wakes_local: c.wakes_local.get(),
            wakes_remote: c.wakes_remote.get(),
            io_events: c.io_events.get(),
            io_sources: self.sources.borrow().len() as u64,
            timers_armed: timers.armed(),
            timers_fired: timers.fired(),
            timers_pending: timers.len() as u64,
            reactor_sleeps: c.reactor_sleeps.get(),
            reactor_polls: c.reactor_polls.get(),
        }
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
