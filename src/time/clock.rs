//! The clock solo's timers read, the test clock ([`pause`], [`advance`], [`resume`]), and
//! deadline arithmetic that cannot overflow.
//!
//! # The test clock
//!
//! Each thread has its own clock mode. Normally solo reads `Instant::now()`. After
//! [`pause`], the thread's clock stands still: it moves only by [`advance`], and, when every
//! task is idle and some wait on timers, by jumping to the earliest timer (auto-advance), so a
//! test of a one-hour timeout finishes in microseconds. [`resume`] lets it run again from
//! where it stands (it stays offset from real time by what was skipped).
//!
//! Everything solo hands out follows this clock: [`now`], `Sleep::deadline`, the instants of
//! `Interval::tick`, `next_deadline` and `RunStatus::WaitUntil` of an embedded executor. Code
//! that calls `std::time::Instant::now()` directly does not.
//!
//! ## Real I/O while paused
//!
//! Auto-advance happens only when no task is ready *and* a non-blocking check of the OS finds
//! no I/O ready. A task waiting for a socket with a timeout therefore sees the timeout fire at
//! once if the data is not already there: with a paused clock, a remote peer's latency is
//! "forever". Use the paused clock for logic driven by timers; keep tests that need real
//! network round trips on the real clock. Without timers, a paused executor blocks for I/O or
//! cross-thread wakes as usual.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How far ahead "never" is: a deadline that cannot be represented (`now + Duration::MAX`)
/// becomes `now + NEVER`, which no process lives to see. The reactor caps each OS sleep at a
/// day, so such a timer costs one wake-up a day and never fires.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

#[derive(Clone, Copy)]
enum Mode {
    /// `Instant::now()`.
    Real,
    /// Standing still at this instant.
    Paused(Instant),
    /// Running again after a pause: `virtual_base + (Instant::now() - real_base)`.
    Shifted {
        real_base: Instant,
        virtual_base: Instant,
    },
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Real) };
    /// Whether `MODE` is `Real`: one byte to test on the hot path instead of a 40-byte copy.
    static REAL: Cell<bool> = const { Cell::new(true) };
}

/// Sets this thread's clock mode.
fn set_mode(mode: Mode) {
    MODE.with(|m| m.set(mode));
    REAL.with(|r| r.set(matches!(mode, Mode::Real)));
}

/// The current time on this thread's solo clock (the test clock while paused).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// solo::time::pause();
/// let t0 = solo::time::now();
/// solo::block_on(solo::time::advance(Duration::from_secs(5)));
/// assert_eq!(solo::time::now() - t0, Duration::from_secs(5));
/// solo::time::resume();
/// ```
#[inline]
pub fn now() -> Instant {
    if is_real() {
        return Instant::now();
    }
    now_virtual()
}

/// Whether this thread's clock is the real one (not paused, never paused).
#[inline]
pub(crate) fn is_real() -> bool {
    REAL.try_with(Cell::get).unwrap_or(true)
}

#[cold]
fn now_virtual() -> Instant {
    match MODE.try_with(Cell::get).unwrap_or(Mode::Real) {
        Mode::Real => Instant::now(),
        Mode::Paused(at) => at,
        Mode::Shifted {
            real_base,
            virtual_base,
        } => deadline_after(virtual_base, real_base.elapsed()),
    }
}

/// Stops this thread's solo clock. No-op if it is already paused.
///
/// # Examples
///
/// ```
/// solo::time::pause();
/// let t = solo::time::now();
/// std::thread::sleep(std::time::Duration::from_millis(2));
/// assert_eq!(solo::time::now(), t);
/// solo::time::resume();
/// ```
pub fn pause() {
    if !is_paused() {
        let at = now();
        set_mode(Mode::Paused(at));
    }
}

/// Lets this thread's solo clock run again from where it stands. No-op if it is not paused.
///
/// # Examples
///
/// ```
/// solo::time::pause();
/// solo::time::resume();
/// assert!(!solo::time::is_paused());
/// ```
pub fn resume() {
    if let Mode::Paused(at) = MODE.with(Cell::get) {
        set_mode(Mode::Shifted {
            real_base: Instant::now(),
            virtual_base: at,
        });
    }
}

/// Whether this thread's solo clock is paused.
///
/// # Examples
///
/// ```
/// assert!(!solo::time::is_paused());
/// ```
pub fn is_paused() -> bool {
    matches!(MODE.try_with(Cell::get), Ok(Mode::Paused(_)))
}

/// Moves the paused clock forward by `duration` and fires the timers that became due; await
/// the returned future (a yield) so that the tasks they woke run before the caller continues.
///
/// # Panics
///
/// Panics if the clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use solo::time::{advance, pause, sleep};
///
/// pause();
/// solo::block_on(async {
///     let nap = solo::spawn_local(sleep(Duration::from_secs(3600)));
///     advance(Duration::from_secs(3600)).await;
///     assert!(nap.is_finished());
/// });
/// solo::time::resume();
/// ```
#[track_caller]
pub fn advance(duration: Duration) -> crate::YieldNow {
    let Mode::Paused(at) = MODE.with(Cell::get) else {
        panic!("solo::time::advance: the clock is not paused (call solo::time::pause() first)");
    };
    set_mode(Mode::Paused(deadline_after(at, duration)));
    if let Ok(reactor) = crate::reactor::Reactor::current() {
        reactor.fire_due_timers();
    }
    crate::yield_now()
}

/// Moves a paused clock to `deadline` if that is later (auto-advance). Returns whether it moved.
pub(crate) fn advance_to(deadline: Instant) -> bool {
    match MODE.with(Cell::get) {
        Mode::Paused(at) if deadline > at => {
            set_mode(Mode::Paused(deadline));
            true
        }
        _ => false,
    }
}

/// `now + duration`, saturated to a far-future instant instead of overflowing.
#[inline]
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or_else(|| far_future(now))
}

/// An instant no timer reaches (used for `Duration::MAX`).
#[cold]
pub(crate) fn far_future(now: Instant) -> Instant {
    now.checked_add(NEVER)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(now)
}

/// How long the reactor may sleep until `deadline` (`None`: no timer, sleep until an event).
pub(crate) fn sleep_timeout(now: Instant, deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}
