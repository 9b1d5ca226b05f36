//! Diagnostics: runtime statistics and slow-poll detection.
//!
//! - [`stats`] returns a snapshot of the current thread's counters ([`Stats`]).
//! - Slow-poll detection reports a task whose single poll blocks its thread longer than a
//!   threshold (10 ms by default), naming its spawn location, id and name, through
//!   [`set_slow_poll_handler`] (stderr by default). Tune or disable it with
//!   [`set_slow_poll_threshold`].
//!
//! The test clock lives in [`crate::time`] (`pause`, `advance`, `resume`).

mod slow_poll;
mod stats;

pub(crate) use slow_poll::{PollSlot, Polling};
pub use slow_poll::{SlowPoll, set_slow_poll_handler, set_slow_poll_threshold};
pub(crate) use stats::Counters;
pub use stats::{Stats, stats};
