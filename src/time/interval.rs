//! `Interval`: a periodic tick.

use std::future::Future;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;

use super::{Sleep, clock, sleep_until};

/// Ticks every `period`, starting now (the first tick completes at once).
///
/// Missed ticks are skipped: if the task falls behind by several periods (a blocked thread,
/// a clock jump), the next tick fires once and the schedule continues from the next period
/// boundary after "now", rather than firing once per missed period.
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// solo::block_on(async {
///     let start = Instant::now();
///     let mut every = solo::time::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         every.tick().await;
///     }
///     assert!(start.elapsed() >= Duration::from_millis(4));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(clock::now(), period)
}

/// Ticks every `period`, the first time at `start`.
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now() + Duration::from_secs(1);
/// let every = solo::time::interval_at(start, Duration::from_secs(1));
/// assert_eq!(every.period(), Duration::from_secs(1));
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "solo::time::interval: the period must be non-zero"
    );
    Interval {
        period,
        sleep: sleep_until(start),
    }
}

/// A periodic timer returned by [`interval`]; also a `Stream` of tick instants.
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// Completes at the next scheduled tick.
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a cancelled `tick` consumes no tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// solo::block_on(async {
    ///     let mut every = solo::time::interval(Duration::from_millis(20));
    ///     let first = every.tick().await;
    ///     let second = every.tick().await;
    ///     assert_eq!(second - first, Duration::from_millis(20));
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Waker};
    /// use std::time::Duration;
    ///
    /// let mut every = solo::time::interval(Duration::from_secs(1));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(every.poll_tick(&mut cx).is_ready()); // the first tick is immediate
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = clock::now();
        let mut next = clock::deadline_after(scheduled, self.period);
        if next <= now {
            // Behind by one period or more: skip to the first boundary after now.
            let behind = now.duration_since(scheduled).as_nanos();
            let periods = behind / self.period.as_nanos() + 1;
            next = u32::try_from(periods)
                .ok()
                .and_then(|p| self.period.checked_mul(p))
                .map_or_else(
                    || clock::deadline_after(now, self.period),
                    |d| clock::deadline_after(scheduled, d),
                );
        }
        Pin::new(&mut self.sleep).reset(next);
        Poll::Ready(scheduled)
    }

    /// The period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(solo::time::interval(Duration::from_secs(2)).period(), Duration::from_secs(2));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut every = solo::time::interval(Duration::from_secs(60));
    /// every.reset();
    /// ```
    pub fn reset(&mut self) {
        let next = clock::deadline_after(clock::now(), self.period);
        Pin::new(&mut self.sleep).reset(next);
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
