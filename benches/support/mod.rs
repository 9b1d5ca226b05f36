//! What every bench needs: one `Rt` trait over solo and its peers, the tiny local channel all
//! runtimes share in `ping_pong`, and a fixed-seed random source.
//!
//! Each peer is driven the way its users drive it: tokio's `current_thread` runtime with a
//! `LocalSet` (and its `LocalRuntime`), async-executor's `LocalExecutor` under
//! `async_io::block_on` (what `smol::block_on` does), futures' `LocalPool`, and monoio's
//! legacy (mio) driver.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::task::LocalSpawnExt;

/// A single-threaded runtime as the benches see it.
pub trait Rt {
    /// The name printed in the group (`group/NAME`).
    const NAME: &'static str;
    /// Runs `f` to completion on this runtime, driving its tasks meanwhile.
    fn block_on<F: Future>(&mut self, f: F) -> F::Output;
    /// Spawns a `!Send` task from inside `block_on`; the returned future is its output.
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;
    /// Spawns a task whose handle is dropped without cancelling it.
    fn detach<F: Future<Output = ()> + 'static>(f: F);
    /// The runtime's own `yield_now`.
    fn yield_now() -> impl Future<Output = ()>;
}

/// A runtime with timers.
pub trait TimerRt: Rt {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static;
}

// ---------------------------------------------------------------------------------------------
// solo

pub struct Solo(pub solo::LocalExecutor<'static>);

impl Solo {
    pub fn new() -> Self {
        Solo(solo::LocalExecutor::new())
    }
}

impl Rt for Solo {
    const NAME: &'static str = "solo";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        solo::spawn_local(f)
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        solo::spawn_local(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> {
        solo::yield_now()
    }
}

impl TimerRt for Solo {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        solo::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------------------------
// tokio

/// Unwraps a `Result`-valued join handle (tokio's `JoinHandle`).
pub struct JoinOk<H>(H);

impl<T, E: Debug, H: Future<Output = Result<T, E>> + Unpin> Future for JoinOk<H> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap())
    }
}

fn tokio_builder() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    b
}

/// tokio `current_thread` runtime + `LocalSet` (`spawn_local`).
pub struct TokioLocalSet {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

impl TokioLocalSet {
    pub fn new() -> Self {
        TokioLocalSet {
            rt: tokio_builder().build().unwrap(),
            local: tokio::task::LocalSet::new(),
        }
    }
}

impl Rt for TokioLocalSet {
    const NAME: &'static str = "tokio-localset";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.local.block_on(&self.rt, f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        JoinOk(tokio::task::spawn_local(f))
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        drop(tokio::task::spawn_local(f));
    }
    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }
}

impl TimerRt for TokioLocalSet {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        tokio::time::sleep(d)
    }
}

/// tokio `LocalRuntime` (`Builder::build_local`; stable in tokio 1.54, no `tokio_unstable`).
pub struct TokioLocalRt(tokio::runtime::LocalRuntime);

impl TokioLocalRt {
    pub fn new() -> Self {
        TokioLocalRt(
            tokio_builder()
                .build_local(tokio::runtime::LocalOptions::default())
                .unwrap(),
        )
    }
}

impl Rt for TokioLocalRt {
    const NAME: &'static str = "tokio-localrt";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        JoinOk(tokio::task::spawn_local(f))
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        drop(tokio::task::spawn_local(f));
    }
    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }
}

impl TimerRt for TokioLocalRt {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        tokio::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------------------------
// async-executor (smol)

thread_local! {
    static SMOL: &'static async_executor::LocalExecutor<'static> =
        Box::leak(Box::new(async_executor::LocalExecutor::new()));
}

fn smol_ex() -> &'static async_executor::LocalExecutor<'static> {
    SMOL.with(|ex| *ex)
}

/// async-executor `LocalExecutor`, driven by `async_io::block_on` (as `smol::block_on` does).
pub struct AsyncExecutor;

impl AsyncExecutor {
    pub fn new() -> Self {
        AsyncExecutor
    }
}

impl Rt for AsyncExecutor {
    const NAME: &'static str = "async-executor";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        async_io::block_on(smol_ex().run(f))
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        smol_ex().spawn(f)
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        smol_ex().spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
}

impl TimerRt for AsyncExecutor {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        let timer = async_io::Timer::after(d);
        async move {
            timer.await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// futures-executor LocalPool (no timers, no reactor)

thread_local! {
    static POOL_SPAWNER: RefCell<Option<futures_executor::LocalSpawner>> =
        const { RefCell::new(None) };
}

pub struct LocalPool(futures_executor::LocalPool);

impl LocalPool {
    pub fn new() -> Self {
        let pool = futures_executor::LocalPool::new();
        POOL_SPAWNER.with(|s| *s.borrow_mut() = Some(pool.spawner()));
        LocalPool(pool)
    }
}

fn with_spawner<R>(f: impl FnOnce(&futures_executor::LocalSpawner) -> R) -> R {
    POOL_SPAWNER.with(|s| f(s.borrow().as_ref().expect("LocalPool::new first")))
}

impl Rt for LocalPool {
    const NAME: &'static str = "futures-localpool";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.run_until(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        with_spawner(|s| s.spawn_local_with_handle(f).unwrap())
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        with_spawner(|s| s.spawn_local(f).unwrap());
    }
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
}

// ---------------------------------------------------------------------------------------------
// monoio (legacy mio driver)

pub struct Monoio(monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>>);

impl Monoio {
    pub fn new() -> Self {
        Monoio(
            monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .unwrap(),
        )
    }
}

impl Rt for Monoio {
    const NAME: &'static str = "monoio";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        monoio::spawn(f)
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        drop(monoio::spawn(f));
    }
    /// monoio has no public `yield_now`; this one wakes itself and returns `Pending` once.
    /// monoio queues a task that woke itself while running at the *front* of its run queue.
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
}

impl TimerRt for Monoio {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        monoio::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared primitives

/// A one-place local channel: `send` stores a value and wakes the receiver. Every runtime uses
/// this same primitive in `ping_pong` and `chained_spawn`, so only the executors differ.
#[derive(Default)]
pub struct Slot {
    value: Cell<Option<u64>>,
    waker: Cell<Option<Waker>>,
}

impl Slot {
    pub fn send(&self, v: u64) {
        self.value.set(Some(v));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub fn recv(&self) -> impl Future<Output = u64> + '_ {
        poll_fn(move |cx| match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

/// Shared handle to a [`Slot`].
pub type SlotRc = Rc<Slot>;

/// xorshift64*: the same durations for every runtime, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        Rng(0x9E37_79B9_7F4A_7C15)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

// ---------------------------------------------------------------------------------------------
// bare async-task + VecDeque + BinaryHeap, the baseline (see bare.rs; not a runtime)

pub mod bare;

pub struct Bare;

impl Bare {
    pub fn new() -> Self {
        Bare
    }
}

impl Rt for Bare {
    const NAME: &'static str = "bare async-task";
    fn block_on<F: Future>(&mut self, f: F) -> F::Output {
        bare::block_on(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        bare::spawn(f)
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        bare::spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
}

impl TimerRt for Bare {
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        bare::sleep(d)
    }
}
