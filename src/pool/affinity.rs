//! Pinning a worker thread to one CPU: the only OS-specific code of the pool.
//!
//! On Linux and Android a worker is pinned with `sched_setaffinity` to one CPU of the set the
//! process may run on (worker `i` gets the `i`-th allowed CPU, wrapping around when there are
//! more workers than CPUs). Elsewhere pinning is not implemented and the request is ignored.

use std::io;

/// Pins the calling thread to the `index`-th CPU it is allowed to run on.
///
/// # Errors
///
/// The OS error of `sched_getaffinity` or `sched_setaffinity`, or `Other` if the thread may
/// run on no CPU at all.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pin_current_thread(index: usize) -> io::Result<()> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    let allowed = sched_getaffinity(None)?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other(
            "solo::pool: this thread may run on no CPU",
        ));
    }
    let mut one = CpuSet::new();
    one.set(cpus[index % cpus.len()]);
    sched_setaffinity(None, &one)?;
    Ok(())
}

/// Pinning is not implemented on this platform: the request is ignored.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pin_current_thread(_index: usize) -> io::Result<()> {
    Ok(())
}
