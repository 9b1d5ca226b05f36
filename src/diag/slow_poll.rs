//! Slow-poll detection: reports a task whose single poll blocks its thread for too long.
//!
//! # How it stays cheap
//!
//! Timing every poll with the clock would cost ~2 × 17 ns per poll here, doubling the cost of a
//! `yield_now`. Instead each runtime thread publishes what it is polling with relaxed stores to
//! its [`PollSlot`] (a sequence number that is odd while a poll runs, the task id and spawn
//! location), and one process-wide monitor thread samples the slots every `threshold / 2`. A
//! poll seen running for a whole threshold is reported once it ends, through the user's
//! handler, on the monitor thread. A poll that blocks for 1.5 thresholds or more is caught;
//! one between 1 and 1.5 thresholds may be. A poll still running after ten thresholds may
//! never end (a deadlock, an endless loop), so it is also reported then, once, with
//! [`SlowPoll::still_running`] set.
//!
//! Each sample is a wake-up of the monitor thread, which on this 2-core VM costs 25-37 us of CPU
//! (1,631-1,648 wake-ups took 4-6 clock ticks over a 4 s echo load at `threshold / 4`) and
//! preempts the runtime thread sharing its core: sampling every half threshold (200 wake-ups a
//! second at the default 10 ms) halves that tax on a busy program, for reports accurate to half
//! a threshold.
//!
//! # Invariants
//!
//! - The owner thread only stores to its slot; the monitor only loads, and re-reads `seq` to
//!   discard samples torn by a concurrent poll change (a seqlock read).
//! - The monitor parks after a second in which no slot polled anything, so an idle program
//!   costs no wake-ups; the first batch after that unparks it (one futex wake). A batch costs
//!   the monitor nothing else: its first poll's `seq` change is what tells the monitor that
//!   the thread is busy.
//! - A poll is reported at most once when it ends, and at most once a second per task ("per
//!   burst"); a poll that runs for ten thresholds is also reported once while it runs.

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::executor::TaskId;

/// A poll that exceeded the slow-poll threshold.
///
/// # Examples
///
/// ```
/// solo::diag::set_slow_poll_handler(|report: &solo::diag::SlowPoll| {
///     eprintln!("{report}");
/// });
/// ```
#[derive(Clone, Debug)]
pub struct SlowPoll {
    /// The task's id (`None` for the future passed to `block_on`).
    pub task: Option<TaskId>,
    /// The task's name, if it was given one with `solo::task::Builder::name`.
    pub name: Option<Arc<str>>,
    /// Where the task was spawned (or where `block_on` was called).
    pub location: &'static Location<'static>,
    /// How long the poll ran (measured by sampling: accurate to half the threshold).
    pub duration: Duration,
    /// Whether the poll was still running when reported: it had blocked for ten thresholds
    /// and may never return. Such a poll is reported once while it runs, and again (with
    /// `still_running == false` and its whole duration) if it ends.
    pub still_running: bool,
    /// The name of the runtime's thread, if it has one.
    pub thread: Option<String>,
}

impl fmt::Display for SlowPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "solo: slow poll: ")?;
        match (&self.task, &self.name) {
            (Some(id), Some(name)) => write!(f, "task {id} `{name}`")?,
            (Some(id), None) => write!(f, "task {id}")?,
            (None, _) => write!(f, "block_on future")?,
        }
        write!(f, " spawned at {}", self.location)?;
        if self.still_running {
            write!(f, " has been blocking its thread for {:?}", self.duration)?;
        } else {
            write!(f, " blocked its thread for {:?} in one poll", self.duration)?;
        }
        if let Some(thread) = &self.thread {
            write!(f, " (thread `{thread}`)")?;
        }
        write!(
            f,
            "; move blocking work to solo::unblock or split it with yield_now"
        )
    }
}

/// What one runtime thread publishes for the monitor.
pub(crate) struct PollSlot {
    /// Odd while a poll runs; bumped at the start and end of every poll.
    seq: AtomicU64,
    task: AtomicU64,
    location: AtomicPtr<Location<'static>>,
    /// The polls that nested polls interrupted, innermost last (task id, location address).
    /// Only a `block_on` inside a task pushes here, so the lock is off the hot path.
    outer: Mutex<Vec<(u64, usize)>>,
    /// Names of named tasks, by id (only named tasks pay for a lock).
    names: Mutex<HashMap<u64, Arc<str>>>,
    thread: Option<String>,
}

