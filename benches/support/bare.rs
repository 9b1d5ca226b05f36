//! The bare baseline: a thread-local executor made of only the parts issue 2 prescribes
//! (`async-task` tasks that propagate panics, a FIFO `RefCell<VecDeque>` run queue, timers in
//! a `std` binary heap), measured next to solo and its peers.
//!
//! It is **not a runtime**. It has no I/O, no timer cancellation (a dropped sleep stays in the
//! heap until due), no tracking of parked tasks (dropping it leaks them instead of dropping
//! their futures), no fairness budget, no diagnostics and no embedding. It is not a strict
//! lower bound either (a cleverer one could shave a little), but everything it does, any
//! runtime on these parts has to do. So the gap between it and solo is the price of solo's
//! features, and a goal far below it is out of reach on these parts. Used by
//! `benches/timers.rs`, `benches/executor.rs`, `examples/op_cost.rs` and
//! `examples/task_memory.rs`.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use async_task::{Builder, Runnable, Task};

/// What a foreign thread's wake reaches: the owner's inbox. One per thread, leaked.
pub struct Shared {
    /// The address of the owner thread's `IDENTITY`, which tells threads apart.
    owner: usize,
    thread: Thread,
    pending: AtomicBool,
    inbox: Mutex<Vec<Runnable<Meta>>>,
}

/// A task's metadata: its executor, for wakes from any thread. In the metadata rather than in
/// the schedule closure so that the closure is zero-sized, which spares async-task a waker
/// clone around every `schedule` call.
pub type Meta = &'static Shared;

/// Queues a woken task: here on the owner thread, in the owner's inbox from any other.
fn schedule(runnable: Runnable<Meta>) {
    let shared = *runnable.metadata();
    if IDENTITY.with(|i| i as *const u8 as usize) == shared.owner {
        QUEUE.with(|q| q.borrow_mut().push_back(runnable));
    } else {
        shared.inbox.lock().unwrap().push(runnable);
        shared.pending.store(true, Ordering::Release);
        shared.thread.unpark();
    }
}

struct Timer {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest deadline must be on top.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at)
    }
}

thread_local! {
    static IDENTITY: u8 = const { 0 };
    static SHARED: &'static Shared = Box::leak(Box::new(Shared {
        owner: IDENTITY.with(|i| i as *const u8 as usize),
        thread: thread::current(),
        pending: AtomicBool::new(false),
        inbox: Mutex::new(Vec::new()),
    }));
    static QUEUE: RefCell<VecDeque<Runnable<Meta>>> = const { RefCell::new(VecDeque::new()) };
    static TIMERS: RefCell<BinaryHeap<Timer>> = const { RefCell::new(BinaryHeap::new()) };
    /// The clock as of the last timer check; a sleep past it has fired.
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Spawns `future` onto this thread's bare executor.
pub fn spawn<F>(future: F) -> Task<F::Output, Meta>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let shared = SHARED.with(|s| *s);
    // SAFETY: the future is `!Send`-safe because its `Runnable` only ever runs on this
    // thread: `schedule` queues it here, or hands a foreign thread's wake to this thread's
    // inbox, which only this thread drains. The future is `'static`.
    let (runnable, task) = unsafe {
        Builder::new()
            .metadata(shared)
            .propagate_panic(true)
            .spawn_unchecked(move |_: &Meta| future, schedule)
    };
    runnable.schedule();
    task
}

/// Sleeps until `duration` from now has passed. Registers on first poll; never cancelled.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + 'static {
    let at = Instant::now() + duration;
    let mut registered = false;
    std::future::poll_fn(move |cx| {
        if !registered {
            TIMERS.with(|t| {
                t.borrow_mut().push(Timer {
                    at,
                    waker: cx.waker().clone(),
                })
            });
            registered = true;
            return Poll::Pending;
        }
        match NOW.with(Cell::get) {
            Some(now) if now >= at => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })
}

struct MainWake {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Drives `future` and this thread's tasks and timers until `future` is done.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let shared = SHARED.with(|s| *s);
    let main = Arc::new(MainWake {
        woken: AtomicBool::new(true),
        thread: thread::current(),
    });
    let waker = Waker::from(main.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if main.woken.swap(false, Ordering::Acquire)
            && let Poll::Ready(out) = future.as_mut().poll(&mut cx)
        {
            return out;
        }
        while let Some(runnable) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
            runnable.run();
        }
        if shared.pending.swap(false, Ordering::Acquire) {
            let foreign = std::mem::take(&mut *shared.inbox.lock().unwrap());
            QUEUE.with(|q| q.borrow_mut().extend(foreign));
            continue;
        }
        if main.woken.load(Ordering::Acquire) {
            continue;
        }
        let now = Instant::now();
        NOW.with(|n| n.set(Some(now)));
        let mut fired = false;
        let next = TIMERS.with(|t| {
            let mut t = t.borrow_mut();
            while t.peek().is_some_and(|top| top.at <= now) {
                t.pop().expect("peeked").waker.wake();
                fired = true;
            }
            t.peek().map(|top| top.at)
        });
        if fired || QUEUE.with(|q| !q.borrow().is_empty()) {
            continue;
        }
        match next {
            Some(at) => thread::park_timeout(at - now),
            None => thread::park(),
        }
    }
}
