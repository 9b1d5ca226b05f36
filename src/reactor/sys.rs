//! Waiting for I/O events: the only OS-specific code of the reactor.
//!
//! `polling`'s `Poller::wait` costs five syscalls on Linux whatever its timeout (arm its
//! timerfd, re-register the timerfd, `epoll_wait`, drain its notifier eventfd, re-arm the
//! notifier). solo keeps `polling` for creating the poller, registering sources and
//! cross-thread notification, but on Linux and Android it waits on the poller's own epoll fd
//! with a single `epoll_pwait2` (nanosecond timeout; `epoll_wait` with the timeout rounded
//! *up* to a millisecond on kernels before 5.11). Only when the notifier fired does it call
//! `Poller::wait` (with a zero timeout) to drain and re-arm it: that is the rare cross-thread
//! wake of a sleeping executor.
//!
//! Elsewhere (and on Linux with `--cfg solo_portable_poll`, which the CI uses to test this
//! path) it calls `Poller::wait`.
//!
//! On the Linux path, sources are also registered here, straight on the poller's epoll fd,
//! so that their interest includes `EPOLLRDHUP`, which `polling` cannot express: an event
//! then says whether the peer has shut its write half down, and a short read that leaves an
//! end of file behind is not mistaken for a drained socket (see `source.rs`).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use polling::{Event, PollMode, Poller};

/// Whether events report `EPOLLRDHUP` (the peer shut its write half down). Only then may a
/// short stream read mark the read direction drained.
pub(crate) const REPORTS_READ_CLOSED: bool = cfg!(all(
    any(target_os = "linux", target_os = "android"),
    not(solo_portable_poll)
));

/// Registers `fd` edge-triggered for both directions (and, on Linux, `EPOLLRDHUP`) under
/// `key`.
///
/// # Safety
///
/// `fd` must be deregistered with [`delete`] before it is closed.
pub(crate) unsafe fn add_edge(poller: &Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(solo_portable_poll)
    ))]
    {
        use rustix::event::epoll;
        use std::os::fd::AsFd;
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::PRI
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        Ok(epoll::add(
            poller.as_fd(),
            fd,
            epoll::EventData::new_u64(key as u64),
            flags,
        )?)
    }
    #[cfg(not(all(
        any(target_os = "linux", target_os = "android"),
        not(solo_portable_poll)
    )))]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: forwarded from the caller: deleted before it is closed.
        unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::all(key), PollMode::Edge) }
    }
}

/// Registers `fd` in oneshot mode with no interest yet (platforms without edge triggering).
///
/// # Safety
///
/// `fd` must be deregistered with [`delete`] before it is closed.
pub(crate) unsafe fn add_oneshot(
    poller: &Poller,
    fd: BorrowedFd<'_>,
    key: usize,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: forwarded from the caller: deleted before it is closed.
    unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::none(key), PollMode::Oneshot) }
}

/// Removes `fd` from the poller, whichever way it was added.
pub(crate) fn delete(poller: &Poller, fd: BorrowedFd<'_>) -> io::Result<()> {
    // Both ways end in the same `epoll_ctl(EPOLL_CTL_DEL)` (or the backend's equivalent).
    poller.delete(fd)
}

/// Reusable event buffers.
pub(crate) struct Waiter {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(solo_portable_poll)
    ))]
    raw: Vec<libc::epoll_event>,
    events: polling::Events,
}

/// The most events taken from the kernel per wait; more stay queued for the next one.
const EVENTS_PER_WAIT: usize = 1024;

