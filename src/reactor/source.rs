//! A registered file descriptor and what the reactor knows about its readiness.
//!
//! # Readiness
//!
//! Sources are registered edge-triggered for both directions once, so waiting costs no
//! syscall. Each direction keeps a hint:
//!
//! - `UNKNOWN` (fresh): try the operation; epoll reports the current readiness right after
//!   registration anyway.
//! - `READY`: an event arrived since the last `WouldBlock`; try the operation.
//! - `NOT_READY`: the last operation returned `WouldBlock`, or a short read/write proved the
//!   kernel buffer drained/full (reads: see `read_closed` below). Wait for the next edge instead of paying a syscall that
//!   would return `EAGAIN`. Every later arrival of data (or buffer space) produces an edge.
//!
//! A short read is a safe "drained" proof only together with `read_closed`: when the peer's
//! last data and its FIN (or close) arrive in one edge, the short read returns the data and
//! leaves the end of file for the next read, and no further edge will announce it. Where the
//! reactor registers `EPOLLRDHUP` (Linux), that edge carries `RDHUP`, which sets the sticky
//! `read_closed`; a short read then leaves the hint alone and the next read sees the EOF.
//! Elsewhere a short read never marks the direction drained (one extra `EAGAIN` read).
//!
//! Events only change hints and collect wakers; the reactor wakes them after it releases its
//! borrows. On platforms without edge triggering the source is re-armed (oneshot) each time a
//! waker registers.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use slab::Slab;

use crate::executor::Wakeup;

#[allow(dead_code)] // the zero a fresh direction starts in
pub(crate) const UNKNOWN: u8 = 0;
pub(crate) const READY: u8 = 1;
pub(crate) const NOT_READY: u8 = 2;

/// Which way the data flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// One direction of a source.
#[derive(Default)]
pub(crate) struct Direction {
    pub(crate) state: Cell<u8>,
    /// Whether `waker` waits for the next event. A fired `TaskRef` stays in `waker`, disarmed:
    /// the task that read or wrote until `WouldBlock` registers again, and finding its own
    /// `TaskRef` there costs a comparison instead of making a new one. A cloned waker is taken
    /// out when it fires, as before (keeping it would hold the task's reference count).
    armed: Cell<bool>,
    /// The waker of the `AsyncRead`/`AsyncWrite` user (one per direction, as in async-io).
    waker: RefCell<Option<Wakeup>>,
    /// Wakers of `readable()`/`read_with()`-style futures, each removed by its future's drop.
    waiters: RefCell<Slab<Option<Wakeup>>>,
}

impl Direction {
    /// Whether an operation is worth trying.
    pub(crate) fn may_be_ready(&self) -> bool {
        self.state.get() != NOT_READY
    }

    pub(crate) fn set_not_ready(&self) {
        self.state.set(NOT_READY);
    }

    fn has_waiters(&self) -> bool {
        self.armed.get() || self.waiters.borrow().iter().any(|(_, w)| w.is_some())
    }

    /// Stores `cx`'s waker in the single slot (a `TaskRef` when it is the polled task's own).
    pub(crate) fn register(&self, cx: &Context<'_>) {
        let mut slot = self.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(Wakeup::new(cx.waker())),
        }
        self.armed.set(true);
    }

    /// `Ready` once an event arrived since the last `NOT_READY`; otherwise stores the waker
    /// under `ticket` (allocated on first use) and returns `Pending`.
    pub(crate) fn poll_event(&self, cx: &Context<'_>, ticket: &mut Option<usize>) -> Poll<()> {
        if self.state.get() == READY {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        match ticket {
            Some(t) => match &mut waiters[*t] {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(Wakeup::new(cx.waker())),
            },
            None => *ticket = Some(waiters.insert(Some(Wakeup::new(cx.waker())))),
        }
        Poll::Pending
    }

    /// Releases a ticket (the waiting future is done or dropped).
    pub(crate) fn release(&self, ticket: usize) {
        let waker = self.waiters.borrow_mut().try_remove(ticket);
        drop(waker);
    }

    /// An event arrived: mark ready and collect every waker.
    fn fire(&self, out: &mut Vec<Wakeup>) {
        self.state.set(READY);
        if self.armed.replace(false) {
            let mut slot = self.waker.borrow_mut();
            match &*slot {
                Some(Wakeup::Task(task)) => out.push(Wakeup::Task(task.clone())),
                _ => out.extend(slot.take()),
            }
        }
        let mut waiters = self.waiters.borrow_mut();
        // Most sockets only ever use the single slot: skip walking an empty slab's storage.
        if !waiters.is_empty() {
            for (_, slot) in waiters.iter_mut() {
                if let Some(w) = slot.take() {
                    out.push(w);
                }
            }
        }
    }
}

/// A file descriptor registered with the reactor.
pub(crate) struct Source {
    pub(crate) fd: RawFd,
    /// Slab index in the low half, a generation in the high half: an event for a closed fd
    /// whose number (and slab slot) was reused cannot reach the new source.
    pub(crate) key: usize,
    pub(crate) read: Direction,
    pub(crate) write: Direction,
    /// Set (never cleared) once an event reported that the read half will not block again:
    /// the peer shut its write half down (`EPOLLRDHUP`) or the fd hung up (`EPOLLHUP`). From
    /// then on a short read does not mark the read direction drained. Only set where
    /// `sys::REPORTS_READ_CLOSED`.
    pub(crate) read_closed: Cell<bool>,
}

impl Source {
    pub(crate) fn new(fd: RawFd, key: usize) -> Self {
        Source {
            fd,
            key,
            read: Direction::default(),
            write: Direction::default(),
            read_closed: Cell::new(false),
        }
    }

    pub(crate) fn dir(&self, dir: Dir) -> &Direction {
        match dir {
            Dir::Read => &self.read,
            Dir::Write => &self.write,
        }
    }

    /// Records an event and collects the wakers it releases.
    pub(crate) fn dispatch(
        &self,
        readable: bool,
        writable: bool,
        read_closed: bool,
        out: &mut Vec<Wakeup>,
    ) {
        if read_closed {
            self.read_closed.set(true);
        }
        if readable {
            self.read.fire(out);
        }
        if writable {
            self.write.fire(out);
        }
    }

    /// The directions somebody waits on (for oneshot re-arming).
    pub(crate) fn interest(&self) -> (bool, bool) {
        (self.read.has_waiters(), self.write.has_waiters())
    }
}
