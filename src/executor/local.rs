//! The owner-thread half of an executor: the run queue, the set of live tasks, spawning,
//! running a batch of tasks, and shutdown.
//!
//! # Invariants
//!
//! - Only the owner thread touches a `Local` (it is `!Send + !Sync`; `Shared` reaches it only
//!   after checking the thread, see `shared.rs`).
//! - No `RefCell` borrow is held while user code runs (polling a task, dropping a future or a
//!   waker): the queue is borrowed only to push or pop one `Runnable`.
//! - `active` holds one waker per live future that has been polled at least once (see
//!   `task.rs`); a live future never polled has its `Runnable` in the run queue. Shutdown
//!   wakes every tracked one, so every live task's `Runnable` lands in the queue or the
//!   inbox, and drops `Runnable`s until `live` is 0. A `Runnable` that a foreign thread is
//!   still handing over arrives in the inbox a moment later; shutdown waits for it rather
//!   than leaving its future undropped.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};

use async_task::{Builder, Runnable};
use slab::Slab;

use super::current::thread_id;
use super::shared::{Shared, schedule};
use super::task::{MAIN_SLOT, NAMED, NAMED_SLOT, Task, TaskFuture, TaskId, TaskMeta, UNTRACKED};
use crate::diag::{Counters, PollSlot, Polling};
use crate::reactor::Reactor;

/// How many task polls may run before the executor checks I/O and timers again, even while
/// tasks are always ready. Also the batch size between two looks at the cross-thread inbox.
///
/// 128 keeps a storm of ready tasks from delaying I/O by more than 128 polls (tokio checks
/// every 61) while keeping the `epoll_wait` that each check costs below 1% of a yield-heavy
/// workload. The check costs no syscall when no I/O source is registered.
pub(crate) const REACTOR_INTERVAL: usize = 128;

/// The run queue capacity (in tasks) an idle executor keeps. A burst of spawns or wakes grows
/// the queue to the burst's size; once the executor runs out of work, capacity beyond this is
/// given back, so 100k tasks spawned at once do not pin 1 MiB of queue for the executor's
/// lifetime. Re-growing after the next burst costs what the first growth did (amortised O(1)
/// per push), so a workload of repeated bursts pays at most double for its queue.
const QUEUE_KEEP: usize = 1024;

/// The executor state that lives on the owner thread.
pub(crate) struct Local {
    queue: RefCell<VecDeque<Runnable<TaskMeta>>>,
    /// One waker per live future that has been polled (and named tasks), keyed by the slot
    /// its `TaskFuture` remembers.
    active: RefCell<Slab<Waker>>,
    /// Live futures: spawned and not yet dropped.
    live: Cell<usize>,
    /// The ids of named live tasks, by slot (to remove their names when they end).
    named: RefCell<HashMap<usize, u64>>,
    /// The other half of the inbox's double buffer.
    spare: RefCell<Vec<Runnable<TaskMeta>>>,
    /// Task polls since the reactor was last checked.
    pub(crate) since_reactor: Cell<usize>,
    /// The wake flag of the outermost `block_on` call, owned for good: leasing it is one
    /// counter check, so `block_on` of a ready future stays a handful of instructions. A
    /// clone of its waker that outlives a call can set the flag during a later call: one
    /// spurious poll of that call's future, which every future tolerates.
    main_wake: MainWake,
    /// Odd while the outermost `block_on` call runs; bumped when it starts and when it ends.
    /// A [`TaskRef`](super::TaskRef) to that call's future carries the epoch, so one kept
    /// past the call (in a stored `Sleep`, say) wakes nothing.
    main_epoch: Cell<u64>,
    /// Reusable wake flags of nested `block_on` calls (one per nesting level in use).
    spare_wakes: RefCell<Vec<MainWake>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) reactor: Rc<Reactor>,
    this: Weak<Local>,
}