impl Waiter {
    pub(crate) fn new() -> Self {
        Waiter {
            #[cfg(all(
                any(target_os = "linux", target_os = "android"),
                not(solo_portable_poll)
            ))]
            raw: Vec::with_capacity(EVENTS_PER_WAIT),
            events: polling::Events::with_capacity(
                std::num::NonZeroUsize::new(EVENTS_PER_WAIT).expect("non-zero"),
            ),
        }
    }

    /// Waits up to `timeout` (`None`: until an event) and calls
    /// `f(key, readable, writable, read_closed)` for each I/O event (`read_closed`: the peer
    /// shut its write half down or the fd hung up; only where [`REPORTS_READ_CLOSED`]). Wake-ups of the poller's notifier are drained, not reported.
    /// An interrupted wait (`EINTR`) returns `Ok` with no events.
    pub(crate) fn wait(
        &mut self,
        poller: &Poller,
        timeout: Option<Duration>,
        mut f: impl FnMut(usize, bool, bool, bool),
    ) -> io::Result<()> {
        #[cfg(all(
            any(target_os = "linux", target_os = "android"),
            not(solo_portable_poll)
        ))]
        {
            let notified = epoll::wait(poller, &mut self.raw, timeout, &mut f)?;
            if !notified {
                return Ok(());
            }
            // Drain polling's notifier and re-arm it; take whatever else became ready.
            self.events.clear();
            let result = poller.wait(&mut self.events, Some(Duration::ZERO));
            for ev in self.events.iter() {
                // Only the notifier is expected here; a source's event that raced in says
                // nothing about RDHUP (polling hides it), so it does not claim "closed".
                f(ev.key, ev.readable, ev.writable, false);
            }
            return ignore_interrupt(result.map(drop));
        }
        #[allow(unreachable_code)]
        {
            self.events.clear();
            let result = poller.wait(&mut self.events, timeout);
            for ev in self.events.iter() {
                f(ev.key, ev.readable, ev.writable, false);
            }
            ignore_interrupt(result.map(drop))
        }
    }
}

fn ignore_interrupt(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        other => other,
    }
}

#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(solo_portable_poll)
))]
mod epoll {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use polling::Poller;

    /// `polling` keys its notifier (and its unused timerfd) with `usize::MAX`.
    const NOTIFY_KEY: u64 = u64::MAX;
    const READ_FLAGS: u32 =
        (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
    const WRITE_FLAGS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    /// The read half will never block again: the peer shut its write half down (`RDHUP`) or
    /// the fd hung up entirely (`HUP`). Not `ERR`: a socket error is reported once and the
    /// socket may then block again (UDP after an ICMP error).
    const CLOSED_FLAGS: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32;

    /// Set once `epoll_pwait2` turned out to be missing (kernel < 5.11) or forbidden (an old
    /// seccomp profile): from then on, the millisecond `epoll_wait`.
    static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

    /// One `epoll_pwait2` (or `epoll_wait`) on the poller's fd. Returns whether the notifier
    /// fired.
    pub(super) fn wait(
        poller: &Poller,
        buf: &mut Vec<libc::epoll_event>,
        timeout: Option<Duration>,
        f: &mut impl FnMut(usize, bool, bool, bool),
    ) -> io::Result<bool> {
        let epfd = poller.as_fd().as_raw_fd();
        buf.clear();
        let capacity = buf.capacity().min(i32::MAX as usize) as libc::c_int;
        let n = loop {
            let res = if NO_PWAIT2.load(Ordering::Relaxed) {
                let ms = timeout.map_or(-1, |t| {
                    // Round up: waking early would make timers poll in a loop.
                    t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
                });
                // SAFETY: `buf` has room for `capacity` events, which the kernel writes.
                unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), capacity, ms) as libc::c_long }
            } else {
                let ts = timeout.map(|t| libc::timespec {
                    tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                    tv_nsec: t.subsec_nanos() as _,
                });
                let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
                // SAFETY: `buf` has room for `capacity` events; `ts_ptr` is null or points at
                // a timespec that outlives the call; a null sigmask means "no change".
                unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        epfd,
                        buf.as_mut_ptr(),
                        capacity,
                        ts_ptr,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    )
                }
            };
            if res >= 0 {
                break res as usize;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => break 0,
                Some(libc::ENOSYS | libc::EPERM) if !NO_PWAIT2.load(Ordering::Relaxed) => {
                    NO_PWAIT2.store(true, Ordering::Relaxed);
                }
                _ => return Err(err),
            }
        };
        // SAFETY: the kernel initialised the first `n` (<= capacity) entries.
        unsafe { buf.set_len(n) };
        let mut notified = false;
        for ev in buf.iter() {
            let (key, flags) = (ev.u64, ev.events);
            if key == NOTIFY_KEY {
                notified = true;
                continue;
            }
            f(
                key as usize,
                flags & (READ_FLAGS | CLOSED_FLAGS) != 0,
                flags & WRITE_FLAGS != 0,
                flags & CLOSED_FLAGS != 0,
            );
        }
        Ok(notified)
    }
}
