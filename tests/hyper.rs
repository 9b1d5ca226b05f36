//! hyper 1.x on solo (feature `hyper`): the example server (`examples/hyper_server.rs`)
//! against hyper's own client on solo, `curl` over HTTP/1.1 and HTTP/2 (prior knowledge) and
//! `wrk` (each tool skipped, with the reason printed, when not installed); hyper's timer on
//! solo (a header-read timeout, a sleep moved between threads).

#[path = "../examples/hyper_server.rs"]
mod server;
#[path = "support/threads.rs"]
mod threads;
#[path = "support/tools.rs"]
mod tools;

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::process::Command;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use http_body_util::{BodyExt, Full};
use hyper::rt::Timer;
use hyper::{Method, Request, StatusCode};
use solo::compat::{HyperExecutor, HyperIo, HyperSleep, HyperTimer};
use solo::net::{TcpStream, UnixStream};
use threads::{under_valgrind, watchdog};
use tools::{installed, parse_wrk};

const LIMIT: Duration = Duration::from_secs(60);

/// One example server at a time in this process: its listeners use `SO_REUSEPORT`, and
/// `bind` to port 0 may hand two such groups of the same user the same port, so one test's
/// connections could land on (and be reset by the shutdown of) another test's server.
static ONE_SERVER: Mutex<()> = Mutex::new(());

fn start(threads: usize) -> (MutexGuard<'static, ()>, server::Server) {
    let guard = ONE_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    let server = server::start(server::Config {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        threads,
    })
    .expect("start the example server");
    (guard, server)
}

fn request(method: Method, path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "localhost")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

type Answer = (StatusCode, Bytes);

/// Sends each request in turn on one connection (HTTP/2 when `h2`), and returns the answers.
async fn exchange(addr: SocketAddr, h2: bool, requests: Vec<Request<Full<Bytes>>>) -> Vec<Answer> {
    let io = HyperIo::new(TcpStream::connect(addr).await.unwrap());
    let mut answers = Vec::new();
    if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(HyperExecutor)
            .timer(HyperTimer)
            .handshake(io)
            .await
            .unwrap();
        let conn = solo::spawn_local(conn);
        for req in requests {
            let response = sender.send_request(req).await.unwrap();
            let status = response.status();
            answers.push((
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            ));
        }
        drop(sender);
        conn.await.unwrap();
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        let conn = solo::spawn_local(conn);
        for req in requests {
            sender.ready().await.unwrap();
            let response = sender.send_request(req).await.unwrap();
            let status = response.status();
            answers.push((
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            ));
        }
        drop(sender);
        conn.await.unwrap();
    }
    answers
}

#[test]
fn hyper_client_on_solo_gets_answers_and_shared_hit_counts_over_http1_and_http2() {
    let _w = watchdog("hyper_client", LIMIT);
    let (_one, server) = start(1); // one worker: one state, so the hit counts are exact
    let addr = server.addr();
    let (one, two) = solo::block_on(async {
        let one = exchange(
            addr,
            false,
            vec![
                request(Method::GET, "/", vec![]),
                request(Method::GET, "/hits", vec![]),
                request(Method::POST, "/echo", b"over HTTP/1.1".to_vec()),
                request(Method::GET, "/nope", vec![]),
            ],
        )
        .await;
        // A new connection, another protocol: the same Rc<RefCell<_>> state.
        let two = exchange(
            addr,
            true,
            vec![
                request(Method::GET, "/hits", vec![]),
                request(Method::POST, "/echo", vec![b'x'; 40_000]),
                request(Method::POST, "/echo", vec![b'x'; 70_000]),
                request(Method::GET, "/", vec![]),
            ],
        )
        .await;
        (one, two)
    });
    let ok = StatusCode::OK;
    assert_eq!(one[0], (ok, Bytes::from("Hello, World!\n")));
    assert_eq!(one[1], (ok, Bytes::from("2\n")));
    assert_eq!(one[2], (ok, Bytes::from("over HTTP/1.1")));
    assert_eq!(one[3].0, StatusCode::NOT_FOUND);
    assert_eq!(two[0], (ok, Bytes::from("5\n")));
    assert_eq!(two[1], (ok, Bytes::from(vec![b'x'; 40_000])));
    assert_eq!(two[2].0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(two[3], (ok, Bytes::from("Hello, World!\n")));
    server.shutdown().unwrap();
}

#[test]
fn hyper_over_a_unix_socket_pair_in_both_directions() {
    let _w = watchdog("hyper_unix", LIMIT);
    solo::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let served = Rc::new(Cell::new(0));
        let count = served.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let count = count.clone();
            async move {
                count.set(count.get() + 1);
                let body = req.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)))
            }
        });
        let server = solo::spawn_local(
            hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .serve_connection(HyperIo::new(a), service),
        );
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(b))
            .await
            .unwrap();
        let conn = solo::spawn_local(conn);
        // Large bodies: many reads and vectored writes through HyperIo.
        for size in [0, 1, 100_000, 1_000_000] {
            let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            sender.ready().await.unwrap();
            let response = sender
                .send_request(request(Method::POST, "/", body.clone()))
                .await
                .unwrap();
            assert_eq!(
                response.into_body().collect().await.unwrap().to_bytes(),
                body
            );
        }
        drop(sender);
        conn.await.unwrap();
        server.await.unwrap();
        assert_eq!(served.get(), 4);
    });
}

