//! The HTTP/1.1 handler shared by the server examples (`http_per_core`, `http_tokio`), so that
//! every runtime serves byte-for-byte the same thing: no runtime code here, only parsing and
//! answering what is in a buffer.
//!
//! Pipelining-safe: [`answer_all`] answers every complete request at the front of the buffer,
//! in order, and leaves a partial one for the next read.

use std::io::Write;

/// The largest request head (request line and headers) accepted; larger gets `431`.
pub const MAX_HEAD: usize = 8 * 1024;
/// The largest request body accepted (it is read and ignored); larger gets `413`.
pub const MAX_BODY: usize = 64 * 1024;
/// How many headers a request may have; more gets `431`.
const MAX_HEADERS: usize = 32;

/// The answer to `GET /` on a kept-alive connection, prebuilt.
const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: solo-example\r\nContent-Type: text/plain\r\n\
Content-Length: 14\r\n\r\nHello, World!\n";
const HELLO_BODY: &str = "Hello, World!\n";

/// What [`answer_all`] did with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// Bytes of input consumed (complete requests, bodies included).
    pub consumed: usize,
    /// The connection must be closed once the answers are written (`Connection: close`,
    /// HTTP/1.0 without keep-alive, or a malformed request).
    pub close: bool,
}

/// Answers every complete request at the front of `input`, appending the responses to `out`
/// in order. Stops at the first incomplete request, or after a request that closes the
/// connection.
pub fn answer_all(input: &[u8], out: &mut Vec<u8>) -> Answered {
    let mut consumed = 0;
    loop {
        let rest = &input[consumed..];
        if rest.is_empty() {
            return Answered {
                consumed,
                close: false,
            };
        }
        match answer_one(rest, out) {
            One::Partial => {
                return Answered {
                    consumed,
                    close: false,
                };
            }
            One::Answered { len, close } => {
                consumed += len;
                if close {
                    return Answered { consumed, close };
                }
            }
            One::Rejected => {
                return Answered {
                    consumed: input.len(),
                    close: true,
                };
            }
        }
    }
}

enum One {
    /// The request is not complete yet.
    Partial,
    /// A request of `len` bytes was answered.
    Answered { len: usize, close: bool },
    /// The request was malformed or too large; an error was answered and the connection must
    /// close (the rest of the input cannot be framed).
    Rejected,
}

fn answer_one(input: &[u8], out: &mut Vec<u8>) -> One {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
            return reject(out, "431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Partial) => return One::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return reject(out, "431 Request Header Fields Too Large");
        }
        Err(_) => return reject(out, "400 Bad Request"),
    };
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut body_len = 0;
    for header in req.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value);
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                Some(n) if n <= MAX_BODY => body_len = n,
                Some(_) => return reject(out, "413 Content Too Large"),
                None => return reject(out, "400 Bad Request"),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are not needed by this server: refuse rather than
            // mis-frame the next request.
            return reject(out, "501 Not Implemented");
        }
    }
    if input.len() < head_len + body_len {
        return One::Partial;
    }
    let close = !keep_alive;
    let connection = match (close, http10) {
        (true, _) => Some("close"),
        (false, true) => Some("keep-alive"),
        (false, false) => None,
    };
    match (req.method, req.path) {
        (Some("GET"), Some("/")) if connection.is_none() => out.extend_from_slice(HELLO),
        (Some("GET"), Some("/")) => respond(out, "200 OK", connection, &[], HELLO_BODY, true),
        (Some("HEAD"), Some("/")) => respond(out, "200 OK", connection, &[], HELLO_BODY, false),
        (_, Some("/")) => respond(
            out,
            "405 Method Not Allowed",
            connection,
            &[("Allow", "GET, HEAD")],
            "Method Not Allowed\n",
            true,
        ),
        _ => respond(out, "404 Not Found", connection, &[], "Not Found\n", true),
    }
    One::Answered {
        len: head_len + body_len,
        close,
    }
}

fn reject(out: &mut Vec<u8>, status: &str) -> One {
    let body = format!("{status}\n");
    respond(out, status, Some("close"), &[], &body, true);
    One::Rejected
}

fn respond(
    out: &mut Vec<u8>,
    status: &str,
    connection: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
    with_body: bool,
) {
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nServer: solo-example\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(connection) = connection {
        let _ = write!(out, "Connection: {connection}\r\n");
    }
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_requests_are_answered_in_order_and_a_partial_one_waits() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\n\r\nGET / HT";
        let mut out = Vec::new();
        let done = answer_all(input, &mut out);
        assert_eq!(done.consumed, input.len() - 8);
        assert!(!done.close);
        let text = String::from_utf8(out).unwrap();
        let ok = text.find("200 OK").unwrap();
        let missing = text.find("404 Not Found").unwrap();
        assert!(ok < missing);
    }

    #[test]
    fn connection_close_and_http10_close_after_the_answer() {
        let mut out = Vec::new();
        let input = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let done = answer_all(input, &mut out);
        assert!(done.close);
        assert_eq!(String::from_utf8_lossy(&out).matches("HTTP/1.1").count(), 1);
        out.clear();
        assert!(answer_all(b"GET / HTTP/1.0\r\n\r\n", &mut out).close);
        out.clear();
        let keep = answer_all(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            &mut out,
        );
        assert!(!keep.close);
        assert!(String::from_utf8_lossy(&out).contains("Connection: keep-alive"));
    }

    #[test]
    fn bodies_are_skipped_and_garbage_is_rejected() {
        let mut out = Vec::new();
        let input = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
        let done = answer_all(input, &mut out);
        assert_eq!(done.consumed, input.len());
        out.clear();
        assert!(answer_all(b"\x00\x01garbage\r\n\r\n", &mut out).close);
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
    }
}
