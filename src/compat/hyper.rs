//! hyper 1.x's runtime traits on solo (feature `hyper`).
//!
//! - [`HyperExecutor`]: `hyper::rt::Executor` that spawns with [`spawn_local`](crate::spawn_local),
//!   so connection futures (HTTP/2 streams, client connections) need not be `Send` and may
//!   hold `Rc`s.
//! - [`HyperTimer`] / [`HyperSleep`]: `hyper::rt::Timer` on this thread's timer heap.
//! - [`HyperIo`]: `hyper::rt::Read`/`Write` for [`TcpStream`] and [`UnixStream`].
//!
//! See [`HyperSleep`] for how a sleep on a thread-local timer heap is `Send + Sync`.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use ::hyper::rt::{Executor, Read, ReadBufCursor, Sleep as HyperSleepTrait, Timer, Write};

use crate::executor::{Wakeup, assert_in_runtime};
use crate::net::TcpStream;
#[cfg(unix)]
use crate::net::UnixStream;
use crate::reactor::Reactor;
use crate::time::{TimerKey, clock};

/// `hyper::rt::Executor` that runs hyper's background futures as local tasks of the running
/// solo executor ([`spawn_local`](crate::spawn_local)): they need not be `Send`, so an HTTP/2
/// server's service may share `Rc<RefCell<_>>` state.
///
/// Spawned futures are detached: hyper keeps track of them itself.
///
/// # Examples
///
/// An HTTP/2 (prior knowledge) exchange whose service counts requests in an `Rc<Cell<_>>`:
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::{Request, Response, body::Incoming, service::service_fn};
/// use solo::compat::{HyperExecutor, HyperIo, HyperTimer};
///
/// solo::block_on(async {
///     let (server_end, client_end) = solo::net::UnixStream::pair()?;
///     let hits = Rc::new(Cell::new(0));
///     let counter = hits.clone();
///     let service = service_fn(move |_req: Request<Incoming>| {
///         let counter = counter.clone(); // an Rc: this future is !Send
///         async move {
///             counter.set(counter.get() + 1);
///             let body = Full::new(Bytes::from(counter.get().to_string()));
///             Ok::<_, std::convert::Infallible>(Response::new(body))
///         }
///     });
///     let server = solo::spawn_local(
///         hyper::server::conn::http2::Builder::new(HyperExecutor)
///             .timer(HyperTimer)
///             .serve_connection(HyperIo::new(server_end), service),
///     );
///     let (mut sender, conn) = hyper::client::conn::http2::Builder::new(HyperExecutor)
///         .timer(HyperTimer)
///         .handshake(HyperIo::new(client_end))
///         .await
///         .unwrap();
///     solo::spawn_local(conn).detach();
///     for expected in ["1", "2"] {
///         let response = sender.send_request(Request::new(Empty::<Bytes>::new())).await.unwrap();
///         assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), expected);
///     }
///     drop(sender);
///     server.await.unwrap();
///     assert_eq!(hits.get(), 2);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct HyperExecutor;

impl<F> Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[track_caller]
    fn execute(&self, future: F) {
        crate::spawn_local(future).detach();
    }
}

/// `hyper::rt::Timer` on this thread's timer heap: its sleeps are [`HyperSleep`]s.
///
/// Give it to hyper's builders (`.timer(HyperTimer)`) to enable header-read timeouts, HTTP/2
/// keep-alive pings and the like. [`now`](Timer::now) follows solo's clock, so a paused test
/// clock ([`crate::time::pause`]) drives hyper's timeouts too. [`reset`](Timer::reset) moves a
/// `HyperSleep` in place instead of allocating a new one, and a deadline pushed later touches
/// the timer heap only once the earlier registration fires.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer;
/// use solo::compat::HyperTimer;
///
/// solo::block_on(async {
///     let start = Instant::now();
///     let mut sleep = HyperTimer.sleep(Duration::from_secs(3600));
///     HyperTimer.reset(&mut sleep, start + Duration::from_millis(2));
///     sleep.await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct HyperTimer;