#[test]
fn header_read_timeout_on_hyper_timer_closes_a_silent_connection() {
    let _w = watchdog("header_read_timeout", LIMIT);
    solo::block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let service = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
        });
        let start = Instant::now();
        let server = solo::spawn_local(
            hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(HyperIo::new(a), service),
        );
        // Half a request head, then silence.
        b.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let outcome = solo::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("the header timeout ends the connection");
        let elapsed = start.elapsed();
        let error = outcome.expect_err("a timed-out connection is an error");
        assert!(error.is_timeout(), "{error:?}");
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        drop(b);
    });
}

#[test]
fn hyper_timer_reset_moves_the_sleep_in_place_earlier_or_later_and_now_follows_the_paused_clock() {
    let _w = watchdog("hyper_timer_reset", LIMIT);
    solo::block_on(async {
        let timer = HyperTimer;
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        // Registered by a first poll, then moved earlier in place (no new allocation).
        let waker = futures_lite::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let mut cx = Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        let before: *const _ = &*sleep;
        let start = Instant::now();
        timer.reset(&mut sleep, start + Duration::from_millis(5));
        assert!(
            std::ptr::addr_eq(before, &*sleep),
            "reset allocated a new sleep"
        );
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(5));

        // Pushed later after registering (as hyper does on every request): the earlier
        // registration fires first, and the sleep still ends only at the later deadline.
        let mut sleep = timer.sleep(Duration::from_millis(5));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        let start = Instant::now();
        timer.reset(&mut sleep, start + Duration::from_millis(60));
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(60));

        // With solo's clock paused, hyper's `now` is solo's `now`, and an hour passes at once.
        solo::time::pause();
        let t0 = timer.now();
        assert_eq!(t0, solo::time::now());
        let real = Instant::now();
        timer.sleep(Duration::from_secs(3600)).await;
        assert!(timer.now() >= t0 + Duration::from_secs(3600));
        assert!(real.elapsed() < Duration::from_secs(30));
        solo::time::resume();
    });
}

/// Polls `fut` once with a no-op context.
fn poll_once<F: std::future::Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let waker = std::task::Waker::noop();
    fut.poll(&mut Context::from_waker(waker))
}

#[test]
fn hyper_sleep_is_send_and_finishes_or_drops_cleanly_on_another_thread() {
    let _w = watchdog("hyper_sleep_threads", LIMIT);
    // Registered on this thread, finished on another (which runs its own solo runtime).
    let mut moved = Box::pin(HyperSleep::until(
        Instant::now() + Duration::from_millis(20),
    ));
    let dropped = Box::pin(HyperSleep::until(
        Instant::now() + Duration::from_secs(3600),
    ));
    let mut dropped = dropped;
    solo::block_on(async {
        assert!(poll_once(moved.as_mut()).is_pending());
        assert!(poll_once(dropped.as_mut()).is_pending());
    });
    let deadline = moved.deadline();
    std::thread::spawn(move || {
        solo::block_on(moved);
        assert!(Instant::now() >= deadline);
        drop(dropped); // registered on the other thread: left to its own heap
    })
    .join()
    .unwrap();
    // This thread's runtime still works after the moves.
    solo::block_on(solo::time::sleep(Duration::from_millis(1)));
}

#[test]
fn curl_fetches_over_http1_and_http2_prior_knowledge() {
    let _w = watchdog("curl", LIMIT);
    if !installed("curl") {
        return;
    }
    let (_one, server) = start(1);
    let url = format!("http://{}/", server.addr());
    for (flag, version) in [("--http1.1", "1.1"), ("--http2-prior-knowledge", "2")] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", flag])
            .args(["-w", "\n%{http_code} %{http_version}"])
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text,
            format!("Hello, World!\n\n200 {version}"),
            "curl {flag}"
        );
    }
    // A body, over HTTP/2, and the 404.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .args(["--data-binary", "posted by curl", "-w", " %{http_code}"])
        .arg(format!("{url}echo"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "posted by curl 200");
    assert_eq!(tools::curl_status(&format!("{url}nope")), b"404");
    server.shutdown().unwrap();
}

#[test]
fn wrk_for_three_seconds_on_fifty_connections_sees_no_error() {
    let _w = watchdog("wrk", LIMIT);
    if under_valgrind() {
        println!("SKIPPED: a load test under valgrind measures valgrind");
        return;
    }
    if !installed("wrk") {
        return;
    }
    let (_one, server) = start(1);
    let out = Command::new("wrk")
        .args(["-t1", "-c50", "-d3s"])
        .arg(format!("http://{}/", server.addr()))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "{out:?}");
    let parsed = parse_wrk(&report);
    assert!(parsed.requests > 0, "{report}");
    assert_eq!(parsed.socket_errors, 0, "{report}");
    assert_eq!(parsed.non_2xx, 0, "{report}");
    server.shutdown().unwrap();
}