impl PollSlot {
    /// Registers this thread's slot with the monitor.
    pub(crate) fn new() -> Arc<PollSlot> {
        let slot = Arc::new(PollSlot {
            seq: AtomicU64::new(0),
            task: AtomicU64::new(0),
            location: AtomicPtr::new(std::ptr::null_mut()),
            outer: Mutex::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
            thread: std::thread::current().name().map(str::to_owned),
        });
        monitor()
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&slot));
        slot
    }

    /// Whether slow-poll detection is on (checked once per batch).
    #[inline]
    pub(crate) fn enabled() -> bool {
        THRESHOLD_NANOS.load(Relaxed) != 0
    }

    /// A poll of `task` (0: the `block_on` future) spawned at `location` starts. Returns
    /// whether it is nested in another poll (a `block_on` inside a task), which `end` needs.
    ///
    /// This runs around every task poll, so the common case is one load and three plain
    /// stores, and the only thing carried to `end` is one flag; the interrupted poll of a
    /// nested one is saved in the slot itself, off the hot path.
    #[inline]
    pub(crate) fn begin(&self, task: u64, location: &'static Location<'static>) -> bool {
        let seq = self.seq.load(Relaxed);
        if seq & 1 == 0 {
            self.task.store(task, Relaxed);
            self.location
                .store(location as *const _ as *mut Location<'static>, Relaxed);
            self.seq.store(seq + 1, Release);
            return false;
        }
        self.begin_nested(seq, task, location);
        true
    }

    /// `begin` inside another poll (a `block_on` nested in a task): remember the outer poll.
    #[cold]
    fn begin_nested(&self, seq: u64, task: u64, location: &'static Location<'static>) {
        self.outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                self.task.load(Relaxed),
                self.location.load(Relaxed) as usize,
            ));
        self.task.store(task, Relaxed);
        self.location
            .store(location as *const _ as *mut Location<'static>, Relaxed);
        // Odd while polling; a nested poll gets a new (odd) number so it is timed on its own.
        self.seq.store(seq + 2, Release);
    }

    /// The poll started by `begin` ended; a nested poll hands the slot back to its outer
    /// poll (which is timed afresh from here: a report may understate it, never invent one).
    #[inline]
    pub(crate) fn end(&self, nested: bool) {
        let seq = self.seq.load(Relaxed);
        if nested {
            self.end_nested(seq);
        } else {
            self.seq.store(seq + 1, Release);
        }
    }

    #[cold]
    fn end_nested(&self, seq: u64) {
        let outer = self
            .outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some((task, location)) = outer {
            self.task.store(task, Relaxed);
            self.location
                .store(location as *mut Location<'static>, Relaxed);
        }
        self.seq.store(seq + 2, Release);
    }

    /// Whether the owner is inside a poll (for tests).
    #[cfg(test)]
    pub(crate) fn in_poll(&self) -> bool {
        self.seq.load(Relaxed) & 1 == 1
    }

    /// The thread starts a batch of polls: wakes the monitor if it parked. Called after the
    /// batch's first `begin`, whose `seq` change is what the monitor looks for when it
    /// decides whether to park.
    #[inline]
    pub(crate) fn wake_monitor() {
        if MONITOR_PARKED.load(Relaxed) {
            monitor().unpark();
        }
    }

    pub(crate) fn set_name(&self, task: u64, name: Arc<str>) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task, name);
    }

    pub(crate) fn name(&self, task: u64) -> Option<Arc<str>> {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&task)
            .cloned()
    }

    pub(crate) fn remove_name(&self, task: u64) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&task);
    }

    /// A consistent (seq, task, location) sample, or `None` if the owner moved on meanwhile.
    fn sample(&self) -> Option<(u64, u64, &'static Location<'static>)> {
        let seq = self.seq.load(Acquire);
        let task = self.task.load(Relaxed);
        let location = self.location.load(Relaxed);
        if self.seq.load(Acquire) != seq || location.is_null() {
            return None;
        }
        // SAFETY: `location` is only ever stored from a `&'static Location` (see `begin`),
        // so it is valid for the whole program.
        Some((seq, task, unsafe { &*location }))
    }
}

