//! TCP: [`TcpListener`], [`TcpStream`] and the [`Incoming`] stream of connections.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::Stream;
use rustix::net::{SocketType, sockopt};

use super::sys::{self, impl_stream_io};
use crate::reactor::{Async, Dir, Ticket};

/// A TCP socket listening for connections, registered with this thread's reactor.
///
/// `TcpListener` is `!Send`: it belongs to the thread that created it. To serve one port from
/// several threads, give each thread its own listener with
/// [`bind_reuseport`](TcpListener::bind_reuseport).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::TcpListener>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use solo::net::{TcpListener, TcpStream};
///
/// solo::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = solo::spawn_local(async move {
///         let mut s = TcpStream::connect(addr).await?;
///         s.write_all(b"hello").await?;
///         std::io::Result::Ok(())
///     });
///     let (mut conn, _peer) = listener.accept().await?;
///     let mut buf = Vec::new();
///     conn.read_to_end(&mut buf).await?;
///     assert_eq!(buf, b"hello");
///     client.await
/// })
/// .unwrap();
/// ```
pub struct TcpListener {
    io: Async<std::net::TcpListener>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (with `SO_REUSEADDR`, as std does on Unix).
    ///
    /// Each address `addr` resolves to is tried in turn. Host names resolve with the OS's
    /// blocking resolver; literal addresses such as `"127.0.0.1:0"` never block. Port 0 picks
    /// a free port: read it back with [`local_addr`](TcpListener::local_addr).
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`AddrInUse`, `AddrNotAvailable`,
    /// `PermissionDenied`, ...), `InvalidInput` if `addr` resolves to nothing, or the error
    /// of creating this thread's reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        sys::each_addr(addr, |addr| Self::bind_one(addr, false))
    }

    /// Creates a listener bound to `addr` with `SO_REUSEPORT` as well, so that several
    /// listeners (typically one per thread, each on its own solo runtime) can share a port; the
    /// kernel spreads incoming connections over them.
    ///
    /// Every listener sharing the port must set `SO_REUSEPORT` (use this function for all of
    /// them) and, on Linux, belong to the same user.
    ///
    /// # Errors
    ///
    /// As for [`bind`](TcpListener::bind); `AddrInUse` if a listener without `SO_REUSEPORT`
    /// holds the port.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::net::TcpListener;
    ///
    /// let a = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    /// let port = a.local_addr().unwrap().port();
    /// // Usually on another thread; the same thread works too.
    /// let b = TcpListener::bind_reuseport(("127.0.0.1", port)).unwrap();
    /// assert_eq!(b.local_addr().unwrap().port(), port);
    /// ```
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        sys::each_addr(addr, |addr| Self::bind_one(addr, true))
    }

    fn bind_one(addr: SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
        let fd = sys::socket(sys::family(&addr), SocketType::STREAM)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        if reuseport {
            sockopt::set_socket_reuseport(&fd, true)?;
        }
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, sys::BACKLOG)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(std::net::TcpListener::from(fd))?,
        })
    }

    /// Accepts a connection, waiting for one if none is pending.
    ///
    /// The connection's socket is non-blocking, close-on-exec and registered with this
    /// thread's reactor (`accept4` plus one `epoll_ctl`).
    ///
    /// # Errors
    ///
    /// The OS error of `accept4`. Under `EMFILE`/`ENFILE` (out of file descriptors) the
    /// pending connection stays in the backlog, so the listener is still readable and an
    /// immediate retry fails again: back off (sleep a few milliseconds, or until a connection
    /// closes) before accepting again, or the loop spins a core. The listener stays usable.
    ///
    /// ```no_run
    /// # solo::block_on(async {
    /// # let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// loop {
    ///     match listener.accept().await {
    ///         Ok((stream, _)) => { solo::spawn_local(async move { drop(stream) }).detach(); }
    ///         Err(e) if e.raw_os_error() == Some(24 /* EMFILE */) => {
    ///             solo::time::sleep(std::time::Duration::from_millis(5)).await;
    ///         }
    ///         Err(e) => eprintln!("accept: {e}"),
    ///     }
    /// }
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken from the kernel only in the poll that returns it,
    /// so dropping the future loses none.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use solo::net::{TcpListener, TcpStream};
    ///
    /// solo::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (_conn, peer) = listener.accept().await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = self.io.read_with(sys::accept).await?;
        let addr = sys::ip_addr(addr)?;
        Ok((TcpStream::from_fd(fd)?, addr))
    }

    /// A stream of incoming connections: [`accept`](TcpListener::accept) in a loop, without
    /// the peer addresses. It never ends; errors (such as `EMFILE`) are items, after which the
    /// stream can be polled again.
    ///
    /// # Cancel safety
    ///
    /// Dropping a pending `next()` loses no connection. Any number of `Incoming`s and
    /// `accept` calls may wait on one listener at once; each pending connection goes to one
    /// of them.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use solo::net::{TcpListener, TcpStream};
    ///
    /// solo::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let _clients = (TcpStream::connect(addr).await?, TcpStream::connect(addr).await?);
    ///     let conns: Vec<_> = listener.incoming().take(2).try_collect().await?;
    ///     assert_eq!(conns.len(), 2);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            ticket: self.io.ticket(Dir::Read),
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname` (practically never).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl TryFrom<std::net::TcpListener> for TcpListener {
    type Error = io::Error;

    /// Puts a std listener in non-blocking mode and registers it with this thread's reactor.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let listener = solo::net::TcpListener::try_from(std_listener).unwrap();
    /// # drop(listener);
    /// ```
    fn try_from(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Async::new(listener)?,
        })
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// The connections of a [`TcpListener`], from [`TcpListener::incoming`].
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
///
/// solo::block_on(async {
///     let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
///     let _client = solo::net::TcpStream::connect(listener.local_addr()?).await?;
///     let mut incoming = listener.incoming();
///     let conn = incoming.next().await.expect("never ends")?;
///     assert!(conn.peer_addr()?.ip().is_loopback());
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    /// Its own waiter slot, so several `Incoming`s and `accept`s can wait at once.
    ticket: Ticket<'a>,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let res = ready!(
            this.listener
                .io
                .poll_with_ticket(&mut this.ticket, cx, sys::accept)
        );
        Poll::Ready(Some(res.and_then(|(fd, _)| TcpStream::from_fd(fd))))
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish()
    }
}

