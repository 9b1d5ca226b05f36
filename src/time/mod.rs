//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`], and a test clock
//! ([`pause`], [`advance`], [`resume`]) that makes timer tests instant.
//!
//! # Design
//!
//! Each thread's reactor keeps one binary min-heap of deadlines (`heap.rs`, which documents the
//! structure and its invariants). A timer is registered on its first poll (O(1): it is staged,
//! and sifted into the heap, O(log n), only if it is still pending when the reactor next looks
//! at the timers) and removed in O(1) when dropped; the reactor's sleep is bounded by the
//! earliest live deadline, so there is no periodic tick and no wake-up for a cancelled timer.
//! Registering a timer on the owner thread never notifies the reactor: nobody else can be
//! sleeping in it.
//!
//! # Guarantees
//!
//! - Timers never fire early, and fire in deadline order (ties in creation order).
//! - `Duration::MAX`, `Instant`s centuries ahead and `interval(Duration::MAX)` never fire and
//!   never panic or overflow.
//! - A deadline in the past (and `Duration::ZERO`) is ready on the first poll.
//! - An [`Interval`] that falls behind skips the missed ticks instead of firing in a burst.

pub(crate) mod clock;
mod heap;
mod interval;
mod sleep;
mod timeout;

pub use clock::{advance, is_paused, now, pause, resume};
pub(crate) use heap::TimerHeap;
#[cfg(feature = "hyper")]
pub(crate) use heap::TimerKey;
pub use interval::{Interval, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};