/// Ends a poll when dropped, so a poll that panics is ended too.
pub(crate) struct Polling<'s> {
    slot: &'s PollSlot,
    nested: bool,
}

impl<'s> Polling<'s> {
    /// Marks a poll as running (only called while detection is on).
    #[inline]
    pub(crate) fn start(
        slot: &'s PollSlot,
        task: u64,
        location: &'static Location<'static>,
    ) -> Self {
        let nested = slot.begin(task, location);
        Polling { slot, nested }
    }
}

impl Drop for Polling<'_> {
    #[inline]
    fn drop(&mut self) {
        self.slot.end(self.nested);
    }
}

static THRESHOLD_NANOS: AtomicU64 = AtomicU64::new(10_000_000);
static MONITOR_PARKED: AtomicBool = AtomicBool::new(false);

type Handler = Arc<dyn Fn(&SlowPoll) + Send + Sync>;

struct Monitor {
    slots: Mutex<Vec<Weak<PollSlot>>>,
    handler: Mutex<Option<Handler>>,
    park: Mutex<()>,
    unpark: Condvar,
}

impl Monitor {
    fn unpark(&self) {
        let _guard = self.park.lock().unwrap_or_else(PoisonError::into_inner);
        MONITOR_PARKED.store(false, Relaxed);
        self.unpark.notify_one();
    }
}

fn monitor() -> &'static Monitor {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("solo-slow-poll".into())
            .spawn(run_monitor);
        if let Err(e) = spawned {
            eprintln!("solo: slow-poll detection disabled: cannot start its thread: {e}");
            THRESHOLD_NANOS.store(0, Relaxed);
        }
        Monitor {
            slots: Mutex::new(Vec::new()),
            handler: Mutex::new(None),
            park: Mutex::new(()),
            unpark: Condvar::new(),
        }
    })
}

/// The monitor's memory of one slot.
#[derive(Default)]
struct Watch {
    seq: u64,
    first_seen: Option<Instant>,
    /// A report waiting for its poll to end.
    pending: Option<SlowPoll>,
    /// The poll being watched was already reported as still running.
    running_reported: bool,
    last_report: Option<(u64, Instant)>,
}