impl Local {
    pub(crate) fn new(reactor: Rc<Reactor>) -> Rc<Local> {
        Rc::new_cyclic(|this: &Weak<Local>| {
            let shared = Arc::new(Shared::new(this.as_ptr(), reactor.poller().clone()));
            Local {
                queue: RefCell::new(VecDeque::new()),
                active: RefCell::new(Slab::new()),
                live: Cell::new(0),
                named: RefCell::new(HashMap::new()),
                spare: RefCell::new(Vec::new()),
                since_reactor: Cell::new(0),
                main_wake: MainWake::new(&shared),
                main_epoch: Cell::new(0),
                spare_wakes: RefCell::new(Vec::new()),
                shared,
                reactor,
                this: this.clone(),
            }
        })
    }

    /// Spawns `future` onto this executor.
    ///
    /// # Safety
    ///
    /// `future` (and its output) may borrow data that lives for `'a`; the caller must ensure
    /// this `Local`'s tasks are all dropped before `'a` ends (`LocalExecutor<'a>` does so in
    /// its `Drop`), or never touched again (a leaked executor).
    pub(crate) unsafe fn spawn<'a, F>(
        &self,
        future: F,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
    ) -> Task<F::Output>
    where
        F: Future + 'a,
        F::Output: 'a,
    {
        let local = self
            .this
            .upgrade()
            .expect("a Local is alive while it is borrowed");
        let counters = &self.reactor.counters;
        Counters::add(&counters.tasks_spawned, 1);
        self.live.set(self.live.get() + 1);
        let mut id = TaskId::new(self.shared.owner, counters.tasks_spawned.get()).0;
        // A task enters `active` when its first poll returns `Pending` (see `TaskFuture`):
        // until then its `Runnable` is in the run queue, where shutdown finds it, and a task
        // that finishes in its first poll never costs a slab entry and a waker clone. A named
        // task is tracked at once, under the slot its name is filed by.
        let mut active = None;
        let mut tagged_slot = UNTRACKED;
        if let Some(name) = name {
            let slots = self.active.borrow_mut();
            let slot = slots.vacant_key();
            active = Some(slots);
            self.reactor.poll_slot.set_name(id, name);
            self.named.borrow_mut().insert(slot, id);
            id |= NAMED;
            tagged_slot = slot | NAMED_SLOT;
        }
        let future = TaskFuture::new(future, local, tagged_slot);
        let meta = TaskMeta {
            shared: Arc::as_ptr(&self.shared),
            location,
            id,
        };
        // SAFETY:
        // - `!Send` futures: the `Runnable` is run and dropped only on the owner thread.
        //   `schedule` sends one woken elsewhere to the inbox, which only the owner drains,
        //   and shutdown waits for such hand-overs (module invariants), so the future is
        //   never polled or dropped on another thread.
        // - Non-`'static` futures: guaranteed by this function's contract.
        // - `schedule` is `Send + Sync + 'static` and zero-sized.
        let (runnable, task) = unsafe {
            Builder::new()
                .metadata(meta)
                .propagate_panic(true)
                .spawn_unchecked(move |_| future, schedule)
        };
        if let Some(mut active) = active {
            active.insert(runnable.waker());
        }
        self.push(runnable);
        Task::new(task)
    }

    /// Queues a task woken (or spawned) on the owner thread. Inlined into `schedule`, which
    /// every wake on this thread goes through.
    #[inline(always)]
    pub(crate) fn push(&self, runnable: Runnable<TaskMeta>) {
        self.queue.borrow_mut().push_back(runnable);
        Counters::add(&self.reactor.counters.wakes_local, 1);
        // Owner-thread wakes need no syscall, except when the executor is idle inside a host's
        // event loop (embedding): then the host must learn that work arrived. One load.
        if self.shared.inbox.is_sleeping() {
            self.shared.signal();
        }
    }

    /// Called when a live future is dropped (`slot` as its `TaskFuture` holds it); returns its
    /// waker for the caller to drop.
    #[inline]
    pub(crate) fn forget_task(&self, slot: usize) -> Option<Waker> {
        Counters::add(&self.reactor.counters.tasks_dropped, 1);
        self.live.set(self.live.get() - 1);
        if slot == UNTRACKED {
            return None;
        }
        let mut slot = slot;
        if slot & NAMED_SLOT != 0 {
            slot &= !NAMED_SLOT;
            let id = self.named.borrow_mut().remove(&slot);
            if let Some(id) = id {
                self.reactor.poll_slot.remove_name(id);
            }
        }
        self.active.borrow_mut().try_remove(slot)
    }

    /// Called when a task's future returns `Ready`.
    pub(crate) fn task_completed(&self) {
        Counters::add(&self.reactor.counters.tasks_completed, 1);
    }

    /// The number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.live.get()
    }

    /// Wakes the task parked in `slot` of `active` if it is still the one `tag` names (the
    /// slot may have been emptied, or reused by another task, since). See `TaskRef`.
    #[inline]
    pub(crate) fn wake_parked(&self, slot: usize, tag: usize) {
        if slot == MAIN_SLOT {
            return self.wake_main(tag);
        }
        if self.shared.inbox.is_sleeping() {
            return self.wake_parked_idle(slot, tag);
        }
        // The borrow spans the wake: waking a solo task runs async-task's state update and
        // `schedule`, which (on this, the owner thread, while the executor is awake) only
        // pushes onto the queue. No other code runs, so nothing can want `active` mutably.
        let active = self.active.borrow();
        if let Some(waker) = active.get(slot).filter(|w| w.data() as usize == tag) {
            waker.wake_by_ref();
        }
    }

    /// Whether `waker` wakes what `slot` holds: a parked task, or for [`MAIN_SLOT`] the
    /// outermost `block_on` call's future.
    #[inline]
    pub(crate) fn slot_will_wake(&self, slot: usize, waker: &Waker) -> bool {
        if slot == MAIN_SLOT {
            return self.main_wake.waker.will_wake(waker);
        }
        self.active
            .borrow()
            .get(slot)
            .is_some_and(|w| w.will_wake(waker))
    }

    /// What tells the occupant of `slot`, woken by `waker`, from a later one: the task's
    /// address, or for [`MAIN_SLOT`] the epoch of the running `block_on` call.
    #[inline]
    pub(crate) fn tag(&self, slot: usize, waker: &Waker) -> usize {
        if slot == MAIN_SLOT {
            self.main_epoch.get() as usize
        } else {
            waker.data() as usize
        }
    }

    /// Wakes the outermost `block_on` call's future if the call of `epoch` is still running.
    #[inline]
    fn wake_main(&self, epoch: usize) {
        if self.main_epoch.get() as usize == epoch {
            Wake::wake_by_ref(&self.main_wake.signal);
        }
    }

    /// `wake_parked` while the executor is idle inside a host's loop: the push notifies the
    /// host (its callback is foreign code), so the waker is cloned and woken after the borrow.
    #[cold]
    fn wake_parked_idle(&self, slot: usize, tag: usize) {
        let waker = self
            .active
            .borrow()
            .get(slot)
            .filter(|w| w.data() as usize == tag)
            .cloned();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Tracks a task whose first poll returned `Pending`: returns its slot in `active`.
    #[inline(never)]
    pub(crate) fn track(&self, waker: &Waker) -> usize {
        self.active.borrow_mut().insert(waker.clone())
    }

    /// Whether a task is queued here or in the inbox.
    pub(crate) fn has_ready(&self) -> bool {
        !self.queue.borrow().is_empty() || self.shared.inbox.has_pending()
    }

    /// Called when the executor runs out of ready work (before it sleeps, or as
    /// `run_until_stalled` returns): gives back the run queue's memory after a burst. One
    /// load and compare in the common case.
    #[inline]
    pub(crate) fn on_idle(&self) {
        if self.queue.borrow().capacity() > QUEUE_KEEP {
            self.shrink_queue();
        }
    }

    /// The run queue's capacity, for tests of `on_idle`.
    #[cfg(test)]
    pub(crate) fn queue_capacity(&self) -> usize {
        self.queue.borrow().capacity()
    }

    #[cold]
    fn shrink_queue(&self) {
        let mut queue = self.queue.borrow_mut();
        let keep = QUEUE_KEEP.max(queue.len());
        queue.shrink_to(keep);
    }

    /// Moves tasks woken on other threads into the run queue.
    #[inline(always)]
    fn drain_inbox(&self) -> usize {
        // The common case, nothing from other threads, is one load: no borrow, no call.
        if !self.shared.inbox.has_pending() {
            return 0;
        }
        self.drain_inbox_slow()
    }

    #[cold]
    fn drain_inbox_slow(&self) -> usize {
        let mut spare = self.spare.borrow_mut();
        let n = self.shared.inbox.drain(&mut spare);
        if n > 0 {
            self.queue.borrow_mut().extend(spare.drain(..));
            Counters::add(&self.reactor.counters.wakes_remote, n as u64);
        }
        n
    }

    /// Polls up to `budget` queued tasks, in FIFO order. Returns how many were polled.
    ///
    /// A task woken while it runs goes to the back of the queue, so a task that keeps waking
    /// itself cannot starve the others, and `yield_now` lets every other ready task run first.
    pub(crate) fn run_batch(&self, budget: usize) -> usize {
        // Look at remote wakes once per batch, so a busy local queue cannot starve them.
        self.drain_inbox();
        let polled = if PollSlot::enabled() {
            self.run_timed(budget, &self.reactor.poll_slot)
        } else {
            self.run_untimed(budget)
        };
        Counters::add(&self.reactor.counters.polls, polled as u64);
        polled
    }

    /// `run_batch` with slow-poll detection off: nothing but the polls.
    fn run_untimed(&self, budget: usize) -> usize {
        let mut polled = 0;
        while polled < budget {
            let next = self.queue.borrow_mut().pop_front();
            match next {
                // Panics inside the task are caught by async-task (`propagate_panic`) and
                // re-raised where its `Task` is awaited.
                Some(runnable) => {
                    runnable.run();
                    polled += 1;
                }
                None => {
                    if self.drain_inbox() == 0 {
                        break;
                    }
                }
            }
        }
        polled
    }

    /// `run_batch` with slow-poll detection on: each poll is marked in the thread's slot.
    /// A separate loop rather than a per-poll `if`, so the untimed loop pays nothing.
    fn run_timed(&self, budget: usize, slot: &PollSlot) -> usize {
        let mut polled = 0;
        while polled < budget {
            let next = self.queue.borrow_mut().pop_front();
            match next {
                Some(runnable) => {
                    // The monitor is woken at the first poll, not on entry: a batch that
                    // finds nothing to run (a host calling `run_ready` every frame, a
                    // spurious wake-up) must not unpark it, or it would sample every few
                    // milliseconds for a second.
                    let meta = runnable.metadata();
                    let _timing = Polling::start(slot, meta.id & !NAMED, meta.location);
                    if polled == 0 {
                        PollSlot::wake_monitor();
                    }
                    runnable.run();
                    polled += 1;
                }
                None => {
                    if self.drain_inbox() == 0 {
                        break;
                    }
                }
            }
        }
        polled
    }

    /// Drops every live task's future, on this (the owner) thread.
    pub(crate) fn shutdown(&self) {
        // Wake every live task so that its `Runnable` is queued. Wakers are cloned out first:
        // waking runs the schedule function, which borrows the queue.
        let wakers: Vec<Waker> = self
            .active
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        for waker in wakers {
            waker.wake();
        }
        loop {
            // Dropping a `Runnable` drops its future (and may wake or cancel other tasks,
            // whose `Runnable`s then arrive in the queue too).
            loop {
                let next = self.queue.borrow_mut().pop_front();
                match next {
                    Some(runnable) => drop(runnable),
                    None => break,
                }
            }
            if self.drain_inbox() > 0 {
                continue;
            }
            if self.live.get() == 0 {
                break;
            }
            // A live task's `Runnable` is neither queued nor in the inbox: another thread is
            // inside the schedule function handing it over. It lands in the inbox promptly.
            std::thread::yield_now();
        }
    }

    /// Lends the executor's own wake flag to the outermost `block_on` call, or returns
    /// `None` if one is running (the caller is nested in it).
    #[inline]
    pub(crate) fn lease_main_wake(&self) -> Option<MainLease<'_>> {
        let epoch = self.main_epoch.get();
        if epoch & 1 == 1 {
            return None;
        }
        self.main_epoch.set(epoch + 1);
        self.main_wake.signal.take();
        Some(MainLease(self))
    }

    /// A spare wake flag for a nested `block_on` call (the outermost call uses `main_wake`).
    #[cold]
    pub(crate) fn lease_spare_wake(&self) -> SpareLease<'_> {
        let spare = self.spare_wakes.borrow_mut().pop();
        let wake = spare.unwrap_or_else(|| MainWake::new(&self.shared));
        SpareLease {
            local: self,
            wake: Some(wake),
        }
    }
}

