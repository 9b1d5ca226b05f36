//! CPU affinity: pinning a worker thread to one CPU, and keeping the helper threads that
//! solo starts from a pinned worker off that one CPU. The only OS-specific code of the pool.
//!
//! On Linux and Android a worker is pinned with `sched_setaffinity` to one CPU of the set the
//! process may run on (worker `i` gets the `i`-th allowed CPU, wrapping around when there are
//! more workers than CPUs). Elsewhere pinning is not implemented and the request is ignored.
//!
//! # Helper threads
//!
//! A new thread starts with its creator's CPU mask. solo starts some threads lazily, from
//! whichever runtime thread first needs one: the process-wide slow-poll monitor, the threads
//! of the `unblock` pool, an executor's fd watcher. Started from a pinned worker, each would
//! inherit that worker's single CPU, and the blocking work meant to run *beside* the runtime
//! would preempt it instead, with every other core idle. So the first pinning records the
//! mask the worker had before (the one its pool was started with), and each helper thread
//! calls [`unpin_helper_thread`] as it starts (the `unblock` pool: as it runs its first solo
//! job), which gives it that mask back. Until a worker pins itself this is one atomic load.

use std::io;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::cell::Cell;
    use std::io;
    use std::sync::OnceLock;

    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    /// The CPU mask of the first worker that pinned itself, from before it did.
    static UNPINNED: OnceLock<CpuSet> = OnceLock::new();

    thread_local! {
        /// Whether this thread has already been given `UNPINNED`.
        static UNPINNED_HERE: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) fn pin_current_thread(index: usize) -> io::Result<()> {
        let allowed = sched_getaffinity(None)?;
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
            .filter(|&c| allowed.is_set(c))
            .collect();
        if cpus.is_empty() {
            return Err(io::Error::other(
                "solo::pool: this thread may run on no CPU",
            ));
        }
        UNPINNED.get_or_init(|| allowed);
        let mut one = CpuSet::new();
        one.set(cpus[index % cpus.len()]);
        sched_setaffinity(None, &one)?;
        Ok(())
    }

    pub(crate) fn unpin_helper_thread() {
        let Some(unpinned) = UNPINNED.get() else {
            return;
        };
        if UNPINNED_HERE.replace(true) {
            return;
        }
        // Best effort: a cpuset cgroup may have shrunk since, in which case the thread keeps
        // the mask it has, which is where it would have run anyway.
        let _ = sched_setaffinity(None, unpinned);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::io;

    pub(crate) fn pin_current_thread(_index: usize) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn unpin_helper_thread() {}
}

/// Pins the calling thread to the `index`-th CPU it is allowed to run on. On platforms
/// without pinning support the request is ignored.
///
/// # Errors
///
/// The OS error of `sched_getaffinity` or `sched_setaffinity`, or `Other` if the thread may
/// run on no CPU at all.
pub(crate) fn pin_current_thread(index: usize) -> io::Result<()> {
    imp::pin_current_thread(index)
}

/// Called by a helper thread (see the module docs) as it starts: if a worker has pinned
/// itself, gives this thread the CPU mask that worker had before. Once per thread; an
/// atomic load when no worker is pinned.
#[inline]
pub(crate) fn unpin_helper_thread() {
    imp::unpin_helper_thread();
}
