//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixIncoming`] and
//! [`UnixDatagram`].

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::Stream;
use rustix::net::{AddressFamily, SocketAddrAny, SocketAddrUnix, SocketType};

use super::sys::{self, impl_stream_io};
use crate::reactor::{Async, Dir, Ticket};

/// A Unix stream socket listening for connections, registered with this thread's reactor.
///
/// Dropping the listener closes it but does not remove its path, as with std: remove the file
/// before binding the same path again.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::UnixListener>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use solo::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("solo-doc-unix-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// solo::block_on(async {
///     let listener = UnixListener::bind(&path)?;
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut conn, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct UnixListener {
    io: Async<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Creates a listener bound to the filesystem path `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the path exists (even a stale socket file), `InvalidInput` if it is
    /// too long for `sockaddr_un` (about 107 bytes), the other OS errors of `bind`/`listen`,
    /// or the error of creating this thread's reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-bind-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = solo::net::UnixListener::bind(&path).unwrap();
    /// assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = sys::socket(AddressFamily::UNIX, SocketType::STREAM)?;
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, sys::BACKLOG)?;
        Ok(UnixListener {
            io: Async::new_nonblocking(std::os::unix::net::UnixListener::from(fd))?,
        })
    }

    /// Accepts a connection, waiting for one if none is pending. Returns the stream and the
    /// peer's address (usually unnamed: clients rarely bind).
    ///
    /// # Errors
    ///
    /// The OS error of `accept4`. Under `EMFILE`/`ENFILE` the listener stays usable; back
    /// off before retrying, as explained for [`TcpListener::accept`](super::TcpListener::accept).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses no connection.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-accept-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// solo::block_on(async {
    ///     let listener = solo::net::UnixListener::bind(&path)?;
    ///     let _client = solo::net::UnixStream::connect(&path).await?;
    ///     let (_conn, peer) = listener.accept().await?;
    ///     assert!(peer.is_unnamed());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, addr) = self.io.read_with(sys::accept).await?;
        Ok((UnixStream::from_fd(fd)?, unix_addr(addr)?))
    }

    /// A stream of incoming connections; see [`TcpListener::incoming`](super::TcpListener::incoming).
    ///
    /// # Cancel safety
    ///
    /// Dropping a pending `next()` loses no connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    ///
    /// let path = std::env::temp_dir().join(format!("solo-doc-incoming-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// solo::block_on(async {
    ///     let listener = solo::net::UnixListener::bind(&path)?;
    ///     let _client = solo::net::UnixStream::connect(&path).await?;
    ///     let conn = listener.incoming().next().await.expect("never ends")?;
    ///     # drop(conn);
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
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
    /// let path = std::env::temp_dir().join(format!("solo-doc-laddr-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = solo::net::UnixListener::bind(&path).unwrap();
    /// assert!(listener.local_addr().unwrap().as_pathname().is_some());
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl TryFrom<std::os::unix::net::UnixListener> for UnixListener {
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
    /// let path = std::env::temp_dir().join(format!("solo-doc-tryfrom-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    /// let listener = solo::net::UnixListener::try_from(std_listener).unwrap();
    /// # drop(listener);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    fn try_from(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Async::new(listener)?,
        })
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// The connections of a [`UnixListener`], from [`UnixListener::incoming`].
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
///
/// let path = std::env::temp_dir().join(format!("solo-doc-uincoming-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// solo::block_on(async {
///     let listener = solo::net::UnixListener::bind(&path)?;
///     let mut incoming = listener.incoming();
///     let _client = solo::net::UnixStream::connect(&path).await?;
///     assert!(incoming.next().await.is_some());
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
    ticket: Ticket<'a>,
}

impl Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let res = ready!(
            this.listener
                .io
                .poll_with_ticket(&mut this.ticket, cx, sys::accept)
        );
        Poll::Ready(Some(res.and_then(|(fd, _)| UnixStream::from_fd(fd))))
    }
}

impl fmt::Debug for UnixIncoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixIncoming")
            .field("listener", self.listener)
            .finish()
    }
}

/// A Unix stream socket registered with this thread's reactor.
///
/// Reads and writes work as for [`TcpStream`](super::TcpStream): `AsyncRead` and
/// `AsyncWrite` for `UnixStream` and `&UnixStream`, writes with `MSG_NOSIGNAL`, `poll_close`
/// shuts the write half down, EOF is `Ok(0)` every time.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::UnixStream>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// solo::block_on(async {
///     let (mut a, mut b) = solo::net::UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct UnixStream {
    io: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket bound at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing exists at `path`, `ConnectionRefused` if nobody listens there,
    /// `WouldBlock` if the listener's backlog is full (there is no readiness event to wait
    /// for; retry later), `InvalidInput` for a path too long for `sockaddr_un`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes its socket.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-connect-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// solo::block_on(async {
    ///     let err = solo::net::UnixStream::connect(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     let _listener = solo::net::UnixListener::bind(&path)?;
    ///     let stream = solo::net::UnixStream::connect(&path).await?;
    ///     assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = sys::socket(AddressFamily::UNIX, SocketType::STREAM)?;
        Ok(UnixStream {
            io: sys::connect(fd, &addr).await?,
        })
    }

    /// A connected pair of unnamed sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair` (`EMFILE`, ...) or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = solo::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// # drop(b);
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, sys::FLAGS, None)?;
        Ok((UnixStream::from_fd(a)?, UnixStream::from_fd(b)?))
    }

    /// Wraps a connected socket that is already non-blocking.
    fn from_fd(fd: OwnedFd) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Async::new_nonblocking(std::os::unix::net::UnixStream::from(fd))?,
        })
    }

    /// The address of the local end (unnamed unless it was bound).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname` (practically never).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The address of the remote end.
    ///
    /// # Errors
    ///
    /// The OS error of `getpeername`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both. See
    /// [`TcpStream::shutdown`](super::TcpStream::shutdown).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    ///
    /// # solo::block_on(async {
    /// let (a, mut b) = solo::net::UnixStream::pair()?;
    /// a.shutdown(std::net::Shutdown::Write)?;
    /// assert_eq!(b.read(&mut [0; 8]).await?, 0); // EOF
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self, how)
    }

    /// Waits until the stream is readable. See [`TcpStream::readable`](super::TcpStream::readable).
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
    /// let (mut a, b) = solo::net::UnixStream::pair()?;
    /// a.write_all(b"x").await?;
    /// b.readable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is writable.
    ///
    /// # Errors
    ///
    /// As for [`readable`](UnixStream::readable).
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
    /// let (a, _b) = solo::net::UnixStream::pair()?;
    /// a.writable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }
}

