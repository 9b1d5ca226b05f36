//! `tokio::io::AsyncRead` and `tokio::io::AsyncWrite` for solo's streams (feature `tokio-io`).
//!
//! Implemented directly on [`TcpStream`], [`UnixStream`] and their shared references (no
//! wrapper, no copy): a tokio read goes straight into the caller's (possibly uninitialized)
//! `ReadBuf` with one `recv`, on solo's reactor. No tokio runtime, reactor or timer is started
//! or needed, so tokio-util codecs, h2, tokio-rustls and the like run inside `solo::block_on`.
//!
//! The semantics are those of solo's futures-io impls (see [`crate::net`]): `poll_flush` is a
//! no-op, `poll_shutdown` shuts the write half down, writes never raise SIGPIPE. A type now
//! has both futures-io's and tokio's traits: import one extension trait (`futures_lite::
//! AsyncReadExt` or `tokio::io::AsyncReadExt`) per scope, or method calls become ambiguous.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_util::codec::{Framed, LinesCodec};
//! use solo::net::UnixStream;
//!
//! solo::block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     let mut left = Framed::new(a, LinesCodec::new());
//!     let mut right = Framed::new(b, LinesCodec::new());
//!     left.send("hello").await.unwrap();
//!     assert_eq!(right.next().await.unwrap().unwrap(), "hello");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::TcpStream;
#[cfg(unix)]
use crate::net::UnixStream;

/// One read into the unfilled part of `buf`.
fn read_into(
    buf: &mut ReadBuf<'_>,
    recv: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: `recv` only writes into the slice (it never de-initializes a byte).
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = match recv(unfilled) {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    // SAFETY: the kernel wrote (initialized) the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

macro_rules! tokio_io {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                read_into(buf, |b| self.poll_recv_uninit(cx, b))
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_send(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_send_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            /// Sockets have no user-space buffer: nothing to flush, no syscall.
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Shuts the write half down: the peer reads EOF, reads here still work.
            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

tokio_io!(TcpStream);
tokio_io!(&TcpStream);
#[cfg(unix)]
tokio_io!(UnixStream);
#[cfg(unix)]
tokio_io!(&UnixStream);