impl Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn HyperSleepTrait>> {
        Box::pin(HyperSleep::new(clock::deadline_after(
            clock::now(),
            duration,
        )))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn HyperSleepTrait>> {
        Box::pin(HyperSleep::new(deadline))
    }

    fn now(&self) -> Instant {
        clock::now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn HyperSleepTrait>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The `hyper::rt::Sleep` of [`HyperTimer`]: completes at a deadline, on this thread's timer
/// heap, like [`solo::time::Sleep`](crate::time::Sleep), but `Send + Sync` as hyper requires
/// (see below for how, without `unsafe`).
///
/// # Why it is `Send + Sync`
///
/// hyper requires `Sleep: Send + Sync` (and `Timer: Send + Sync`), while solo's
/// [`Sleep`](crate::time::Sleep) is `!Send`: it holds an `Rc` of the thread's reactor.
/// `HyperSleep` is a separate future made only of `Send + Sync` data (a deadline, the id of
/// the thread it registered on and a plain key into that thread's timer heap) and finds the
/// reactor through the thread-local on every poll. No `unsafe impl Send` is involved, so
/// nothing thread-bound can be reached from the wrong thread:
///
/// - polled on the thread it registered on: the ordinary timer path;
/// - polled on another thread (hyper never does this on solo, but a `Send` future may move):
///   it registers again on that thread's reactor (which must run a solo executor, or the poll
///   panics with a clear message); the old registration fires at its deadline, waking the
///   task once more at most;
/// - dropped on another thread: the registration stays in its thread's heap until its
///   deadline, then goes away like any fired timer (one far in the future stays until that
///   thread exits: a few dozen bytes).
///
/// Timer heap keys carry a sequence number that is never reused on a thread, and thread ids
/// are never reused in a process, so a stale key can never match someone else's timer.
///
/// # Panics
///
/// Polling a pending `HyperSleep` on a thread where no solo executor runs panics with a
/// message saying so (nothing would fire the timer there).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use solo::compat::HyperSleep;
///
/// fn assert_send_sync<T: Send + Sync>(_: &T) {}
/// solo::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(1);
///     let sleep = HyperSleep::until(deadline);
///     assert_send_sync(&sleep);
///     sleep.await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct HyperSleep {
    deadline: Instant,
    /// Set while registered: the thread whose heap holds the timer, its key there, and the
    /// deadline it was registered for (never later than `deadline`).
    timer: Option<Registration>,
}

#[derive(Debug, Clone, Copy)]
struct Registration {
    thread: ThreadId,
    key: TimerKey,
    at: Instant,
}

impl HyperSleep {
    /// A sleep that completes at `deadline` (at once if it has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// solo::block_on(solo::compat::HyperSleep::until(Instant::now())); // ready at once
    /// ```
    pub fn until(deadline: Instant) -> HyperSleep {
        HyperSleep::new(deadline)
    }

    fn new(deadline: Instant) -> HyperSleep {
        HyperSleep {
            deadline,
            timer: None,
        }
    }

