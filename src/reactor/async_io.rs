//! `Async<T>`: an I/O handle registered with the thread's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use super::Reactor;
use super::source::{Dir, Direction, Source};
use crate::executor::assert_in_runtime;

/// An I/O handle registered with this thread's reactor.
///
/// `Async::new` puts the fd in non-blocking mode and registers it (edge-triggered, both
/// directions, once). Operations try the syscall first and wait for readiness only on
/// `WouldBlock`. `Async<T>` is `!Send`: it belongs to the thread whose reactor it is
/// registered with (wrap a std handle on the thread that will use it).
///
/// `AsyncRead`/`AsyncWrite` are implemented for `Async<T>` and `&Async<T>` when `&T`
/// implements `Read`/`Write`. One task may read while another writes; two tasks reading at
/// once through the same handle is supported by `read_with`/`readable` only (the
/// `AsyncRead` impl keeps one waker per direction).
///
/// # Examples
///
/// ```
/// use solo::Async;
/// use std::os::unix::net::UnixStream;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// solo::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (Async::new(a)?, Async::new(b)?);
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Async<T: AsFd> {
    source: Rc<Source>,
    reactor: Rc<Reactor>,
    /// `None` only after `into_inner` took it (and `Drop` then does nothing).
    io: Option<T>,
    /// The fd's flags before `new`, restored by `into_inner`.
    original_flags: Option<OFlags>,
}

impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with this thread's reactor.
    ///
    /// # Errors
    ///
    /// The OS error if the fd cannot be made non-blocking or registered: a regular file under
    /// epoll gives `PermissionDenied`, an fd already registered gives `AlreadyExists` (the
    /// first registration keeps working). Nothing is registered on error, and the fd's
    /// blocking mode is left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixDatagram;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// let a = solo::Async::new(a).unwrap();
    /// assert!(a.get_ref().local_addr().is_ok());
    /// ```
    pub fn new(io: T) -> io::Result<Self> {
        let flags = fcntl_getfl(io.as_fd())?;
        if !flags.contains(OFlags::NONBLOCK) {
            fcntl_setfl(io.as_fd(), flags | OFlags::NONBLOCK)?;
        }
        match Self::register(&io) {
            Ok((reactor, source)) => Ok(Async {
                source,
                reactor,
                io: Some(io),
                original_flags: Some(flags),
            }),
            Err(e) => {
                // Leave the fd as we found it: `io` may be a borrowed handle (`&File`) that
                // the caller keeps using. Ignore errors: the registration error matters more.
                if !flags.contains(OFlags::NONBLOCK) {
                    let _ = fcntl_setfl(io.as_fd(), flags);
                }
                Err(e)
            }
        }
    }

    /// Registers an fd that is already non-blocking (sockets solo creates itself).
    #[allow(dead_code)] // for `solo::net`, which is not merged yet
    pub(crate) fn new_nonblocking(io: T) -> io::Result<Self> {
        let (reactor, source) = Self::register(&io)?;
        Ok(Async {
            source,
            reactor,
            io: Some(io),
            original_flags: None,
        })
    }

    fn register(io: &T) -> io::Result<(Rc<Reactor>, Rc<Source>)> {
        let reactor = Reactor::current()?;
        let source = reactor.register(io.as_fd())?;
        Ok((reactor, source))
    }

    /// The inner I/O handle.
    ///
    /// # Examples
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = solo::Async::new(a).unwrap();
    /// let _std: &std::os::unix::net::UnixStream = a.get_ref();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("Async::io is present until into_inner")
    }

    /// Deregisters the handle and returns it, in the blocking mode it had before `new`.
    ///
    /// # Errors
    ///
    /// The OS error if deregistration or restoring the flags fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = solo::Async::new(a).unwrap();
    /// let a = a.into_inner().unwrap(); // blocking again
    /// # drop(a);
    /// ```
    pub fn into_inner(mut self) -> io::Result<T> {
        self.reactor.deregister(&self.source)?;
        let io = self
            .io
            .take()
            .expect("Async::io is present until into_inner");
        if let Some(flags) = self.original_flags {
            fcntl_setfl(io.as_fd(), flags)?;
        }
        Ok(io)
    }

    /// Waits until the handle is readable (an event arrived since the last `WouldBlock`).
    ///
    /// Readiness is a hint: the next read may still return `WouldBlock`; use
    /// [`read_with`](Async::read_with) to loop correctly.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    ///
    /// # Errors
    ///
    /// Re-arming a oneshot registration can fail on platforms without edge triggering.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # solo::block_on(async {
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = solo::Async::new(a)?;
    /// b.write_all(b"x")?;
    /// a.readable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.wait(Dir::Read).await
    }

    /// Waits until the handle is writable. See [`readable`](Async::readable).
    ///
    /// # Errors
    ///
    /// As for [`readable`](Async::readable).
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// solo::Async::new(a)?.writable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.wait(Dir::Write).await
    }

    /// Runs a non-blocking read operation until it stops returning `WouldBlock`, waiting for
    /// readability in between.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe as long as `op` is: it runs to completion each time it is called.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns other than `WouldBlock` (`Interrupted` is retried).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixDatagram;
    ///
    /// # solo::block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// let a = solo::Async::new(a)?;
    /// b.send(b"hi")?;
    /// let mut buf = [0; 8];
    /// let n = a.read_with(|s| s.recv(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"hi");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Dir::Read, op).await
    }

    /// Runs a non-blocking write operation until it stops returning `WouldBlock`, waiting for
    /// writability in between. See [`read_with`](Async::read_with).
    ///
    /// # Errors
    ///
    /// Whatever `op` returns other than `WouldBlock` (`Interrupted` is retried).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixDatagram;
    ///
    /// # solo::block_on(async {
    /// let (a, b) = UnixDatagram::pair()?;
    /// let a = solo::Async::new(a)?;
    /// a.write_with(|s| s.send(b"hi")).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf)?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Dir::Write, op).await
    }

    async fn wait(&self, dir: Dir) -> io::Result<()> {
        let mut ticket = Ticket::new(self.source.dir(dir));
        poll_fn(|cx| self.poll_ticket(&mut ticket, cx)).await
    }

    async fn io_with<R>(&self, dir: Dir, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut ticket = self.ticket(dir);
        poll_fn(|cx| self.poll_with_ticket(&mut ticket, cx, &mut op)).await
    }

    /// A waiter's slot in one direction, for hand-written futures and streams (the socket
    /// types' `Incoming`) that need `read_with`'s semantics without an `async` block.
    pub(crate) fn ticket(&self, dir: Dir) -> Ticket<'_> {
        Ticket::new(self.source.dir(dir))
    }

    /// One poll of [`read_with`](Async::read_with)/[`write_with`](Async::write_with): try
    /// `op` unless the direction is known not ready; on `WouldBlock` wait under `ticket`, so
    /// any number of waiters on one direction are all woken by its next event.
    pub(crate) fn poll_with_ticket<R>(
        &self,
        ticket: &mut Ticket<'_>,
        cx: &Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let direction = ticket.dir;
        let io = self.get_ref();
        loop {
            if direction.may_be_ready() {
                match op(io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => direction.set_not_ready(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    res => return Poll::Ready(res),
                }
            }
            match self.poll_ticket(ticket, cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_ticket(&self, ticket: &mut Ticket<'_>, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if ticket.dir.poll_event(cx, &mut ticket.id).is_ready() {
            return Poll::Ready(Ok(()));
        }
        assert_in_runtime("an I/O future");
        self.reactor.rearm(&self.source)?;
        Poll::Pending
    }

    /// The `AsyncRead`/`AsyncWrite` core: try `op` unless known not ready; on `WouldBlock`
    /// wait with the direction's single waker slot.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Dir,
        cx: &Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let direction = self.source.dir(dir);
        let io = self.get_ref();
        loop {
            if direction.may_be_ready() {
                match op(io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => direction.set_not_ready(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    res => return Poll::Ready(res),
                }
            }
            // An event may have arrived since the op (it cannot: events are processed on this
            // thread, between polls), so registering now cannot miss one.
            direction.register(cx);
            assert_in_runtime("an I/O future");
            if let Err(e) = self.reactor.rearm(&self.source) {
                return Poll::Ready(Err(e));
            }
            return Poll::Pending;
        }
    }

    /// Marks a direction as drained after a short read or write (see `source.rs`).
    pub(crate) fn hint_not_ready(&self, dir: Dir) {
        self.source.dir(dir).set_not_ready();
    }

    /// Stream read; zero-length buffers never touch the fd.
    ///
    /// A short read does not mark the direction drained: an end of file that arrived with the
    /// last data is seen only by the next read, and no edge announces it again (see
    /// `source.rs`).
    pub(crate) fn poll_read_stream(
        &self,
        cx: &Context<'_>,
        len: usize,
        read: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        let res = self.poll_io(Dir::Read, cx, read);
        if let Poll::Ready(Ok(n)) = res {
            // A short read drained the socket, unless an end of file hides behind the data
            // (the peer's FIN came in the same edge): see `source.rs`.
            if n > 0 && n < len && super::sys::REPORTS_READ_CLOSED && !self.source.read_closed.get()
            {
                self.hint_not_ready(Dir::Read);
            }
        }
        res
    }

    /// Stream write with the short-write hint; zero-length buffers never touch the fd.
    pub(crate) fn poll_write_stream(
        &self,
        cx: &Context<'_>,
        len: usize,
        write: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        let res = self.poll_io(Dir::Write, cx, write);
        if let Poll::Ready(Ok(n)) = res {
            if n < len {
                self.hint_not_ready(Dir::Write);
            }
        }
        res
    }
}

/// A waiter's slot in a direction, released when the waiting future ends or is dropped.
pub(crate) struct Ticket<'s> {
    dir: &'s Direction,
    id: Option<usize>,
}

impl<'s> Ticket<'s> {
    fn new(dir: &'s Direction) -> Self {
        Ticket { dir, id: None }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.dir.release(id);
        }
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if self.io.is_some() {
            // Deregister and ignore errors: destructors must not panic, and the fd is about
            // to be closed anyway (which also removes it from epoll).
            let _ = self.reactor.deregister(&self.source);
            // Now `io` (and the fd) is dropped with the struct.
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

impl<T: AsFd> AsyncRead for Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_read_stream(cx, len, |mut io| io.read(buf))
    }
}

impl<T: AsFd> AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        (**self).poll_read_stream(cx, len, |mut io| io.read(buf))
    }
}

impl<T: AsFd> AsyncWrite for Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_stream(cx, buf.len(), |mut io| io.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(Dir::Write, cx, |mut io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<T: AsFd> AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        (**self).poll_write_stream(cx, buf.len(), |mut io| io.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_io(Dir::Write, cx, |mut io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
