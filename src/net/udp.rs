//! UDP: [`UdpSocket`].

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use rustix::net::SocketType;

use super::sys;
use crate::reactor::Async;

/// A UDP socket registered with this thread's reactor.
///
/// Every receive waits for a whole datagram and takes it whole (the part that does not fit
/// the buffer is discarded, as with `recv(2)`). Empty datagrams are sent and received like
/// any other: a receive of one returns `Ok(0)`. Any number of tasks may send and receive on
/// one socket (through `&UdpSocket`) at once.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<solo::net::UdpSocket>();
/// ```
///
/// # Examples
///
/// ```
/// use solo::net::UdpSocket;
///
/// solo::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    io: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr`, trying each address it resolves to in turn. Port 0
    /// picks a free port.
    ///
    /// Host names resolve with the OS's blocking resolver; literal addresses never block.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`AddrInUse`, ...), `InvalidInput` if `addr`
    /// resolves to nothing, or the error of creating this thread's reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(socket.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        sys::each_addr(addr, |addr| {
            let fd = sys::socket(sys::family(&addr), SocketType::DGRAM)?;
            rustix::net::bind(&fd, &addr)?;
            Ok(UdpSocket {
                io: Async::new_nonblocking(std::net::UdpSocket::from(fd))?,
            })
        })
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there, and only its datagrams
    /// are received from then on. Never waits (UDP has no handshake).
    ///
    /// # Errors
    ///
    /// The OS error of `connect` for every resolved address; `InvalidInput` if `addr`
    /// resolves to nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        sys::each_addr(addr, |addr| self.io.get_ref().connect(addr))
    }

    /// Sends one datagram to `addr`. Returns the number of bytes sent (all of them).
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`: `InvalidInput` or `Uncategorized` for a datagram larger
    /// than the protocol allows, `PermissionDenied` for a broadcast without
    /// [`set_broadcast`](UdpSocket::set_broadcast), ...
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the datagram is either sent in the poll that returns `Ready`, or not at
    /// all.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(a.send_to(b"", b.local_addr()?).await?, 0); // an empty datagram
    /// let (n, _) = b.recv_from(&mut [0; 8]).await?;
    /// assert_eq!(n, 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], addr: impl Into<SocketAddr>) -> io::Result<usize> {
        let addr = addr.into();
        self.io.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives one datagram, waiting for one if none is queued. Returns its length (at most
    /// `buf.len()`; the rest of a longer datagram is discarded) and its sender.
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom`. On Linux a connected socket can report
    /// `ConnectionRefused` here after an earlier send reached a closed port.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram is taken from the kernel only in the poll that returns it.
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// a.send_to(b"hello", b.local_addr()?).await?;
    /// let mut buf = [0; 3];
    /// let (n, from) = b.recv_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], from), (&b"hel"[..], a.local_addr()?)); // truncated
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Like [`recv_from`](UdpSocket::recv_from), but leaves the datagram queued.
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](UdpSocket::recv_from).
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
    /// # solo::block_on(async {
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// a.send_to(b"x", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek_from(&mut buf).await?.0, 1);
    /// assert_eq!(b.recv_from(&mut buf).await?.0, 1); // still queued
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.peek_from(buf)).await
    }

    /// Sends one datagram to the peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// `NotConnected` (`DestinationAddressRequired` on some systems) without a peer;
    /// otherwise as for [`send_to`](UdpSocket::send_to), plus `ConnectionRefused` after
    /// the peer's port reported unreachable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`send_to`](UdpSocket::send_to).
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// b.connect(a.local_addr()?)?;
    /// a.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer. See [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Panics
    ///
    /// Panics if it has to wait while no solo executor runs on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # solo::block_on(async {
    /// let a = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = solo::net::UdpSocket::bind("127.0.0.1:0")?;
    /// b.connect(a.local_addr()?)?;
    /// a.send_to(b"", b.local_addr()?).await?;
    /// assert_eq!(b.recv(&mut [0; 8]).await?, 0); // the empty datagram
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname` (practically never).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer set by [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    ///
    /// `NotConnected` if no peer is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.peer_addr().is_err());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`: whether datagrams may go to broadcast addresses.
    ///
    /// # Errors
    ///
    /// The OS error of `setsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_broadcast(true).unwrap();
    /// assert!(s.broadcast().unwrap());
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = solo::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(!s.broadcast().unwrap());
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }
}

impl TryFrom<std::net::UdpSocket> for UdpSocket {
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
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let socket = solo::net::UdpSocket::try_from(std_socket).unwrap();
    /// # drop(socket);
    /// ```
    fn try_from(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Async::new(socket)?,
        })
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