fn run_monitor() {
    // Started by the first thread that polls: off that thread's core if it is a pinned worker.
    crate::pool::unpin_helper_thread();
    let monitor = monitor();
    let mut watches: HashMap<usize, Watch> = HashMap::new();
    let mut idle_since = Instant::now();
    loop {
        let threshold = Duration::from_nanos(THRESHOLD_NANOS.load(Relaxed));
        let tick = if threshold.is_zero() {
            Duration::from_millis(100)
        } else {
            (threshold / 2).max(Duration::from_micros(500))
        };
        std::thread::sleep(tick);
        let now = Instant::now();
        let slots: Vec<Arc<PollSlot>> = {
            let mut slots = monitor.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.retain(|w| w.strong_count() > 0);
            slots.iter().filter_map(Weak::upgrade).collect()
        };
        watches.retain(|id, _| slots.iter().any(|s| Arc::as_ptr(s) as usize == *id));
        let mut any_busy = false;
        for slot in &slots {
            let watch = watches.entry(Arc::as_ptr(slot) as usize).or_default();
            // Busy: inside a poll now, or polled since the last look.
            let seq = slot.seq.load(Relaxed);
            any_busy |= seq & 1 == 1 || seq != watch.seq;
            observe(slot, watch, now, threshold, monitor);
        }
        if any_busy || threshold.is_zero() && slots.is_empty() {
            idle_since = now;
        } else if now - idle_since > Duration::from_secs(1) {
            let mut guard = monitor.park.lock().unwrap_or_else(PoisonError::into_inner);
            MONITOR_PARKED.store(true, Relaxed);
            // Look again after raising the flag: an owner that started polling just before
            // it saw the flag does not unpark us, but its `seq` moved. (Both sides use
            // relaxed accesses to keep the owner's per-batch check a plain load, so a miss is
            // possible in a window of nanoseconds; it delays detection until the next
            // unpark or the 60 s timeout, and never reports anything false.) An owner that
            // sees the flag takes the lock, so its unpark cannot fall between our check and
            // our wait.
            while MONITOR_PARKED.load(Relaxed) {
                if slots_busy(monitor, &watches) {
                    MONITOR_PARKED.store(false, Relaxed);
                    break;
                }
                guard = monitor
                    .unpark
                    .wait_timeout(guard, Duration::from_secs(60))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            idle_since = Instant::now();
        }
    }
}

/// Whether any slot is inside a poll or has polled since the monitor last looked at it.
fn slots_busy(monitor: &Monitor, watches: &HashMap<usize, Watch>) -> bool {
    let slots = monitor.slots.lock().unwrap_or_else(PoisonError::into_inner);
    slots.iter().filter_map(Weak::upgrade).any(|s| {
        let seq = s.seq.load(Relaxed);
        let seen = watches
            .get(&(Arc::as_ptr(&s) as usize))
            .map_or(0, |w| w.seq);
        seq & 1 == 1 || seq != seen
    })
}

fn observe(slot: &PollSlot, watch: &mut Watch, now: Instant, threshold: Duration, m: &Monitor) {
    let Some((seq, task, location)) = slot.sample() else {
        return;
    };
    if seq != watch.seq {
        // The poll we were watching ended (or we missed it): deliver its pending report.
        if let (Some(mut report), Some(first)) = (watch.pending.take(), watch.first_seen) {
            report.duration = now - first;
            deliver(m, &report);
        }
        watch.seq = seq;
        watch.first_seen = (seq & 1 == 1).then_some(now);
        watch.running_reported = false;
        return;
    }
    let (Some(first), true) = (watch.first_seen, seq & 1 == 1) else {
        return;
    };
    let running_for = now - first;
    if threshold.is_zero() || running_for < threshold {
        return;
    }
    let report = || SlowPoll {
        task: (task != 0).then_some(TaskId(task)),
        name: slot.name(task),
        location,
        duration: running_for,
        still_running: false,
        thread: slot.thread.clone(),
    };
    // Ten thresholds in, it may never return (a deadlock, an endless loop): say so now, once
    // per poll, whatever the rate limit below. Its end is still reported if it comes.
    if running_for >= threshold * 10 && !watch.running_reported {
        watch.running_reported = true;
        deliver(
            m,
            &SlowPoll {
                still_running: true,
                ..report()
            },
        );
    }
    if watch.pending.is_some() {
        return;
    }
    // Once per task per burst: a task slow on every poll is reported once a second.
    if let Some((last_task, at)) = watch.last_report {
        if last_task == task && now - at < Duration::from_secs(1) {
            return;
        }
    }
    watch.last_report = Some((task, now));
    watch.pending = Some(report());
}

fn deliver(m: &Monitor, report: &SlowPoll) {
    let handler = m
        .handler
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match handler {
        Some(handler) => {
            // A panicking handler must not kill the monitor.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(report)));
        }
        None => eprintln!("{report}"),
    }
}

/// Sets the slow-poll threshold for every solo thread; `None` turns detection off.
///
/// The default is 10 ms. Detection costs a few relaxed stores per poll and one monitor thread
/// that samples every `threshold / 2` while runtimes are busy, and parks when they are idle.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// solo::diag::set_slow_poll_threshold(Some(Duration::from_millis(50)));
/// solo::diag::set_slow_poll_threshold(None); // off
/// # solo::diag::set_slow_poll_threshold(Some(Duration::from_millis(10)));
/// ```
pub fn set_slow_poll_threshold(threshold: Option<Duration>) {
    let nanos = threshold.map_or(0, |t| t.as_nanos().clamp(1, u64::MAX as u128) as u64);
    THRESHOLD_NANOS.store(nanos, Relaxed);
}

/// Sets the function that receives slow-poll reports (called on the monitor thread). The
/// default prints one line on stderr.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// solo::diag::set_slow_poll_handler(move |r| s.lock().unwrap().push(r.location));
/// ```
pub fn set_slow_poll_handler(handler: impl Fn(&SlowPoll) + Send + Sync + 'static) {
    *monitor()
        .handler
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
}