    /// The instant at which this sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(solo::compat::HyperSleep::until(at).deadline(), at);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline, earlier or later; the sleep is pending again if it was complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::{Duration, Instant};
    ///
    /// solo::block_on(async {
    ///     let mut sleep = pin!(solo::compat::HyperSleep::until(
    ///         Instant::now() + Duration::from_secs(3600)
    ///     ));
    ///     sleep.as_mut().reset(Instant::now());
    ///     sleep.await; // ready at once
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        let Some(reg) = this.timer else {
            return;
        };
        if reg.thread != thread::current().id() {
            // Registered elsewhere: the next poll registers here.
            this.timer = None;
            return;
        }
        if deadline >= reg.at {
            // Later (hyper pushes its header-read timeout back on every request): keep the
            // earlier registration. When it fires, the next poll sees the new deadline and
            // registers again, so the heap is touched once per timeout period, not per reset.
            return;
        }
        let Ok(reactor) = Reactor::current() else {
            this.timer = None;
            return;
        };
        if deadline <= clock::now() {
            // Already due: unregister and wake the waiting task, as firing would have.
            this.timer = None;
            let removed = reactor.timers.borrow_mut().remove(reg.key);
            if let Some(Some(waker)) = removed {
                waker.wake();
            }
            return;
        }
        // Earlier: move the registration, keeping its waker (a waiting task stays subscribed).
        let new_key = reactor.timers.borrow_mut().reset(reg.key, deadline);
        this.timer = new_key.map(|key| Registration {
            key,
            at: deadline,
            ..reg
        });
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let here = thread::current().id();
        if let Some(reg) = this.timer {
            if reg.thread == here {
                let reactor = Reactor::current().unwrap_or_else(|e| panic!("solo: {e}"));
                let mut timers = reactor.timers.borrow_mut();
                if timers.is_live(reg.key) {
                    timers.set_waker(reg.key, cx.waker());
                    drop(timers);
                    assert_in_runtime("solo::compat::HyperSleep");
                    return Poll::Pending;
                }
                // Fired (the heap only fires timers whose deadline has passed); the deadline
                // may have moved later since, which the code below checks.
            }
            // Fired, or moved to another thread: then the old registration is abandoned (see
            // above).
            this.timer = None;
        }
        if this.deadline <= clock::now() {
            return Poll::Ready(());
        }
        assert_in_runtime("solo::compat::HyperSleep");
        let reactor = Reactor::current().unwrap_or_else(|e| panic!("solo: {e}"));
        let key = reactor
            .timers
            .borrow_mut()
            .insert(this.deadline, Some(Wakeup::new(cx.waker())));
        this.timer = Some(Registration {
            thread: here,
            key,
            at: this.deadline,
        });
        Poll::Pending
    }
}

impl HyperSleepTrait for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        let Some(Registration { thread, key, .. }) = self.timer.take() else {
            return;
        };
        if thread != thread::current().id() {
            return; // it fires at its deadline on its own thread
        }
        // During thread exit the reactor may be gone already, and its heap with it.
        if let Ok(reactor) = Reactor::current() {
            let waker = reactor.timers.borrow_mut().remove(key);
            drop(waker);
        }
    }
}

/// A solo stream as hyper's I/O: `hyper::rt::Read` and `hyper::rt::Write` for
/// `HyperIo<`[`TcpStream`]`>` and `HyperIo<`[`UnixStream`]`>`.
///
/// Zero-cost: reads go straight into hyper's (uninitialized) buffer with one `recv`, vectored
/// writes are one `sendmsg`, flushing is a no-op and shutdown closes the write half.
///
/// # Examples
///
/// ```
/// use solo::compat::HyperIo;
/// use solo::net::{TcpListener, TcpStream};
///
/// solo::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let io = HyperIo::new(TcpStream::connect(listener.local_addr()?).await?);
///     assert_eq!(io.get_ref().peer_addr()?, listener.local_addr()?);
///     let _stream: TcpStream = io.into_inner();
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps a stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// let _io = solo::compat::HyperIo::new(a);
    /// ```
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// let io = solo::compat::HyperIo::new(a);
    /// assert!(io.get_ref().peer_addr().is_ok());
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// let mut io = solo::compat::HyperIo::new(a);
    /// let _stream: &mut solo::net::UnixStream = io.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// let _stream: solo::net::UnixStream = solo::compat::HyperIo::new(a).into_inner();
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

macro_rules! hyper_io {
    ($ty:ty) => {
        impl Read for HyperIo<$ty> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: `recv` only writes into the slice (it never de-initializes a byte).
                let unfilled = unsafe { buf.as_mut() };
                let n = match self.inner.poll_recv_uninit(cx, unfilled) {
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                // SAFETY: `poll_recv_uninit` returned `n`: the kernel wrote (initialized) the
                // first `n` bytes of the unfilled part.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }

        impl Write for HyperIo<$ty> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_send(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_send_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

hyper_io!(TcpStream);
#[cfg(unix)]
hyper_io!(UnixStream);
