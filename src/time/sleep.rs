//! `Sleep`: a future that completes at a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::clock;
use super::heap::TimerKey;
use crate::executor::{Wakeup, assert_in_runtime, in_runtime};
use crate::reactor::Reactor;

/// Waits until `duration` has elapsed.
///
/// `Duration::MAX` (or any duration past the representable range) never completes and never
/// overflows. `Duration::ZERO` is ready on the first poll without entering the reactor. (The
/// first poll of a non-zero sleep does not read the clock again: it compares the deadline with
/// the reactor's last reading, so a deadline that passed only after that reading completes at
/// the reactor's next look at the timers.)
///
/// # Precision
///
/// A sleep may last longer than asked, never shorter. The reactor sleeps with nanosecond
/// timeouts (`epoll_pwait2`), so the overshoot is the OS's wake-up latency, typically tens of
/// microseconds, not a millisecond tick.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// solo::block_on(async {
///     let start = Instant::now();
///     solo::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    let mut sleep = Sleep::new(clock::deadline_after(clock::now(), duration));
    // A sleep of a non-zero duration was not due when it was created: on the real clock its
    // first poll compares the deadline with the reactor's last clock reading instead of
    // reading the clock again. Should the deadline pass between that reading and the poll,
    // the reactor fires it at its next turn (never early). The test clock (cheap to read) is
    // always read, so that `advance` before a first poll stays exact.
    sleep.check_due = duration.is_zero();
    sleep
}

/// Waits until `deadline`. A deadline in the past is ready on the first poll.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// solo::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(2);
///     solo::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// A `Sleep` registers its timer with the thread's reactor on first poll and removes it when
/// dropped (O(1)), so cancelled sleeps leave nothing behind. It is `!Send`: the timer lives in
/// this thread's heap.
///
/// # Panics
///
/// Polling a pending `Sleep` while no solo executor runs on this thread panics with a message
/// saying so, instead of hanging (nothing would fire the timer).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// Set while registered in the reactor's heap.
    timer: Option<(Rc<Reactor>, TimerKey)>,
    /// Whether an unregistered poll reads the clock to return `Ready` at once for a passed
    /// deadline (`sleep_until`, `reset`, a zero `sleep`), rather than registering the timer
    /// and letting the reactor fire it.
    check_due: bool,
}

impl Sleep {
    #[inline]
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            timer: None,
            check_due: true,
        }
    }

    /// The instant at which this sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(solo::time::sleep_until(at).deadline(), at);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert!(solo::time::sleep(Duration::ZERO).is_elapsed());
    /// assert!(!solo::time::sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.deadline <= clock::now()
    }

    /// Moves the deadline, earlier or later; the sleep is pending again if it was complete.
    /// A deadline in the past makes it ready on the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::{Duration, Instant};
    ///
    /// solo::block_on(async {
    ///     let mut sleep = pin!(solo::time::sleep(Duration::from_secs(3600)));
    ///     sleep.as_mut().reset(Instant::now());
    ///     sleep.await; // ready at once
    /// });
    /// ```
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
        self.check_due = true;
        if let Some((reactor, key)) = self.timer.take() {
            if deadline <= clock::now() {
                // Already due: unregister, so the next poll sees the passed deadline and is
                // ready at once instead of waiting for the reactor to fire the timer. Wake the
                // waiting task (after the borrow ends), as firing the timer would have.
                let removed = reactor.timers.borrow_mut().remove(key);
                if let Some(Some(waker)) = removed {
                    waker.wake();
                }
                return;
            }
            // Keep the waker: a task that awaits this sleep stays subscribed.
            let new_key = reactor.timers.borrow_mut().reset(key, deadline);
            if let Some(new_key) = new_key {
                self.timer = Some((reactor, new_key));
            }
        }
    }

    #[inline]
    fn register(&mut self, reactor: Rc<Reactor>, cx: &Context<'_>) {
        let key = reactor
            .timers
            .borrow_mut()
            .insert(self.deadline, Some(Wakeup::new(cx.waker())));
        self.timer = Some((reactor, key));
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.timer {
            Some((reactor, key)) => {
                let mut timers = reactor.timers.borrow_mut();
                if !timers.is_live(*key) {
                    // Fired: the heap only fires timers whose deadline has passed.
                    drop(timers);
                    self.timer = None;
                    return Poll::Ready(());
                }
                timers.set_waker(*key, cx.waker());
                drop(timers);
                // Checked on every pending poll, not only the first: a sleep registered under
                // one executor and then polled where none runs (a foreign executor, or after
                // its executor is gone) would otherwise wait forever.
                assert_in_runtime("solo::time::Sleep");
                Poll::Pending
            }
            None => {
                let reactor = if !self.check_due && clock::is_real() && in_runtime() {
                    // Not due when created: compare with the reactor's last reading of the
                    // clock (earlier than now), which catches a sleep that expired before an
                    // earlier look at the timers, instead of reading the clock again.
                    let reactor = Reactor::current().unwrap_or_else(|e| panic!("solo: {e}"));
                    if self.deadline <= reactor.last_now.get() {
                        return Poll::Ready(());
                    }
                    reactor
                } else {
                    if self.deadline <= clock::now() {
                        return Poll::Ready(());
                    }
                    assert_in_runtime("solo::time::Sleep");
                    Reactor::current().unwrap_or_else(|e| panic!("solo: {e}"))
                };
                self.register(reactor, cx);
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let Some((reactor, key)) = self.timer.take() {
            let waker = reactor.timers.borrow_mut().remove(key);
            drop(waker);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.timer.is_some())
            .finish()
    }
}
