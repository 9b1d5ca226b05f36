//! The hyper handler shared by `hyper_server` (solo) and `hyper_tokio` (its tokio peer), so
//! that both runtimes serve exactly the same thing. No runtime code here: the servers count
//! requests in their own state (`Rc<RefCell<_>>` on solo) and pass the count in.
//!
//! - `GET /` (or `HEAD /`): `Hello, World!\n`
//! - `GET /hits`: how many requests this server (worker) has answered, this one included
//! - `POST /echo`: the request body (at most [`MAX_BODY`] bytes, else `413`)
//! - anything else: `404`

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, SERVER};
use hyper::{Method, Request, Response, StatusCode};

/// The largest request body `/echo` accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// The body of `GET /`.
pub const HELLO: &str = "Hello, World!\n";

/// Answers one request. `hits` is the number of requests answered so far, this one included.
/// Never fails: bad bodies get an error status.
pub async fn respond(
    req: Request<Incoming>,
    hits: u64,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => {
            text(StatusCode::OK, Bytes::from_static(HELLO.as_bytes()))
        }
        (&Method::GET, "/hits") => text(StatusCode::OK, Bytes::from(format!("{hits}\n"))),
        (&Method::POST, "/echo") => match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => text(StatusCode::OK, body.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                Bytes::from_static(b"Content Too Large\n"),
            ),
            Err(_) => text(
                StatusCode::BAD_REQUEST,
                Bytes::from_static(b"Bad Request\n"),
            ),
        },
        (_, "/" | "/hits" | "/echo") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"Method Not Allowed\n"),
        ),
        _ => text(StatusCode::NOT_FOUND, Bytes::from_static(b"Not Found\n")),
    };
    Ok(response)
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("solo-example"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The connection preface of HTTP/2 with prior knowledge (RFC 9113, 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection say, as far as they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The HTTP/2 preface, complete.
    Http2,
    /// Not the HTTP/2 preface (already differs from it, or the peer closed early).
    Http1,
    /// A prefix of the preface: wait for more bytes.
    Unknown,
}

/// Classifies the bytes peeked at the start of a connection.
pub fn sniff(peeked: &[u8]) -> Protocol {
    let n = peeked.len().min(H2_PREFACE.len());
    if peeked[..n] != H2_PREFACE[..n] || peeked.is_empty() {
        Protocol::Http1
    } else if n == H2_PREFACE.len() {
        Protocol::Http2
    } else {
        Protocol::Unknown
    }
}
