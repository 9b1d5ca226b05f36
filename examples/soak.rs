//! Soak test: thousands of concurrent loopback connections cycling open/echo/close on one
//! solo thread, with timers and cross-thread wakes, for a fixed time; fails (exit status 1)
//! if file descriptors, live tasks or heap grow between the first and the last window.
//!
//! ```text
//! cargo run --release --example soak                 # 30 s, 5 s windows, up to 10,000 connections
//! cargo run --release --example soak -- --secs 10    # what .ci/run runs (2 s windows)
//! cargo run --release --example soak -- --secs 60 --conns 2000 --window 10
//! ```
//!
//! One thread runs a solo echo server (8 listeners on 127.0.0.1) and `--conns` client tasks.
//! Each client loops: connect, 1-4 echoes of 64 bytes (each under a `timeout`), the server
//! closes after the last echo and the client reads EOF, then sometimes a short `sleep`. The
//! server closes first, so the clients' ephemeral ports are free again at once (the server's
//! TIME_WAIT entries do not hold them). A helper thread plays ping-pong with 256 tasks through
//! `async-channel`, so every reply is a wake from another thread; an `interval` ticks too.
//!
//! Ten times a second it samples open fds (`/proc/self/fd`), live tasks (`solo::diag::stats()`),
//! the heap (live bytes, counted by a global allocator wrapper) and RSS, and prints them once a
//! second. The run starts once every client is connected and cycling; the first and the last
//! `--window` seconds are compared:
//!
//! - raw figures: the mean of the last window may exceed the mean of the first by at most 10%
//!   (at least 64) for fds and tasks, and by 10% (at least 1 MiB) for the heap; connections
//!   come and go, so these swing by several percent (more on a loaded machine);
//! - exact accounting: each sample is taken inside one poll, while every other task is parked,
//!   so the fds that are not a socket of a live connection (counted by the example as it
//!   opens and drops them) and the tasks that are not a live server connection must stay
//!   constant: their maximum over the last window may not exceed their maximum over the
//!   first, by even one.
//!
//! After the run every client stops, and fds and tasks must be back at their values from
//! before the load started.
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard limit first; each connection costs two fds
//! in this process (both ends), so the concurrency is capped by the limit (printed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use solo::net::{TcpListener, TcpStream};
use solo::time::{interval, sleep, timeout};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static HEAP_LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (the caller upholds `GlobalAlloc::alloc`'s contract).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HEAP_LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            HEAP_LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        HEAP_LIVE.fetch_sub(layout.size() as i64, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is: `ptr` was allocated by `System` with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HEAP_LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MESSAGE: usize = 64;
/// The first byte of the last message of a connection: the server closes after echoing it.
const LAST: u8 = b'L';
const LISTENERS: usize = 8;
const PING_PONG_TASKS: usize = 256;
/// A cycle that takes longer than this counts as hung (a failure). With ~10,000 connections
/// on one thread a cycle waits for its turn several times, so on a starved machine (other
/// builds running) cycles take seconds: the limit is generous.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(60);
/// fds kept free for everything but the connections (reactor, listeners, stdio, /proc reads).
const FD_RESERVE: u64 = 256;

struct Options {
    secs: u64,
    window: u64,
    conns: usize,
}

fn options() -> Options {
    let mut secs = 30;
    let mut window = None;
    let mut conns = 10_000;
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, flag: &str| -> u64 {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secs" => secs = num(args.next(), "--secs"),
            "--window" => window = Some(num(args.next(), "--window")),
            "--conns" => conns = num(args.next(), "--conns") as usize,
            other => {
                eprintln!("usage: soak [--secs N] [--window N] [--conns N]; unknown {other:?}");
                std::process::exit(2);
            }
        }
    }
    // 5 s windows for the default 30 s; a quarter of the run for shorter runs.
    let window = window.unwrap_or((secs / 4).clamp(1, 5));
    assert!(
        secs >= 2 * window,
        "--secs must cover two windows of {window} s"
    );
    Options {
        secs,
        window,
        conns: conns.max(1),
    }
}

/// Raises the soft fd limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!("soak: could not raise RLIMIT_NOFILE to {hard}: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(1 << 20)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_bytes() -> u64 {
    let pages: u64 = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    /// fds that are not a socket of a live connection.
    excess_fds: i64,
    /// Tasks that are not a live server connection.
    excess_tasks: i64,
    /// Seconds since the load reached full concurrency.
    at: f64,
    fds: usize,
    tasks: u64,
    heap: i64,
    rss: u64,
    cycles: u64,
    remote_wakes: u64,
}

