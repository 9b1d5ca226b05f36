//! Helpers shared by the integration tests: drop probes that record the dropping thread, a
//! counting waker, a watchdog that turns a hang into a loud failure, connected socket pairs,
//! and views of this process's file descriptors and epoll registrations.
//!
//! Each test binary includes this module with `mod support;`; not every binary uses every
//! helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{RawWaker, RawWakerVTable, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Environment

/// Whether the suite runs under valgrind (`.ci/valgrind-tests` sets `SOLO_UNDER_VALGRIND`).
pub fn under_valgrind() -> bool {
    std::env::var_os("SOLO_UNDER_VALGRIND").is_some()
}

/// `d`, or ten times `d` under valgrind: for margins that must outlast the test's own setup
/// (a deadline that must not pass before the test has registered it).
pub fn slack(d: Duration) -> Duration {
    if under_valgrind() { d * 10 } else { d }
}

/// `n`, or a tenth of it (at least 1) under valgrind, where everything runs ~50x slower.
pub fn scaled(n: usize) -> usize {
    if under_valgrind() { (n / 10).max(1) } else { n }
}

// ---------------------------------------------------------------------------------------------
// Drop probes

/// Records every drop of the [`Probe`]s it hands out: which probe, on which thread.
#[derive(Clone, Default)]
pub struct DropLog {
    drops: Arc<Mutex<Vec<(usize, ThreadId)>>>,
    next: Arc<AtomicUsize>,
}

impl DropLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new probe, with the next id (0, 1, 2, ...).
    pub fn probe(&self) -> Probe {
        Probe {
            id: self.next.fetch_add(1, SeqCst),
            log: self.clone(),
        }
    }

    /// How many probes were handed out.
    pub fn created(&self) -> usize {
        self.next.load(SeqCst)
    }

    /// Every drop so far, in order.
    pub fn drops(&self) -> Vec<(usize, ThreadId)> {
        self.drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn dropped(&self) -> usize {
        self.drops().len()
    }

    /// Asserts that every probe handed out was dropped exactly once, on `thread`.
    #[track_caller]
    pub fn assert_all_dropped_once_on(&self, thread: ThreadId) {
        let drops = self.drops();
        let mut per_probe: HashMap<usize, usize> = HashMap::new();
        for (id, t) in &drops {
            assert_eq!(*t, thread, "probe {id} was dropped on a foreign thread");
            *per_probe.entry(*id).or_default() += 1;
        }
        for id in 0..self.created() {
            assert_eq!(
                per_probe.get(&id).copied().unwrap_or(0),
                1,
                "probe {id} must be dropped exactly once (drops: {drops:?})"
            );
        }
    }
}

/// Put one inside a future (or a task's state) to learn when and where it is dropped.
pub struct Probe {
    pub id: usize,
    log: DropLog,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let thread = thread::current().id();
        self.log
            .drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((self.id, thread));
    }
}

// ---------------------------------------------------------------------------------------------
// Counting waker

/// What a [`counting_waker`] has seen.
#[derive(Default, Debug)]
pub struct WakeCounts {
    wakes: AtomicUsize,
    clones: AtomicUsize,
    drops: AtomicUsize,
}

impl WakeCounts {
    /// `wake` plus `wake_by_ref` calls.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
    pub fn clones(&self) -> usize {
        self.clones.load(SeqCst)
    }
    /// Drops of clones (including clones consumed by `wake`); the original counts too.
    pub fn drops(&self) -> usize {
        self.drops.load(SeqCst)
    }
    /// Wakers alive right now (the original counts as one).
    pub fn live(&self) -> usize {
        1 + self.clones() - self.drops()
    }
}

/// A waker that counts its wakes, clones and drops. Returns the waker and its counters.
pub fn counting_waker() -> (Waker, Arc<WakeCounts>) {
    let counts = Arc::new(WakeCounts::default());
    let raw = RawWaker::new(Arc::into_raw(counts.clone()).cast(), &COUNTING_VTABLE);
    // SAFETY: the vtable functions below uphold the `RawWaker` contract: the data pointer is
    // an `Arc<WakeCounts>` reference, cloned with `increment_strong_count` and released with
    // `Arc::from_raw`; all counters are atomics, so any thread may call them.
    (unsafe { Waker::from_raw(raw) }, counts)
}

static COUNTING_VTABLE: RawWakerVTable =
    RawWakerVTable::new(cw_clone, cw_wake, cw_wake_by_ref, cw_drop);

