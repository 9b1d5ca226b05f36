//! Adapters that run libraries written for other runtimes' traits on solo, without starting
//! another runtime. Each sits behind its own cargo feature, off by default:
//!
//! | Feature | What | Types |
//! | --- | --- | --- |
//! | `hyper` | hyper 1.x's runtime traits: spawning on this thread (`!Send` connection futures), timers, and `hyper::rt::Read`/`Write` for solo's streams | [`HyperExecutor`], [`HyperTimer`], [`HyperSleep`], [`HyperIo`] |
//! | `tokio-io` | `tokio::io::AsyncRead`/`AsyncWrite` implemented for [`TcpStream`](crate::net::TcpStream) and [`UnixStream`](crate::net::UnixStream) (and `&` of each), so that tokio-util codecs, h2, tokio-rustls... run on solo | (trait impls only) |
//!
//! futures-io (`futures_lite::AsyncRead`/`AsyncWrite`) needs no adapter: it is solo's own
//! interface, so crates written on it (async-tungstenite, futures-rustls, async-h1...) take
//! solo's streams as they are.
//!
//! None of these start a tokio runtime, reactor or timer: the `tokio` dependency of
//! `tokio-io` (and the one hyper's HTTP/2 pulls in through h2) is built without its `rt`
//! feature, and every wake comes from solo's reactor.
//!
//! # Examples
//!
//! With the `hyper` feature, an HTTP/1.1 exchange over a Unix socket pair:
//!
//! ```
//! # #[cfg(feature = "hyper")] {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//! use solo::compat::HyperIo;
//! use solo::net::UnixStream;
//!
//! solo::block_on(async {
//!     let (server_end, client_end) = UnixStream::pair()?;
//!     let server = solo::spawn_local(async move {
//!         let hello = service_fn(|_req: Request<Incoming>| async {
//!             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .serve_connection(HyperIo::new(server_end), hello)
//!             .await
//!     });
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(client_end))
//!         .await
//!         .unwrap();
//!     let conn = solo::spawn_local(conn);
//!     let response = sender.send_request(Request::new(Empty::<Bytes>::new())).await.unwrap();
//!     assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hi");
//!     drop(sender); // the client connection ends, and so does the server's
//!     conn.await.unwrap();
//!     server.await.unwrap();
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! # }
//! ```

#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio_io;

#[cfg(feature = "hyper")]
pub use self::hyper::{HyperExecutor, HyperIo, HyperSleep, HyperTimer};
