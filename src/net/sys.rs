//! The socket calls shared by the TCP, UDP and Unix types: creating non-blocking sockets,
//! the non-blocking connect handshake, accepting, stream reads and writes, and address
//! conversion. Everything here goes through `rustix`; no `unsafe`.
//!
//! Every socket solo creates is born `SOCK_NONBLOCK | SOCK_CLOEXEC` (one syscall, no
//! `fcntl`), including accepted ones (`accept4`).

use std::io::{self, IoSlice};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};

use rustix::io::Errno;
use rustix::net::addr::SocketAddrArg;
use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendFlags, SocketAddrAny, SocketFlags,
    SocketType,
};

use crate::reactor::{Async, Dir};

/// The flags of every socket solo creates or accepts.
pub(super) const FLAGS: SocketFlags = SocketFlags::NONBLOCK.union(SocketFlags::CLOEXEC);

/// The listen backlog: large enough for a burst of a thousand connects on one thread (the
/// kernel caps it at `net.core.somaxconn`).
pub(super) const BACKLOG: i32 = 1024;

/// A new non-blocking, close-on-exec socket.
pub(super) fn socket(family: AddressFamily, kind: SocketType) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(family, kind, FLAGS, None)?)
}

/// The address family of an IP address.
pub(super) fn family(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    }
}

/// Resolves `addr` (blocking for host names, see the module docs) and runs `f` on each
/// address until one succeeds. Returns the last error, or `InvalidInput` if nothing resolved.
pub(super) fn each_addr<A: ToSocketAddrs, R>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(r) => return Ok(r),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_address))
}

pub(super) fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

/// Starts a non-blocking connect of `fd` to `addr`, registers the socket and waits until the
/// handshake is over.
///
/// The socket is registered only after `connect` returned: a socket registered before it
/// would report the `EPOLLHUP` of an unconnected socket as a spurious "writable".
pub(super) async fn connect<T>(fd: OwnedFd, addr: &impl SocketAddrArg) -> io::Result<Async<T>>
where
    T: AsFd + From<OwnedFd>,
{
    let in_progress = match rustix::net::connect(&fd, addr) {
        Ok(()) => false,
        // EINTR: the connect goes on in the background, exactly as with EINPROGRESS. Unix
        // sockets with a full backlog say EAGAIN, which is returned: there is no event that
        // says when to try again.
        Err(Errno::INPROGRESS | Errno::INTR) => true,
        Err(e) => return Err(e.into()),
    };
    let io = Async::new_nonblocking(T::from(fd))?;
    if in_progress {
        loop {
            io.writable().await?;
            if let Err(e) = rustix::net::sockopt::socket_error(&io)? {
                return Err(e.into());
            }
            // SO_ERROR is 0 both when connected and while still connecting: only a peer
            // address proves the handshake finished. On a spurious event, wait again.
            match rustix::net::getpeername(&io) {
                Ok(_) => break,
                Err(Errno::NOTCONN) => io.hint_not_ready(Dir::Write),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(io)
}

/// `accept4` with the peer's address, the new socket non-blocking and close-on-exec.
pub(super) fn accept<L: AsFd>(listener: &L) -> io::Result<(OwnedFd, Option<SocketAddrAny>)> {
    Ok(rustix::net::acceptfrom_with(listener, FLAGS)?)
}

/// An IP peer address from `accept`/`recvfrom`.
pub(super) fn ip_addr(addr: Option<SocketAddrAny>) -> io::Result<SocketAddr> {
    addr.and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::other("the kernel returned no IP peer address"))
}

/// `recv` into `buf`, for the `AsyncRead` of stream sockets: zero-length buffers never reach
/// the kernel, and a short read marks the socket drained (see `Async::poll_read_stream`).
pub(super) fn poll_recv<T: AsFd>(
    io: &Async<T>,
    cx: &Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_read_stream(cx, len, |s| {
        Ok(rustix::net::recv(s, &mut *buf, RecvFlags::empty())?.0)
    })
}

/// [`poll_recv`] into possibly uninitialized memory (the read buffers of hyper and tokio), so
/// that nobody zeroes a buffer the kernel is about to overwrite. On `Ready(Ok(n))` the first
/// `n` bytes of `buf` are initialized; the rest is untouched.
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
pub(super) fn poll_recv_uninit<T: AsFd>(
    io: &Async<T>,
    cx: &Context<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_read_stream(cx, len, |s| {
        let ((filled, _rest), _) = rustix::net::recv(s, &mut *buf, RecvFlags::empty())?;
        Ok(filled.len())
    })
}

/// `send` with `MSG_NOSIGNAL`: a write to a reset connection is `BrokenPipe`, never SIGPIPE.
pub(super) fn poll_send<T: AsFd>(
    io: &Async<T>,
    cx: &Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    io.poll_write_stream(cx, buf.len(), |s| {
        Ok(rustix::net::send(s, buf, SendFlags::NOSIGNAL)?)
    })
}

/// `sendmsg` of several buffers at once (one syscall), with `MSG_NOSIGNAL`.
pub(super) fn poll_send_vectored<T: AsFd>(
    io: &Async<T>,
    cx: &Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let len = bufs.iter().map(|b| b.len()).sum();
    io.poll_write_stream(cx, len, |s| {
        let mut control = SendAncillaryBuffer::default();
        Ok(rustix::net::sendmsg(
            s,
            bufs,
            &mut control,
            SendFlags::NOSIGNAL,
        )?)
    })
}

/// `shutdown(2)` in std's terms.
pub(super) fn shutdown(fd: impl AsFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => rustix::net::Shutdown::Read,
        std::net::Shutdown::Write => rustix::net::Shutdown::Write,
        std::net::Shutdown::Both => rustix::net::Shutdown::Both,
    };
    Ok(rustix::net::shutdown(fd, how)?)
}

/// Implements `AsyncRead` and `AsyncWrite` for a stream socket type and a shared reference to
/// it. `$field` is its `Async` handle; `poll_close` shuts the write half down.
macro_rules! impl_stream_io {
    ($ty:ty, $field:ident) => {
        impl futures_lite::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_recv(&self.$field, cx, buf)
            }
        }

        impl futures_lite::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_recv(&self.$field, cx, buf)
            }
        }

        impl futures_lite::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send(&self.$field, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send_vectored(&self.$field, cx, bufs)
            }

            /// Sockets have no user-space buffer: nothing to flush, no syscall.
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts the write half down: the peer reads EOF, reads here still work.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        impl futures_lite::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send(&self.$field, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send_vectored(&self.$field, cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        /// The non-blocking calls behind the trait impls, for the adapters in `solo::compat`.
        #[cfg(any(feature = "hyper", feature = "tokio-io"))]
        impl $ty {
            /// Reads into possibly uninitialized memory; on `Ready(Ok(n))` the first `n` bytes
            /// of `buf` are initialized.
            pub(crate) fn poll_recv_uninit(
                &self,
                cx: &std::task::Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_recv_uninit(&self.$field, cx, buf)
            }

            pub(crate) fn poll_send(
                &self,
                cx: &std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send(&self.$field, cx, buf)
            }

            pub(crate) fn poll_send_vectored(
                &self,
                cx: &std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                super::sys::poll_send_vectored(&self.$field, cx, bufs)
            }
        }
    };
}

pub(super) use impl_stream_io;