/// A `block_on` call's wake flag and the waker that sets it.
pub(crate) struct MainWake {
    pub(crate) signal: Arc<MainSignal>,
    pub(crate) waker: Waker,
}

impl MainWake {
    fn new(shared: &Arc<Shared>) -> MainWake {
        let signal = Arc::new(MainSignal {
            woken: AtomicBool::new(false),
            shared: shared.clone(),
        });
        let waker = Waker::from(signal.clone());
        MainWake { signal, waker }
    }

    /// Readies a nested call's spare flag for reuse. Returns `false` if a clone of the waker
    /// is still out there: a late wake would then set the flag of an unrelated call, so the
    /// flag must not be reused. (The outermost call's flag is never renewed: its epoch guards
    /// `TaskRef`s, and a stale clone costs at most one spurious poll.)
    #[inline]
    fn reset(&self) -> bool {
        // Our `Arc` plus the one inside `waker`: no other clone exists, and none can be made
        // without `waker`, which we hold.
        if Arc::strong_count(&self.signal) != 2 {
            return false;
        }
        if self.signal.woken.load(Ordering::Relaxed) {
            self.signal.woken.store(false, Ordering::Relaxed);
        }
        true
    }
}

/// The executor's own wake flag, lent to the outermost `block_on` call; the call's epoch
/// ends on every exit, panics included.
pub(crate) struct MainLease<'l>(&'l Local);