/// What the clients and the server count.
#[derive(Default)]
struct Counters {
    cycles: Cell<u64>,
    client_errors: Cell<u64>,
    timeouts: Cell<u64>,
    server_errors: Cell<u64>,
    accept_errors: Cell<u64>,
    connected: Cell<usize>,
    pongs: Cell<u64>,
    ticks: Cell<u64>,
    cycle_time_total: Cell<Duration>,
    slowest_cycle: Cell<Duration>,
    /// Sockets of connections the clients are connecting or hold.
    client_sockets: Rc<Cell<i64>>,
    /// Sockets of accepted connections the server holds.
    server_sockets: Rc<Cell<i64>>,
    /// Live server connection tasks.
    server_tasks: Rc<Cell<i64>>,
}

/// Counts one live thing in a counter while it exists.
struct Held(Rc<Cell<i64>>);

impl Held {
    fn new(count: &Rc<Cell<i64>>) -> Held {
        count.set(count.get() + 1);
        Held(count.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// One connection: connect, `echoes` round trips, then the server's EOF.
async fn cycle(
    addr: SocketAddr,
    echoes: u8,
    counters: &Counters,
    first: &Cell<bool>,
) -> io::Result<()> {
    // Dropped right after `stream` (declared before it), in the same poll.
    let _socket = Held::new(&counters.client_sockets);
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    if first.replace(false) {
        counters.connected.set(counters.connected.get() + 1);
    }
    let mut back = [0u8; MESSAGE];
    for i in 0..echoes {
        let mut msg = [b'0' + i; MESSAGE];
        if i + 1 == echoes {
            msg[0] = LAST;
        }
        stream.write_all(&msg).await?;
        stream.read_exact(&mut back).await?;
        if back != msg {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
        }
    }
    match stream.read(&mut back).await? {
        0 => Ok(()),
        n => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{n} bytes after the last echo"),
        )),
    }
}

async fn client(
    id: usize,
    addrs: Rc<Vec<SocketAddr>>,
    stop: Rc<Cell<bool>>,
    counters: Rc<Counters>,
) {
    let mut seed = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let first = Cell::new(true);
    let mut n = id;
    while !stop.get() {
        let addr = addrs[n % addrs.len()];
        n += 1;
        let echoes = 1 + (rand() % 4) as u8;
        let began = Instant::now();
        match timeout(CYCLE_TIMEOUT, cycle(addr, echoes, &counters, &first)).await {
            Ok(Ok(())) => {
                bump(&counters.cycles);
                let took = began.elapsed();
                counters
                    .cycle_time_total
                    .set(counters.cycle_time_total.get() + took);
                if took > counters.slowest_cycle.get() {
                    counters.slowest_cycle.set(took);
                }
            }
            Ok(Err(e)) => {
                if counters.client_errors.get() < 5 {
                    eprintln!("soak: client {id}: {e}");
                }
                bump(&counters.client_errors);
                sleep(Duration::from_millis(10)).await;
            }
            Err(_) => bump(&counters.timeouts),
        }
        if rand() % 4 == 0 {
            sleep(Duration::from_micros(rand() % 2000)).await;
        }
    }
}

/// `held` counts the connection's socket and its task from the moment they exist.
async fn serve(mut conn: TcpStream, held: (Held, Held), counters: Rc<Counters>) {
    let _held = held;
    let res: io::Result<()> = async {
        conn.set_nodelay(true)?;
        let mut buf = [0u8; MESSAGE];
        loop {
            conn.read_exact(&mut buf).await?;
            conn.write_all(&buf).await?;
            if buf[0] == LAST {
                return Ok(()); // close first
            }
        }
    }
    .await;
    if let Err(e) = res {
        if counters.server_errors.get() < 5 {
            eprintln!("soak: server connection: {e}");
        }
        bump(&counters.server_errors);
    }
}

async fn accept_loop(listener: TcpListener, counters: Rc<Counters>) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                let held = (
                    Held::new(&counters.server_sockets),
                    Held::new(&counters.server_tasks),
                );
                solo::spawn_local(serve(conn, held, counters.clone())).detach();
            }
            Err(e) => {
                if counters.accept_errors.get() < 5 {
                    eprintln!("soak: accept: {e}; backing off 5 ms");
                }
                bump(&counters.accept_errors);
                sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Reads one figure of a sample.
type Figure<T> = fn(&Sample) -> T;

fn mean(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> f64 {
    samples.iter().map(&f).sum::<f64>() / samples.len().max(1) as f64
}

/// Slow polls seen by solo's monitor, and the longest (ns). On a loaded machine most are the
/// thread being preempted, not work: counted and summarised instead of printed one by one.
static SLOW_POLLS: AtomicU64 = AtomicU64::new(0);
static SLOWEST_POLL_NS: AtomicU64 = AtomicU64::new(0);

fn main() {
    let opts = options();
    solo::diag::set_slow_poll_handler(|r| {
        SLOW_POLLS.fetch_add(1, Relaxed);
        SLOWEST_POLL_NS.fetch_max(r.duration.as_nanos() as u64, Relaxed);
    });
    let limit = raise_fd_limit();
    let by_limit = (limit.saturating_sub(FD_RESERVE) / 2) as usize;
    let conns = opts.conns.min(by_limit).max(1);
    println!(
        "soak: {} s, windows of {} s, {conns} concurrent connections (asked {}, RLIMIT_NOFILE {limit} \
         allows {by_limit} at 2 fds each), {LISTENERS} listeners, {PING_PONG_TASKS} ping-pong tasks",
        opts.secs, opts.window, opts.conns
    );

    let failures = solo::block_on(run(opts, conns));
    if failures.is_empty() {
        println!("soak: PASS");
    } else {
        for f in &failures {
            eprintln!("soak: FAIL: {f}");
        }
        std::process::exit(1);
    }
}

async fn run(opts: Options, conns: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let base_fds = open_fds();
    let base_tasks = solo::diag::stats().tasks_alive;
    let counters = Rc::new(Counters::default());
    let stop = Rc::new(Cell::new(false));

    // The server.
    let mut addrs = Vec::new();
    let mut acceptors = Vec::new();
    for _ in 0..LISTENERS {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        addrs.push(listener.local_addr().unwrap());
        acceptors.push(solo::spawn_local(accept_loop(listener, counters.clone())));
    }
    let addrs = Rc::new(addrs);

    // Cross-thread wakes: the helper answers each ping; every answer wakes a solo task from
    // the helper's thread.
    let (ping_tx, ping_rx) = async_channel::unbounded::<()>();
    let (pong_tx, pong_rx) = async_channel::unbounded::<()>();
    let helper = std::thread::spawn(move || {
        let mut answered = 0u64;
        while ping_rx.recv_blocking().is_ok() {
            if pong_tx.send_blocking(()).is_err() {
                break;
            }
            answered += 1;
            if answered % 64 == 0 {
                // Let the solo thread fall asleep now and then, so wakes also hit a sleeper.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        answered
    });
    let mut pingers = Vec::new();
    for _ in 0..PING_PONG_TASKS {
        let (ping_tx, pong_rx, stop, counters) = (
            ping_tx.clone(),
            pong_rx.clone(),
            stop.clone(),
            counters.clone(),
        );
        pingers.push(solo::spawn_local(async move {
            while !stop.get() {
                if ping_tx.send(()).await.is_err() || pong_rx.recv().await.is_err() {
                    break;
                }
                bump(&counters.pongs);
            }
        }));
    }
    drop((ping_tx, pong_rx));
    let ticker = {
        let counters = counters.clone();
        solo::spawn_local(async move {
            let mut every = interval(Duration::from_millis(10));
            loop {
                every.tick().await;
                bump(&counters.ticks);
            }
        })
    };

    // The clients, started in batches so the listen backlogs do not overflow.
    let ramp = Instant::now();
    let mut clients = Vec::with_capacity(conns);
    for id in 0..conns {
        clients.push(solo::spawn_local(client(
            id,
            addrs.clone(),
            stop.clone(),
            counters.clone(),
        )));
        if id % 256 == 255 {
            sleep(Duration::from_millis(2)).await;
        }
    }
    while counters.connected.get() < conns {
        if ramp.elapsed() > Duration::from_secs(60) {
            failures.push(format!(
                "only {} of {conns} clients connected within 60 s",
                counters.connected.get()
            ));
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    println!(
        "soak: {conns} clients connected and cycling after {:.2} s",
        ramp.elapsed().as_secs_f64()
    );

    // The measured run.
    let start = Instant::now();
    let sample = |counters: &Counters| {
        let s = solo::diag::stats();
        let fds = open_fds();
        let live_sockets = counters.client_sockets.get() + counters.server_sockets.get();
        Sample {
            excess_fds: fds as i64 - live_sockets,
            excess_tasks: s.tasks_alive as i64 - counters.server_tasks.get(),
            at: start.elapsed().as_secs_f64(),
            fds,
            tasks: s.tasks_alive,
            heap: HEAP_LIVE.load(Relaxed),
            rss: rss_bytes(),
            cycles: counters.cycles.get(),
            remote_wakes: s.wakes_remote,
        }
    };
    let mut samples = vec![sample(&counters)];
    let mut printed = samples[0];
    let mut every = interval(Duration::from_millis(100));
    every.tick().await;
    while start.elapsed() < Duration::from_secs(opts.secs) {
        every.tick().await;
        let s = sample(&counters);
        samples.push(s);
        if s.at - printed.at >= 0.995 {
            let dt = s.at - printed.at;
            println!(
                "t={:5.1}s fds={:6} tasks={:6} heap={:7.2} MiB rss={:7.2} MiB cycles/s={:7.0} \
                 remote wakes/s={:6.0} excess fds={} tasks={}",
                s.at,
                s.fds,
                s.tasks,
                s.heap as f64 / (1 << 20) as f64,
                s.rss as f64 / (1 << 20) as f64,
                (s.cycles - printed.cycles) as f64 / dt,
                (s.remote_wakes - printed.remote_wakes) as f64 / dt,
                s.excess_fds,
                s.excess_tasks,
            );
            printed = s;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total_cycles = counters.cycles.get() - samples[0].cycles;

    // Windows: samples taken in the first and in the last `window` seconds.
    let w = opts.window as f64;
    let first: Vec<Sample> = samples.iter().copied().filter(|s| s.at <= w).collect();
    let last: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at >= elapsed - w)
        .collect();
    let checks: [(&str, Figure<f64>, f64, f64); 3] = [
        ("open fds", |s| s.fds as f64, 0.10, 64.0),
        ("live tasks", |s| s.tasks as f64, 0.10, 64.0),
        ("heap bytes", |s| s.heap as f64, 0.10, (1 << 20) as f64),
    ];
    println!(
        "soak: windows: first {} samples, last {} samples",
        first.len(),
        last.len()
    );
    if first.is_empty() || last.is_empty() {
        failures.push("a window has no samples (the executor was starved for seconds)".into());
    }
    for (name, f, rel, abs) in checks {
        let (a, b) = (mean(&first, f), mean(&last, f));
        let allowed = (a * rel).max(abs);
        println!(
            "soak: {name:10}: first window mean {a:12.0}, last window mean {b:12.0} (growth {:+.0}, allowed {allowed:.0})",
            b - a
        );
        if b - a > allowed {
            failures.push(format!(
                "{name} grew from {a:.0} (first {} s) to {b:.0} (last {} s), more than {allowed:.0}",
                opts.window, opts.window
            ));
        }
    }
    let exact: [(&str, Figure<i64>); 2] = [
        ("fds not held by a live connection", |s| s.excess_fds),
        ("tasks other than server connections", |s| s.excess_tasks),
    ];
    for (name, f) in exact {
        let max = |w: &[Sample]| w.iter().map(f).max().unwrap_or(0);
        let (a, b) = (max(&first), max(&last));
        println!("soak: {name}: first window max {a}, last window max {b}");
        if b > a {
            failures.push(format!("{name} grew from {a} to {b}"));
        }
    }

    // Stop: every client finishes its cycle, then everything is gone.
    stop.set(true);
    let drain = Instant::now();
    for c in clients {
        c.await;
    }
    for p in pingers {
        p.await;
    }
    drop(acceptors);
    drop(ticker);
    let answered = helper.join().expect("helper thread");
    // Server connections end right after their last echo; give them a few reactor turns.
    while solo::diag::stats().tasks_alive > base_tasks && drain.elapsed() < Duration::from_secs(10)
    {
        sleep(Duration::from_millis(5)).await;
    }
    let end_fds = open_fds();
    let end_tasks = solo::diag::stats().tasks_alive;

    let c = &counters;
    println!(
        "soak: {total_cycles} open/echo/close cycles in {elapsed:.1} s ({:.0}/s), {} pongs \
         ({answered} answered by the helper thread), {} interval ticks",
        total_cycles as f64 / elapsed,
        c.pongs.get(),
        c.ticks.get()
    );
    println!(
        "soak: cycle time: mean {:.1} ms, slowest {:.1} ms",
        c.cycle_time_total.get().as_secs_f64() * 1e3 / c.cycles.get().max(1) as f64,
        c.slowest_cycle.get().as_secs_f64() * 1e3
    );
    println!(
        "soak: slow polls (over 10 ms; on a loaded machine mostly preemption): {}, longest {:.1} ms",
        SLOW_POLLS.load(Relaxed),
        SLOWEST_POLL_NS.load(Relaxed) as f64 / 1e6
    );
    println!(
        "soak: errors: client {}, timeouts {}, server {}, accept {}",
        c.client_errors.get(),
        c.timeouts.get(),
        c.server_errors.get(),
        c.accept_errors.get()
    );
    println!(
        "soak: after stopping: fds {end_fds} (before the load {base_fds}), tasks {end_tasks} (before {base_tasks}), heap {:.2} MiB",
        HEAP_LIVE.load(Relaxed) as f64 / (1 << 20) as f64
    );
    if end_fds != base_fds {
        failures.push(format!(
            "{end_fds} fds open after the run, {base_fds} before"
        ));
    }
    if end_tasks != base_tasks {
        failures.push(format!(
            "{end_tasks} tasks alive after the run, {base_tasks} before"
        ));
    }
    if total_cycles == 0 {
        failures.push("no cycle completed".into());
    }
    let errors = c.client_errors.get() + c.timeouts.get() + c.server_errors.get();
    if errors > 0 {
        failures.push(format!("{errors} failed cycles (see the messages above)"));
    }
    failures
}