unsafe fn cw_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw` and its reference is still held.
    unsafe {
        (*data.cast::<WakeCounts>()).clones.fetch_add(1, SeqCst);
        Arc::increment_strong_count(data.cast::<WakeCounts>());
    }
    RawWaker::new(data, &COUNTING_VTABLE)
}

unsafe fn cw_wake(data: *const ()) {
    // SAFETY: as in `cw_clone`; `wake` consumes the reference, as `cw_drop` does.
    unsafe {
        cw_wake_by_ref(data);
        cw_drop(data);
    }
}

unsafe fn cw_wake_by_ref(data: *const ()) {
    // SAFETY: as in `cw_clone`.
    unsafe { (*data.cast::<WakeCounts>()).wakes.fetch_add(1, SeqCst) };
}

unsafe fn cw_drop(data: *const ()) {
    // SAFETY: as in `cw_clone`; this releases the reference the waker held.
    let counts = unsafe { Arc::from_raw(data.cast::<WakeCounts>()) };
    counts.drops.fetch_add(1, SeqCst);
}

/// A waker that panics when woken (used to prove one bad waker does not stop a batch).
pub fn panicking_waker() -> Waker {
    struct Bomb;
    impl std::task::Wake for Bomb {
        fn wake(self: Arc<Self>) {
            panic!("test waker panics on purpose");
        }
    }
    Waker::from(Arc::new(Bomb))
}

/// A waker that appends `id` to `log` when woken.
pub fn logging_waker(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Waker {
    struct Logger(usize, Arc<Mutex<Vec<usize>>>);
    impl std::task::Wake for Logger {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }
    Waker::from(Arc::new(Logger(id, log.clone())))
}

// ---------------------------------------------------------------------------------------------
// Watchdog

/// Aborts the process, naming the test, unless dropped within the limit. Tests must fail, not
/// hang CI.
#[must_use = "the watchdog is disarmed when dropped; bind it to a variable"]
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Starts a watchdog for the calling test (libtest names each test's thread after the test).
/// The limit is ten times longer under valgrind.
#[track_caller]
pub fn watchdog(limit: Duration) -> Watchdog {
    let name = thread::current()
        .name()
        .unwrap_or("<unnamed thread>")
        .to_owned();
    let at = std::panic::Location::caller();
    let limit = if under_valgrind() { limit * 10 } else { limit };
    let (tx, rx) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name(format!("watchdog for {name}"))
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // Straight to fd 2: `eprintln!` would go to libtest's capture buffer (which
                // spawned threads inherit) and be lost with the abort.
                let _ = writeln!(
                    io::stderr(),
                    "\n\nWATCHDOG: test `{name}` (armed at {at}) did not finish within \
                     {limit:?}; aborting the process instead of hanging CI\n"
                );
                std::process::abort();
            }
        })
        .expect("spawn watchdog thread");
    Watchdog {
        disarm: Some(tx),
        thread: Some(thread),
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets

/// A connected pair of Unix stream sockets (blocking, as std creates them).
pub fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

/// A connected pair of TCP sockets over loopback (blocking, as std creates them).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect loopback");
    let (server, _) = listener.accept().expect("accept loopback");
    (client, server)
}

// ---------------------------------------------------------------------------------------------
// File descriptors and epoll registrations

/// Serialises the tests of one binary that count fds or registrations: libtest runs tests on
/// parallel threads of one process, and they share the fd table.
pub fn fd_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every open fd of this process with what it refers to (`socket:[123]`,
/// `anon_inode:[eventpoll]`, a path, ...).
pub fn fd_table() -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
    {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // The directory listing's own fd is gone by the time we read its link: skip it.
        if let Ok(target) = fs::read_link(entry.path()) {
            out.push((fd, target.to_string_lossy().into_owned()));
        }
    }
    out
}

/// The number of open sockets of this process.
///
/// Sockets, not all fds: a test thread that just finished may still be closing its reactor's
/// epoll, eventfd and timerfd (thread-locals are destroyed after the test's guards are gone),
/// which would make a plain fd count flaky.
pub fn open_sockets() -> usize {
    fd_table()
        .iter()
        .filter(|(_, t)| t.starts_with("socket:"))
        .count()
}

/// The epoll fds open in this process.
pub fn epoll_fds() -> Vec<i32> {
    fd_table()
        .into_iter()
        .filter(|(_, t)| t == "anon_inode:[eventpoll]")
        .map(|(fd, _)| fd)
        .collect()
}

/// Every `(epoll fd, registered fd)` pair in this process, read from `/proc/self/fdinfo`.
///
/// An fd closed while still registered stays listed as long as another fd refers to the same
/// open file (a `dup`), so a missing deregistration shows up here.
pub fn epoll_registrations() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc/self/fdinfo") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(epfd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(info) = fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("tfd:") {
                if let Some(tfd) = rest.split_whitespace().next() {
                    if let Ok(tfd) = tfd.parse::<i32>() {
                        out.push((epfd, tfd));
                    }
                }
            }
        }
    }
    out
}

/// How many epoll instances in this process have `fd` registered.
pub fn registrations_of(fd: i32) -> usize {
    epoll_registrations()
        .iter()
        .filter(|(_, t)| *t == fd)
        .count()
}

/// Voluntary context switches of the calling thread (each blocking `epoll_wait` is one).
pub fn voluntary_context_switches() -> u64 {
    let status = fs::read_to_string("/proc/thread-self/status").expect("/proc/thread-self");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc/thread-self/status")
}

// ---------------------------------------------------------------------------------------------
// Misc

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The message of a caught panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expecting a panic; returns its message.
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Writes to a non-blocking socket until the kernel buffer is full; returns the bytes written.
pub fn fill_socket(mut s: &UnixStream) -> usize {
    use std::io::Write;
    let chunk = [0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match s.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("fill_socket: {e}"),
        }
    }
}
