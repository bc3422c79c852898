//! The fakes' own HTTP/1.1 loop on `std::net`: a thread per connection,
//! one request per connection (answers carry `Connection: close`), request
//! heads parsed by `httparse`. The fakes face only tests, so this stays
//! small and free of any async runtime; the hub itself runs on hyper.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::hub::{HubError, HubRequest, HubResponse, MAX_BODY};

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` (bound to `addr`) until `stop`, each
/// served on its own thread, at most `workers` at once.
pub(crate) fn serve(
    listener: &TcpListener,
    addr: SocketAddr,
    workers: usize,
    stop: &AtomicBool,
    handle: &(dyn Fn(&HubRequest) -> HubResponse + Sync),
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
                serve_connection(stream, handle);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
        finished.store(true, Ordering::SeqCst);
    });
}

fn serve_connection(stream: TcpStream, handle: &(dyn Fn(&HubRequest) -> HubResponse + Sync)) {
    // ok because a socket that refuses options is served without them
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let (resp, unread) = match read_request(&mut reader, &stream) {
        Ok(req) => (handle(&req), false),
        Err(Bad::Gone) => return,
        Err(Bad::Answer(status, message)) => (error(status, message), true),
    };
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
    HubError::new(status, "invalid_request", message).into_response(false)
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
        let handle = |req: &HubRequest| {
            let body = format!("{} {} {}", req.method, req.path, req.body.len());
            HubResponse::new(200, "text/plain", body)
        };
        std::thread::scope(|s| {
            s.spawn(|| serve(&listener, addr, 4, &stop, &handle));
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
