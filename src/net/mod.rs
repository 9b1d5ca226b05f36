//! TCP, UDP and Unix sockets on this thread's reactor.
//!
//! # Invariants
//!
//! - Every socket is registered, once and edge-triggered for both directions, with the
//!   reactor of the thread that created (or wrapped) it, and is `!Send`: it belongs to that
//!   thread's runtime. A std socket may be created anywhere, moved to another thread and
//!   wrapped there with `TryFrom`.
//! - Sockets solo creates are born non-blocking and close-on-exec (`socket`/`accept4`/
//!   `socketpair` flags, no `fcntl`).
//! - Operations try the syscall first and wait only on `WouldBlock`. A stream read or write
//!   that moves fewer bytes than asked marks the direction drained, so the next one waits for
//!   the kernel's next edge instead of paying a syscall that would return `EAGAIN`. With one
//!   connection an echo round trip is then `epoll_wait` + `recv` + `send`.
//! - A zero-length stream read or write returns `Ok(0)` at once, without a syscall, and does
//!   not mean EOF. EOF is `Ok(0)` and stays `Ok(0)`. Datagram sockets are different: a
//!   receive always waits for (and consumes) a whole datagram, and an empty datagram is a
//!   datagram of length 0.
//! - Writes use `send(MSG_NOSIGNAL)`: a write to a reset connection returns `BrokenPipe` or
//!   `ConnectionReset`, never raises SIGPIPE. A reset wakes waiting readers and writers both;
//!   the kernel reports it once, as `ConnectionReset` to the first read or write after it,
//!   and later reads see EOF (`Ok(0)`) and later writes `BrokenPipe`.
//! - A short stream read marks the socket drained only when the reactor can tell an end of
//!   file is not hiding behind the data (`EPOLLRDHUP`, Linux); as in tokio, the hint assumes
//!   the kernel returns everything queued, which TCP urgent data and Unix ancillary data
//!   (file descriptors) break: solo does not use either.
//! - Dropping a socket deregisters it, then closes it. Event keys carry a generation, so a
//!   new socket that gets the same fd number never sees an event meant for the old one.
//! - Host names given to `bind`/`connect` resolve with the OS's blocking resolver (std's
//!   `ToSocketAddrs`); literal addresses (`"127.0.0.1:8080"`, a [`SocketAddr`]) never block.
//!
//! # Cancel safety
//!
//! Dropping a future before it completes:
//!
//! | Operation | Cancel-safe | What a drop does |
//! |---|---|---|
//! | `accept`, `Incoming::next` | yes | no connection is taken from the backlog |
//! | `read` (`AsyncRead`), `peek`, `recv`, `recv_from`, `peek_from` | yes | no data is consumed |
//! | `readable`, `writable` | yes | nothing |
//! | `send`, `send_to` (datagrams) | yes | the datagram was sent whole or not at all |
//! | `write` (`AsyncWrite`) | yes | no bytes were written |
//! | `write_all`, `read_exact`, `read_to_end` | no | part of the data may have moved |
//! | `TcpStream::connect`, `UnixStream::connect` | - | the attempt is abandoned, its socket closed |
//!
//! # Reading and writing from two tasks
//!
//! `AsyncRead` and `AsyncWrite` are implemented for `&TcpStream` and `&UnixStream` too, and
//! each direction has its own waker: put the stream in an `Rc`, read in one task and write
//! in another. Datagram sockets and listeners take any number of concurrent waiters.
//!
//! # Running out of file descriptors
//!
//! `accept` under `EMFILE`/`ENFILE` returns the error and the listener stays usable. The
//! refused connection stays in the backlog, so the listener stays readable: a loop that
//! retries at once spins a core (tens of thousands of wake-ups per 100 ms). Sleep a few
//! milliseconds before the next `accept`, as `examples/echo_server.rs` does.
//!
//! # Examples
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use solo::net::{TcpListener, TcpStream};
//!
//! solo::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = solo::spawn_local(async move {
//!         let (mut conn, _) = listener.accept().await?;
//!         let mut buf = [0; 64];
//!         loop {
//!             let n = conn.read(&mut buf).await?;
//!             if n == 0 {
//!                 return std::io::Result::Ok(()); // EOF
//!             }
//!             conn.write_all(&buf[..n]).await?;
//!         }
//!     });
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"echo").await?;
//!     let mut buf = [0; 4];
//!     client.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"echo");
//!     drop(client);
//!     server.await
//! })
//! .unwrap();
//! ```
//!
//! [`SocketAddr`]: std::net::SocketAddr

mod sys;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
