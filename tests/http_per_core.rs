//! The thread-per-core HTTP example (`examples/http_per_core.rs`) against real clients that
//! no solo code wrote: a std `TcpStream` speaking keep-alive with pipelined requests, `curl`
//! and `wrk` (each skipped, with the reason printed, when not installed), and the compiled
//! example binary itself when cargo has built it.

#[path = "../examples/http_per_core.rs"]
mod server;
#[path = "support/threads.rs"]
mod threads;
#[path = "support/tools.rs"]
mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use threads::{under_valgrind, watchdog};
use tools::{WrkReport, installed, parse_wrk};

const LIMIT: Duration = Duration::from_secs(60);

fn start(threads: usize) -> server::Server {
    server::start(server::Config {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        threads,
        pin: false,
    })
    .expect("start the example server")
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (`head_only` for answers to HEAD, which have no body).
fn read_response(reader: &mut impl BufRead, head_only: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = response.header("content-length").unwrap().parse().unwrap();
    if !head_only {
        response.body = vec![0; len];
        reader.read_exact(&mut response.body).unwrap();
    }
    response
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

#[test]
fn std_client_pipelines_requests_on_a_kept_alive_connection_then_closes_it() {
    let _w = watchdog("std_client_pipelines", LIMIT);
    let server = start(2);
    let (mut stream, mut reader) = connect(server.addr());

    // Three requests in one write: answered in order.
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
              HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
    let first = read_response(&mut reader, false);
    assert_eq!(
        (first.status, &first.body[..]),
        (200, &b"Hello, World!\n"[..])
    );
    assert_eq!(read_response(&mut reader, false).status, 404);
    let head = read_response(&mut reader, true);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("14"))
    );

    // A request split at awkward points (inside the request line, between headers) and a
    // second one starting in the same write as the first one's end.
    for piece in [
        &b"GE"[..],
        b"T / HTTP/1.1\r\nHo",
        b"st: x\r\n",
        b"\r\nGET / HTTP/1.1\r\n",
        b"\r\n",
    ] {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..2 {
        assert_eq!(read_response(&mut reader, false).status, 200);
    }

    // `Connection: close`: answered, then the server closes.
    stream
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_response(&mut reader, false);
    assert_eq!(last.status, 200);
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");

    server.shutdown().unwrap();
}

#[test]
fn many_keep_alive_clients_at_once() {
    let _w = watchdog("many_keep_alive_clients", LIMIT);
    let server = start(2);
    let addr = server.addr();
    let clients: Vec<_> = (0..32)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut stream, mut reader) = connect(addr);
                for _ in 0..50 {
                    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut reader, false).status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.shutdown().unwrap();
}

#[test]
fn curl_gets_the_page_twice_on_one_connection_and_a_404() {
    let _w = watchdog("curl", LIMIT);
    if !installed("curl") {
        return;
    }
    let server = start(2);
    let url = format!("http://{}/", server.addr());
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10", &url, &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"Hello, World!\nHello, World!\n");
    let log = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        log.contains("re-using existing connection") || log.contains("reusing existing connection"),
        "curl did not keep the connection alive:\n{log}"
    );

    assert_eq!(tools::curl_status(&format!("{url}nope")), b"404");
    server.shutdown().unwrap();
}

#[test]
fn wrk_report_parser_reads_errors_and_non_2xx() {
    let report = "Running 3s test @ http://127.0.0.1:1/\n  1 threads and 50 connections\n\
                  12345 requests in 3.00s, 1.00MB read\n  Socket errors: connect 1, read 2, \
                  write 3, timeout 4\n  Non-2xx or 3xx responses: 7\nRequests/sec: 4115.00\n";
    assert_eq!(
        parse_wrk(report),
        WrkReport {
            requests: 12345,
            socket_errors: 10,
            non_2xx: 7
        }
    );
}

#[test]
fn wrk_for_three_seconds_on_fifty_connections_sees_no_error() {
    let _w = watchdog("wrk", LIMIT);
    if under_valgrind() {
        // wrk's 2 s request timeout counts a slowed-down server as socket errors.
        println!("SKIPPED: a load test under valgrind measures valgrind");
        return;
    }
    if !installed("wrk") {
        return;
    }
    let server = start(2);
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

#[test]
fn compiled_example_prints_its_address_first_and_serves() {
    let _w = watchdog("compiled_example", LIMIT);
    // cargo builds the examples next to the test binaries: target/<profile>/examples/.
    let exe = std::env::current_exe().unwrap();
    let Some(binary) = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("http_per_core"))
        .filter(|b| b.exists())
    else {
        println!("SKIPPED: the http_per_core example binary is not built next to this test");
        return;
    };
    let mut child = Command::new(&binary)
        .args(["--port", "0", "--threads", "2", "--duration-secs", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .parse()
        .unwrap();
    let (mut stream, mut reader) = connect(addr);
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, false).status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
