//! `HubServer`: a [`HubHandler`] served over HTTP/1.1 on `std::net`, one
//! request per connection.
//!
//! Why not tiny_http: its connection task pool keeps a thread per idle
//! keep-alive connection and, when connections arrive together, can queue a
//! new connection behind busy threads until some client closes an idle one
//! (64 concurrent `HubSource` clients lost 3 to 21 requests to timeouts).
//! The hub protocol needs little of HTTP: a request head (parsed by
//! `httparse`, the parser hyper uses), a `Content-Length` body, and an
//! answer with `Connection: close`. This file keeps only the connection
//! loop, with read/write timeouts and size caps.

#[cfg(feature = "hub")]
use std::fmt;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

#[cfg(feature = "hub")]
use super::handler::HubHandler;
use super::handler::{HubRequest, HubResponse, MAX_BODY};
#[cfg(feature = "hub")]
use crate::error::{Error, Result};

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(feature = "hub")]
/// A blocking HTTP server for a [`HubHandler`]: a thread per connection,
/// at most [`workers`](HubServer::workers) at once, one request per
/// connection (answers carry `Connection: close`), each request logged to
/// stderr as `METHOD /path STATUS LATENCY` (never a query, a header or a
/// body: they carry tokens and secrets).
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use wechat::hub::{HubHandler, HubServer};
///
/// let handler = HubHandler::builder().account("wx1", "s1").build()?;
/// let server = HubServer::bind("127.0.0.1:0", handler)?.log_requests(false);
/// let url = format!("http://{}/healthz", server.addr());
/// let stop = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| server.run(&stop));
///     let mut resp = ureq::get(&url).call().unwrap();
///     assert_eq!(resp.body_mut().read_to_string().unwrap(), r#"{"status":"ok"}"#);
///     stop.store(true, Ordering::SeqCst);
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HubServer {
    listener: TcpListener,
    addr: SocketAddr,
    handler: HubHandler,
    workers: usize,
    log: bool,
}

