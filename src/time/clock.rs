//! The clock solo's timers read, and deadline arithmetic that cannot overflow.

use std::time::{Duration, Instant};

/// How far ahead "never" is: a deadline that cannot be represented (`now + Duration::MAX`)
/// becomes `now + NEVER`, which no process lives to see. The reactor caps each OS sleep at a
/// day, so such a timer costs one wake-up a day and never fires.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The current time as solo's timers see it.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// `now + duration`, saturated to a far-future instant instead of overflowing.
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or_else(|| far_future(now))
}

/// An instant no timer reaches (used for `Duration::MAX`).
pub(crate) fn far_future(now: Instant) -> Instant {
    now.checked_add(NEVER)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(now)
}

/// How long the reactor may sleep until `deadline` (`None`: no timer, sleep until an event).
pub(crate) fn sleep_timeout(now: Instant, deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}
