//! A hyper 1.x client on solo (feature `hyper`), fetching from `examples/hyper_server.rs`
//! over HTTP/1.1 (two requests on one kept-alive connection) and HTTP/2 (prior knowledge:
//! three concurrent requests multiplexed on one connection).
//!
//! ```sh
//! cargo run --release --features hyper --example hyper_client                  # own server
//! cargo run --release --features hyper --example hyper_client -- 127.0.0.1:8080
//! ```
//!
//! Without an address it starts `hyper_server` on a free port in this process. It prints each
//! response and exits non-zero if one is not what the server should say.

#[path = "hyper_server.rs"]
#[allow(dead_code)]
mod server;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use solo::compat::{HyperExecutor, HyperIo, HyperTimer};
use solo::net::TcpStream;

/// Status and body of one response.
type Answer = (StatusCode, Bytes);

fn request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    body: &'static str,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid request")
}

/// `GET /` twice and `POST /echo` over one HTTP/1.1 connection.
async fn http1(addr: SocketAddr) -> Result<Vec<Answer>, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
    let conn = solo::spawn_local(conn);
    let mut answers = Vec::new();
    for (method, path, body) in [
        (Method::GET, "/", ""),
        (Method::GET, "/", ""),
        (Method::POST, "/echo", "echo over HTTP/1.1"),
    ] {
        sender.ready().await?;
        let response = sender
            .send_request(request(method, addr, path, body))
            .await?;
        let status = response.status();
        answers.push((status, response.into_body().collect().await?.to_bytes()));
    }
    drop(sender);
    conn.await?;
    Ok(answers)
}

/// `GET /`, `GET /hits` and `POST /echo` at once, multiplexed on one HTTP/2 connection.
async fn http2(addr: SocketAddr) -> Result<Vec<Answer>, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(HyperExecutor)
        .timer(HyperTimer)
        .handshake::<_, Full<Bytes>>(HyperIo::new(stream))
        .await?;
    let conn = solo::spawn_local(conn);
    let requests: Vec<_> = [
        (Method::GET, "/", ""),
        (Method::GET, "/hits", ""),
        (Method::POST, "/echo", "echo over HTTP/2"),
    ]
    .into_iter()
    .map(|(method, path, body)| {
        let mut sender = sender.clone();
        let req = request(method, addr, path, body);
        // One local task per request: the three streams are in flight together.
        solo::spawn_local(async move {
            let response = sender.send_request(req).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
    })
    .collect();
    let mut answers = Vec::new();
    for task in requests {
        answers.push(task.await?);
    }
    drop(sender);
    conn.await?;
    Ok(answers)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let own_server;
    let addr = match std::env::args().nth(1) {
        Some(addr) => addr.parse::<SocketAddr>()?,
        None => {
            own_server = server::start(server::Config {
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                threads: 1,
            })?;
            own_server.addr()
        }
    };
    let (one, two) = solo::block_on(async {
        let limit = Duration::from_secs(10);
        let one = solo::time::timeout(limit, http1(addr))
            .await
            .map_err(|_| io::Error::other("HTTP/1.1 timed out"))??;
        let two = solo::time::timeout(limit, http2(addr))
            .await
            .map_err(|_| io::Error::other("HTTP/2 timed out"))??;
        Ok::<_, Box<dyn std::error::Error>>((one, two))
    })?;
    let mut ok = true;
    for (protocol, answers, echo) in [
        ("HTTP/1.1", &one, "echo over HTTP/1.1"),
        ("HTTP/2", &two, "echo over HTTP/2"),
    ] {
        for (status, body) in answers {
            println!("{protocol} {status} {:?}", String::from_utf8_lossy(body));
            ok &= *status == StatusCode::OK;
        }
        ok &= answers[0].1 == "Hello, World!\n" && answers[2].1 == echo;
    }
    if !ok {
        return Err("unexpected response".into());
    }
    Ok(())
}
