//! tokio's I/O traits on solo's streams (feature `tokio-io`): a tokio-util codec, h2 and
//! tokio's own `AsyncReadExt`/`AsyncWriteExt` run over `solo::net` streams inside
//! `solo::block_on`, and no tokio runtime is ever entered. Every future here is wrapped in
//! [`NoTokio`], which fails the test if a poll runs inside a tokio runtime context
//! (`Handle::try_current()` succeeds) or if a tokio worker thread exists in the process.

#[path = "support/threads.rs"]
mod threads;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use solo::net::{TcpListener, TcpStream, UnixStream};
use threads::watchdog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

const LIMIT: Duration = Duration::from_secs(60);

/// Polls `F`, asserting before and after every poll that no tokio runtime is entered.
struct NoTokio<F>(Pin<Box<F>>);

fn assert_no_tokio(when: &str) {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a tokio runtime context is entered {when}"
    );
    // tokio names its threads "tokio-runtime-worker" (comm is cut to 15 bytes).
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            assert!(
                !comm.starts_with("tokio-runtime"),
                "a tokio thread runs: {comm}"
            );
        }
    }
}

impl<F: Future> Future for NoTokio<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert_no_tokio("before a poll");
        let out = self.0.as_mut().poll(cx);
        assert_no_tokio("after a poll");
        out
    }
}

/// `solo::spawn_local` of a [`NoTokio`]-checked future.
fn spawn<F: Future + 'static>(f: F) -> solo::Task<F::Output> {
    solo::spawn_local(NoTokio(Box::pin(f)))
}

fn block_on<F: Future>(f: F) -> F::Output {
    solo::block_on(NoTokio(Box::pin(f)))
}

#[test]
fn the_checker_fails_inside_a_tokio_runtime() {
    // The guard itself must be able to fail: inside a tokio runtime it panics.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(NoTokio(Box::pin(async {})))
    }));
    assert!(caught.is_err(), "NoTokio did not notice the tokio runtime");
}

#[test]
fn tokio_util_lines_codec_over_solo_tcp_without_a_tokio_runtime() {
    let _w = watchdog("lines_codec", LIMIT);
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(200_000));
            let mut answered = 0;
            while let Some(line) = lines.next().await {
                let line = line.unwrap();
                lines.send(line.to_uppercase()).await.unwrap();
                answered += 1;
            }
            answered
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut lines = Framed::new(stream, LinesCodec::new());
        for i in 0..500 {
            lines.send(format!("line {i}")).await.unwrap();
            assert_eq!(lines.next().await.unwrap().unwrap(), format!("LINE {i}"));
        }
        // A line much larger than one read, and a burst of lines in one write.
        let long = "y".repeat(150_000);
        lines.send(&long).await.unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), long.to_uppercase());
        let burst: String = (0..100).map(|i| format!("b{i}\n")).collect();
        lines.get_mut().write_all(burst.as_bytes()).await.unwrap();
        for i in 0..100 {
            assert_eq!(lines.next().await.unwrap().unwrap(), format!("B{i}"));
        }
        drop(lines); // EOF: the server's stream of lines ends
        assert_eq!(server.await, 601);
    });
}

#[test]
fn codec_limits_are_errors_not_hangs() {
    let _w = watchdog("codec_limit", LIMIT);
    block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut small = Framed::new(a, LinesCodec::new_with_max_length(16));
        let mut writer = b;
        writer.write_all(&[b'z'; 64]).await.unwrap();
        writer.write_all(b"\nok\n").await.unwrap();
        assert!(matches!(
            small.next().await,
            Some(Err(LinesCodecError::MaxLineLengthExceeded))
        ));
        // A decode error ends a tokio-util `Framed` stream: no hang, no further frames.
        assert!(small.next().await.is_none());
    });
}

#[test]
fn h2_client_and_server_over_solo_tcp_without_a_tokio_runtime() {
    let _w = watchdog("h2", LIMIT);
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::handshake(stream).await.unwrap();
            // Each request is handled in its own task: the connection must keep being polled
            // (by `accept`) while a handler waits for body data.
            let mut handlers = Vec::new();
            while let Some(request) = conn.accept().await {
                let (request, mut respond) = request.unwrap();
                handlers.push(spawn(async move {
                    let path = request.uri().path().to_owned();
                    let mut body = request.into_body();
                    let mut received = Vec::new();
                    while let Some(chunk) = body.data().await {
                        let chunk = chunk.unwrap();
                        body.flow_control().release_capacity(chunk.len()).unwrap();
                        received.extend_from_slice(&chunk);
                    }
                    let response = hyper::Response::builder().status(200).body(()).unwrap();
                    let mut send = respond.send_response(response, false).unwrap();
                    let answer = format!("{path}: {} bytes", received.len());
                    send.send_data(Bytes::from(answer), true).unwrap();
                }));
            }
            let served = handlers.len();
            for handler in handlers {
                handler.await;
            }
            served
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (client, conn) = h2::client::handshake(stream).await.unwrap();
        let conn = spawn(conn);
        let mut answers = Vec::new();
        for (path, size) in [("/a", 0usize), ("/b", 10), ("/c", 50_000)] {
            let mut client = client.clone().ready().await.unwrap();
            let request = hyper::Request::builder()
                .uri(format!("http://localhost{path}"))
                .method("POST")
                .body(())
                .unwrap();
            let (response, mut send) = client.send_request(request, size == 0).unwrap();
            if size > 0 {
                send.reserve_capacity(size);
                let mut left = size;
                while left > 0 {
                    let granted = futures_util::future::poll_fn(|cx| send.poll_capacity(cx))
                        .await
                        .unwrap()
                        .unwrap();
                    let n = granted.min(left);
                    left -= n;
                    send.send_data(Bytes::from(vec![7u8; n]), left == 0)
                        .unwrap();
                }
            }
            let response = response.await.unwrap();
            assert_eq!(response.status(), 200);
            let mut body = response.into_body();
            let mut text = Vec::new();
            while let Some(chunk) = body.data().await {
                text.extend_from_slice(&chunk.unwrap());
            }
            answers.push(String::from_utf8(text).unwrap());
        }
        assert_eq!(answers, ["/a: 0 bytes", "/b: 10 bytes", "/c: 50000 bytes"]);
        drop(client);
        conn.await.unwrap();
        assert_eq!(server.await, 3);
    });
}

#[test]
fn tokio_extension_traits_read_write_and_half_close_on_shared_unix_streams() {
    let _w = watchdog("tokio_ext", LIMIT);
    block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let writer = a.clone();
        // Writes through `&UnixStream` in one task while this one reads through another `&`.
        let write = spawn(async move {
            let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
            (&*writer).write_all(&payload).await.unwrap();
            // (The inherent `shutdown(how)` shadows the extension method.)
            AsyncWriteExt::shutdown(&mut &*writer).await.unwrap();
            payload
        });
        let mut b = b;
        // `read_buf` hands the stream uninitialized capacity.
        let mut received = Vec::with_capacity(4096);
        while b.read_buf(&mut received).await.unwrap() != 0 {
            received.reserve(4096);
        }
        assert_eq!(received, write.await);
        // Half-closed: the other direction still works, and EOF stays EOF.
        b.write_all(b"back").await.unwrap();
        let mut back = [0; 4];
        (&*a).read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
        assert_eq!(b.read(&mut [0; 8]).await.unwrap(), 0);
        assert_eq!(b.read(&mut [0; 8]).await.unwrap(), 0);
    });
}