impl MainLease<'_> {
    #[inline(always)]
    pub(crate) fn wake(&self) -> &MainWake {
        &self.0.main_wake
    }
}

impl Drop for MainLease<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let epoch = &self.0.main_epoch;
        epoch.set(epoch.get() + 1);
    }
}

/// A spare wake flag lent to a nested `block_on` call; given back (and readied for reuse) on
/// every exit, panics included.
pub(crate) struct SpareLease<'l> {
    local: &'l Local,
    /// `None` only inside `Drop`.
    wake: Option<MainWake>,
}

impl SpareLease<'_> {
    pub(crate) fn wake(&self) -> &MainWake {
        self.wake
            .as_ref()
            .expect("a spare wake is taken only in Drop")
    }
}

impl Drop for SpareLease<'_> {
    fn drop(&mut self) {
        if let Some(wake) = self.wake.take() {
            if wake.reset() {
                self.local.spare_wakes.borrow_mut().push(wake);
            }
        }
    }
}
/// The wake flag of one `block_on` call's future.
pub(crate) struct MainSignal {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl MainSignal {
    /// Whether the future was woken since the last `take`.
    pub(crate) fn is_set(&self) -> bool {
        self.woken.load(Ordering::SeqCst)
    }

    /// Clears the flag, returning whether it was set.
    #[inline]
    pub(crate) fn take(&self) -> bool {
        self.woken.load(Ordering::Relaxed) && self.woken.swap(false, Ordering::Acquire)
    }
}

impl Wake for MainSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    #[inline]
    fn wake_by_ref(self: &Arc<Self>) {
        if self.shared.owner == thread_id() && !self.shared.inbox.is_sleeping() {
            // The owner wakes its own `block_on` future while running (a task it polls
            // finished, say): it reads the flag itself before it could sleep, and only it
            // can start a sleep. No fence, no locked instruction.
            self.woken.store(true, Ordering::Relaxed);
            return;
        }
        // SeqCst store, then the state load in `signal`: the remote half of the sleep
        // handshake (see `inbox.rs`). An owner idle inside a host's loop (embedding) is
        // notified like a remote waker would.
        self.woken.store(true, Ordering::SeqCst);
        self.shared.signal();
    }
}