impl_stream_io!(UnixStream, io);

impl TryFrom<std::os::unix::net::UnixStream> for UnixStream {
    type Error = io::Error;

    /// Puts a std stream in non-blocking mode and registers it with this thread's reactor.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = solo::net::UnixStream::try_from(a).unwrap();
    /// # drop(a);
    /// ```
    fn try_from(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Async::new(stream)?,
        })
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// A Unix datagram socket registered with this thread's reactor.
///
/// Datagrams keep their boundaries and are never reordered; empty datagrams work. Any number
/// of tasks may send and receive on one socket at once.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::UnixDatagram>();
/// ```
///
/// # Examples
///
/// ```
/// solo::block_on(async {
///     let (a, b) = solo::net::UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     a.send(b"").await?;
///     let mut buf = [0; 8];
///     assert_eq!(b.recv(&mut buf).await?, 3);
///     assert_eq!(b.recv(&mut buf).await?, 0);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct UnixDatagram {
    io: Async<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a datagram socket bound to `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the path exists, `InvalidInput` if it is too long, the other OS
    /// errors of `bind`, or the error of creating this thread's reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-dgram-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let socket = solo::net::UnixDatagram::bind(&path).unwrap();
    /// assert_eq!(socket.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = sys::socket(AddressFamily::UNIX, SocketType::DGRAM)?;
        rustix::net::bind(&fd, &addr)?;
        UnixDatagram::from_fd(fd)
    }

    /// Creates a datagram socket bound to no address: it can send, and receive replies only
    /// if the peers it sends to are connected back to it or it is connected to them.
    ///
    /// # Errors
    ///
    /// The OS error of `socket` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = solo::net::UnixDatagram::unbound().unwrap();
    /// assert!(socket.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(sys::socket(AddressFamily::UNIX, SocketType::DGRAM)?)
    }

    /// A connected pair of unnamed datagram sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = solo::net::UnixDatagram::pair().unwrap();
    /// # drop((a, b));
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::DGRAM, sys::FLAGS, None)?;
        Ok((UnixDatagram::from_fd(a)?, UnixDatagram::from_fd(b)?))
    }

    fn from_fd(fd: OwnedFd) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Async::new_nonblocking(std::os::unix::net::UnixDatagram::from(fd))?,
        })
    }

    /// Sets the default peer for [`send`](UnixDatagram::send) and filters what
    /// [`recv`](UnixDatagram::recv) receives. Never waits.
    ///
    /// # Errors
    ///
    /// `NotFound`/`ConnectionRefused` if nothing is bound at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-dconnect-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = solo::net::UnixDatagram::bind(&path).unwrap();
    /// let client = solo::net::UnixDatagram::unbound().unwrap();
    /// client.connect(&path).unwrap();
    /// assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// # drop(server);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends one datagram to the socket bound at `path`.
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`: `NotFound`/`ConnectionRefused` if nothing is bound there,
    /// `Uncategorized` (`EMSGSIZE`) for a datagram over the socket's buffer size. When the
    /// receiver's queue is full the call waits (not an error).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the datagram is sent in the poll that returns `Ready`, or not at all.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("solo-doc-sendto-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// solo::block_on(async {
    ///     let server = solo::net::UnixDatagram::bind(&path)?;
    ///     let client = solo::net::UnixDatagram::unbound()?;
    ///     client.send_to(b"hi", &path).await?;
    ///     let mut buf = [0; 8];
    ///     let (n, from) = server.recv_from(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"hi");
    ///     assert!(from.is_unnamed());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        self.io
            .write_with(|s| {
                Ok(rustix::net::sendto(
                    s,
                    buf,
                    rustix::net::SendFlags::NOSIGNAL,
                    &addr,
                )?)
            })
            .await
    }

    /// Receives one datagram and its sender's address, waiting for one if none is queued.
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram is taken only in the poll that returns it.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let (a, b) = solo::net::UnixDatagram::pair()?;
    /// a.send(b"x").await?;
    /// let (n, _from) = b.recv_from(&mut [0; 8]).await?;
    /// assert_eq!(n, 1);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer; `ConnectionRefused` once the peer is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`send_to`](UnixDatagram::send_to).
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let (a, b) = solo::net::UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"abc").await?, 3);
    /// # drop(b); std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .write_with(|s| Ok(rustix::net::send(s, buf, rustix::net::SendFlags::NOSIGNAL)?))
            .await
    }

    /// Receives one datagram from the connected peer, waiting for one if none is queued.
    ///
    /// # Errors
    ///
    /// The OS error of `recv`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_from`](UnixDatagram::recv_from).
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let (a, b) = solo::net::UnixDatagram::pair()?;
    /// a.send(b"").await?;
    /// assert_eq!(b.recv(&mut [0; 8]).await?, 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// The address the socket is bound to (unnamed if none).
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname` (practically never).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixDatagram::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the socket has no peer.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = solo::net::UnixDatagram::unbound().unwrap();
    /// assert!(s.peer_addr().is_err());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// The OS error of `shutdown`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = solo::net::UnixDatagram::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Both).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self, how)
    }
}

impl TryFrom<std::os::unix::net::UnixDatagram> for UnixDatagram {
    type Error = io::Error;

    /// Puts a std socket in non-blocking mode and registers it with this thread's reactor.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl` or of the registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
    /// let a = solo::net::UnixDatagram::try_from(a).unwrap();
    /// # drop(a);
    /// ```
    fn try_from(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Async::new(socket)?,
        })
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// A std Unix address from the one `accept4` returned.
fn unix_addr(addr: Option<SocketAddrAny>) -> io::Result<SocketAddr> {
    let unix = addr.and_then(|a| SocketAddrUnix::try_from(a).ok());
    if let Some(path) = unix.as_ref().and_then(|u| u.path_bytes()) {
        use std::os::unix::ffi::OsStrExt;
        return SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // rustix reports the unnamed address the kernel returns (just the family, 2 bytes) as an
    // empty abstract name: treat that as unnamed.
    if let Some(name) = unix
        .as_ref()
        .and_then(|u| u.abstract_name())
        .filter(|n| !n.is_empty())
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    // An unnamed peer (the usual client): an empty path is std's unnamed address.
    SocketAddr::from_pathname("")
}