/// A TCP connection registered with this thread's reactor.
///
/// Reads and writes go through [`AsyncRead`](futures_lite::AsyncRead) and
/// [`AsyncWrite`](futures_lite::AsyncWrite) (use `futures_lite::{AsyncReadExt,
/// AsyncWriteExt}`), implemented for `TcpStream` and for `&TcpStream`: one task may read
/// while another writes through a shared reference (for example an `Rc<TcpStream>`). Each
/// direction keeps one waker, so use one reading task and one writing task at a time.
///
/// Writes use `send(MSG_NOSIGNAL)`: writing to a reset connection is an error
/// (`BrokenPipe` or `ConnectionReset`), never a SIGPIPE. `poll_flush` is a no-op and
/// `poll_close` shuts the write half down. EOF reads as `Ok(0)`, every time.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::TcpStream>();
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use solo::net::{TcpListener, TcpStream};
///
/// solo::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = Rc::new(TcpStream::connect(listener.local_addr()?).await?);
///     let (mut server, _) = listener.accept().await?;
///
///     // A writer task and a reader task share one stream.
///     let writer = client.clone();
///     let send = solo::spawn_local(async move { (&*writer).write_all(b"ping").await });
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     server.write_all(&buf).await?;
///     (&*client).read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     send.await
/// })
/// .unwrap();
/// ```
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// The connect itself never blocks the thread: the socket is created non-blocking, the
    /// handshake runs while other tasks do, and its outcome is read from `SO_ERROR`. Host
    /// names, however, resolve with the OS's blocking resolver before the first attempt;
    /// pass a [`SocketAddr`] (or a literal such as `"127.0.0.1:8080"`) to avoid that. To bound
    /// the wait for an unresponsive peer, wrap the call in [`crate::time::timeout`].
    ///
    /// # Errors
    ///
    /// The error of the last address tried: `ConnectionRefused` (nobody listens on the port,
    /// reported as soon as the peer's reset arrives), `TimedOut` (the kernel gave up, after
    /// minutes), `NetworkUnreachable`, ...; `InvalidInput` if `addr` resolves to nothing.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes its socket; nothing else is lost.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use solo::net::{TcpListener, TcpStream};
    ///
    /// solo::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let stream = solo::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
    ///         .await
    ///         .expect("loopback connects at once")?;
    ///     assert_eq!(stream.peer_addr()?, addr);
    ///
    ///     drop(listener);
    ///     let refused = TcpStream::connect(addr).await.unwrap_err();
    ///     assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            let attempt = async {
                let fd = sys::socket(sys::family(&addr), SocketType::STREAM)?;
                sys::connect(fd, &addr).await
            };
            match attempt.await {
                Ok(io) => return Ok(TcpStream { io }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(sys::no_address))
    }

    /// Wraps a connected socket that is already non-blocking.
    fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Async::new_nonblocking(std::net::TcpStream::from(fd))?,
        })
    }

    /// The address of the remote end.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is gone (after a reset, for example).
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The address of the local end.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname` (practically never).
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert!(stream.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY`: with `true`, small writes go out at once instead of being
    /// coalesced by Nagle's algorithm (what request/response protocols usually want).
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set. See [`set_nodelay`](TcpStream::set_nodelay).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert!(!stream.nodelay()?); // off by default
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// After `Shutdown::Write` the peer reads EOF once it has read everything sent before,
    /// and this side can still read. Later writes fail with `BrokenPipe`.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is already gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    /// use std::net::Shutdown;
    ///
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (mut server, _) = listener.accept().await?;
    /// client.write_all(b"last words").await?;
    /// client.shutdown(Shutdown::Write)?;
    /// let mut got = String::new();
    /// server.read_to_string(&mut got).await?; // ends at the EOF
    /// server.write_all(b"ack").await?; // the other direction still works
    /// let mut ack = [0; 3];
    /// client.read_exact(&mut ack).await?;
    /// assert_eq!((got.as_str(), &ack), ("last words", b"ack"));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self, how)
    }

    /// Receives data without removing it from the socket's queue, waiting for some if none
    /// is queued.
    ///
    /// # Errors
    ///
    /// The OS error of `recv(MSG_PEEK)`, such as `ConnectionReset`. EOF is `Ok(0)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (mut server, _) = listener.accept().await?;
    /// client.write_all(b"abc").await?;
    /// let mut buf = [0; 3];
    /// let n = server.peek(&mut buf).await?;
    /// assert_eq!(&buf[..n], &b"abc"[..n]);
    /// server.read_exact(&mut buf).await?; // still there
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Waits until the stream is readable: data, EOF or an error is waiting. Readiness is a
    /// hint; a read may still find nothing and wait again.
    ///
    /// # Errors
    ///
    /// Only on platforms without edge-triggered polling, if re-arming fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// client.write_all(b"x").await?;
    /// server.readable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is writable (send buffer space, or an error, is available).
    ///
    /// # Errors
    ///
    /// As for [`readable`](TcpStream::readable).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let listener = solo::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = solo::net::TcpStream::connect(listener.local_addr()?).await?;
    /// client.writable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }
}

impl_stream_io!(TcpStream, io);

impl TryFrom<std::net::TcpStream> for TcpStream {
    type Error = io::Error;

    /// Puts a connected std stream in non-blocking mode and registers it with this thread's
    /// reactor. A std stream may be created on one thread and wrapped on another.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let stream = solo::net::TcpStream::try_from(std_stream).unwrap();
    /// # drop(stream);
    /// ```
    fn try_from(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Async::new(stream)?,
        })
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}