#[cfg(feature = "hub")]
impl HubServer {
    /// Listens on `addr` (`host:port`; port 0 picks a free one).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `addr`
    /// cannot be bound.
    pub fn bind(addr: &str, handler: HubHandler) -> Result<HubServer> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::config(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::config(format!("cannot listen on {addr}: {e}")))?;
        Ok(HubServer {
            listener,
            addr,
            handler,
            workers: 64,
            log: true,
        })
    }

    /// How many connections are served at once; more wait to be accepted.
    /// A request that waits for WeChat or for another hub's refresh holds
    /// its connection meanwhile.
    ///
    /// Defaults to 64.
    pub fn workers(mut self, workers: usize) -> HubServer {
        self.workers = workers.max(1);
        self
    }

    /// Logs one line per request to stderr.
    ///
    /// Defaults to `true`.
    pub fn log_requests(mut self, log: bool) -> HubServer {
        self.log = log;
        self
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` becomes true, then lets the requests in
    /// progress finish and returns (within about 50 ms when idle).
    pub fn run(&self, stop: &AtomicBool) {
        serve(
            &self.listener,
            self.addr,
            self.workers,
            stop,
            &|req| self.handler.handle(req),
            self.log,
        );
    }
}

/// Accepts connections on `listener` (bound to `addr`) until `stop`, each
/// served on its own thread, at most `workers` at once.
pub(crate) fn serve(
    listener: &TcpListener,
    addr: SocketAddr,
    workers: usize,
    stop: &AtomicBool,
    handle: &(dyn Fn(&HubRequest) -> HubResponse + Sync),
    log: bool,
) {
    let active = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Wakes the blocking accept below once `stop` is set.
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) && !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut wake = addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            // ok because failing to connect means accept is not waiting
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        });
        loop {
            let accepted = listener.accept();
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("wechat-hub: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            while active.load(Ordering::SeqCst) >= workers.max(1) {
                std::thread::sleep(Duration::from_millis(1));
            }
            active.fetch_add(1, Ordering::SeqCst);
            let active = &active;
            s.spawn(move || {
                serve_connection(stream, handle, log);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
        finished.store(true, Ordering::SeqCst);
    });
}

fn serve_connection(
    stream: TcpStream,
    handle: &(dyn Fn(&HubRequest) -> HubResponse + Sync),
    log: bool,
) {
    let started = Instant::now();
    // ok because a socket that refuses options is served without them
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let (label, resp, unread) = match read_request(&mut reader, &stream) {
        Ok(req) => {
            let label = format!("{} {}", req.method, req.path);
            (label, handle(&req), false)
        }
        Err(Bad::Gone) => return,
        Err(Bad::Answer(status, message)) => ("- -".to_string(), error(status, message), true),
    };
    // Logged before answering, so a client that has its answer finds
    // the line written; the latency is the time to produce the answer.
    if log {
        eprintln!(
            "{label} {} {:.1}ms",
            resp.status,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    // ok because a client that went away needs no answer
    let _ = write_response(&stream, resp);
    let _ = stream.shutdown(Shutdown::Write);
    if unread {
        // Drain what the client still sends, briefly, so that closing
        // does not reset the connection before it read the answer.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = std::io::copy(&mut reader.take(MAX_BODY as u64), &mut std::io::sink());
    }
}

/// Why a request could not be read.
enum Bad {
    /// The client closed or timed out before sending a request.
    Gone,
    /// Answer this status and message.
    Answer(u16, &'static str),
}

/// Reads one request: the head parsed by `httparse`, then a
/// `Content-Length` body.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    mut stream: &TcpStream,
) -> std::result::Result<HubRequest, Bad> {
    // One deadline for the whole request, not per read: a client that
    // trickles a byte at a time cannot hold a worker past it.
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) if head_len > MAX_HEAD => {
                return Err(Bad::Answer(431, "the request head is too large"))
            }
            Ok(httparse::Status::Complete(head_len)) => {
                let rest = buf[head_len..].to_vec();
                return finish_request(&parsed, rest, reader, &mut stream, deadline);
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Bad::Answer(431, "too many request headers"))
            }
            Err(_) => return Err(Bad::Answer(400, "malformed request")),
        }
        if buf.len() > MAX_HEAD {
            return Err(Bad::Answer(431, "the request head is too large"));
        }
        arm(stream, deadline)?;
        let n = reader.read(&mut chunk).map_err(|_| Bad::Gone)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                Bad::Gone
            } else {
                Bad::Answer(400, "incomplete request")
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Builds the request from a parsed head and reads its body (`rest` holds
/// the body bytes that came with the head).
fn finish_request(
    parsed: &httparse::Request<'_, '_>,
    mut rest: Vec<u8>,
    reader: &mut BufReader<TcpStream>,
    stream: &mut &TcpStream,
    deadline: Instant,
) -> std::result::Result<HubRequest, Bad> {
    let (Some(method), Some(target)) = (parsed.method, parsed.path) else {
        return Err(Bad::Answer(400, "malformed request line"));
    };
    if !target.starts_with('/') {
        return Err(Bad::Answer(400, "malformed request target"));
    }
    let mut req = HubRequest::new(method, target);
    let mut length = 0usize;
    let mut expect_continue = false;
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| Bad::Answer(400, "header value is not UTF-8"))?
            .trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| Bad::Answer(400, "malformed content-length"))?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Bad::Answer(411, "send the body with a content-length"));
        } else if header.name.eq_ignore_ascii_case("expect")
            && value.eq_ignore_ascii_case("100-continue")
        {
            expect_continue = true;
        }
        req.headers
            .push((header.name.to_string(), value.to_string()));
    }
    if length > MAX_BODY {
        return Err(Bad::Answer(413, "the body is too large"));
    }
    if rest.len() > length {
        return Err(Bad::Answer(400, "one request per connection"));
    }
    if expect_continue && length > rest.len() {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| Bad::Gone)?;
    }
    let mut filled = rest.len();
    rest.resize(length, 0);
    while filled < length {
        arm(stream, deadline)?;
        match reader.read(&mut rest[filled..]) {
            Ok(0) | Err(_) => return Err(Bad::Gone),
            Ok(n) => filled += n,
        }
    }
    req.body = rest;
    Ok(req)
}

/// Sets the socket's read timeout to what is left until `deadline`.
fn arm(stream: &TcpStream, deadline: Instant) -> std::result::Result<(), Bad> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Bad::Gone);
    }
    stream.set_read_timeout(Some(left)).map_err(|_| Bad::Gone)
}

fn write_response(mut stream: &TcpStream, resp: HubResponse) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        reason_phrase(resp.status),
        resp.body.len()
    );
    for (name, value) in &resp.headers {
        if !name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&resp.body)?;
    stream.flush()
}

fn error(status: u16, message: &str) -> HubResponse {
    HubResponse {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: json!({
            "errcode": status,
            "message": message,
            "reason": "invalid_request",
            "http_status": status,
        })
        .to_string()
        .into_bytes(),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(feature = "hub")]
impl fmt::Debug for HubServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Sends raw bytes to a server answering every good request with the
    /// request's method and path, and returns the status line.
    fn exchange(raw: &[u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        let handle = |req: &HubRequest| HubResponse {
            status: 200,
            headers: Vec::new(),
            body: format!("{} {} {}", req.method, req.path, req.body.len()).into_bytes(),
        };
        std::thread::scope(|s| {
            s.spawn(|| serve(&listener, addr, 4, &stop, &handle, false));
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            // ok because the server may close early on a bad request
            let _ = stream.write_all(raw);
            let _ = stream.shutdown(Shutdown::Write);
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            stop.store(true, Ordering::SeqCst);
            answer
        })
    }

    fn status(answer: &str) -> &str {
        answer.lines().next().unwrap_or("")
    }

    #[test]
    fn serves_a_request_with_a_body() {
        let answer = exchange(
            b"POST /refresh/access_token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert_eq!(status(&answer), "HTTP/1.1 200 OK");
        assert!(answer.ends_with("POST /refresh/access_token 5"), "{answer}");
    }

    #[test]
    fn refuses_bad_requests_with_a_status() {
        assert_eq!(
            status(&exchange(b"NOT HTTP AT ALL\r\n\r\n")),
            "HTTP/1.1 400 Bad Request"
        );
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(status(&exchange(chunked)), "HTTP/1.1 411 Length Required");
        let huge = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            status(&exchange(huge.as_bytes())),
            "HTTP/1.1 413 Payload Too Large"
        );
        let long_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD + 10));
        assert_eq!(
            status(&exchange(long_head.as_bytes())),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        let bad_length = b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n";
        assert_eq!(status(&exchange(bad_length)), "HTTP/1.1 400 Bad Request");
    }
}
