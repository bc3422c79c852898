//! `HubServer`'s HTTP over real loopback sockets, byte for byte: keep-alive
//! and `HubSource` reusing its connection, slow clients that must not stop
//! anyone else, requests hyper must refuse (conflicting lengths, oversized
//! heads and bodies, garbage, a TLS ClientHello) with the hub still serving
//! afterwards, pipelining, HEAD and unknown methods, the connection cap,
//! the deadlines, `/metrics` and a graceful stop.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use weixin::hub::{HubHandler, HubServer};
use weixin::testing::FakeWechat;
use weixin::{Context, HubSource, Token, TokenKey, TokenSource};

use crate::common::process::wait_until;
use crate::common::{self, APPID, SECRET};

/// A `HubServer` run on a thread of its own; stopped and joined on drop.
pub(crate) struct Served {
    addr: SocketAddr,
    server: Arc<HubServer>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Served {
    pub(crate) fn start(server: HubServer) -> Served {
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, running) = (stop.clone(), server.clone());
        let thread = std::thread::spawn(move || running.run(&flag));
        Served {
            addr: server.addr(),
            server,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.server.scheme(), self.server.addr())
    }

    /// The server, running: to reload its certificate.
    pub(crate) fn server(&self) -> &HubServer {
        &self.server
    }

    /// Sets the stop flag and waits for `run` to return.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("run returns");
        }
    }

    /// The metrics text, read on a connection of its own.
    fn metrics(&self) -> String {
        let mut conn = Conn::open(self.addr);
        conn.send(METRICS);
        let answer = conn.answer().expect("metrics answered");
        assert_eq!(answer.status, 200);
        answer.text()
    }

    /// One series' value, read on a connection of its own.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        value(&self.metrics(), series)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The value of `series` (name and labels) in a metrics text; 0 if absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

pub(crate) fn handler(fake: &FakeWechat) -> HubHandler {
    HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .build()
        .expect("handler")
}

fn server(fake: &FakeWechat) -> HubServer {
    HubServer::bind("127.0.0.1:0", handler(fake))
        .expect("bind")
        .log_requests(false)
}

/// A fake WeChat and a hub with every default over it.
fn started() -> (FakeWechat, Served) {
    let fake = common::fake();
    let hub = Served::start(server(&fake));
    (fake, hub)
}

/// An answer read off the wire.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection speaking raw HTTP/1.1.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        // A hang guard, not a timing assertion.
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send");
    }

    /// Reads more bytes; false at the end of the stream (or a reset).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                panic!("no answer within 10 s")
            }
            Err(_) => false,
        }
    }

    /// The next answer, or `None` if the hub closed the connection first.
    fn answer(&mut self) -> Option<Answer> {
        self.answer_to(false)
    }

    /// The next answer to a HEAD request: a head with no body.
    fn answer_to_head(&mut self) -> Option<Answer> {
        self.answer_to(true)
    }

    fn answer_to(&mut self, head_only: bool) -> Option<Answer> {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).expect("ASCII head");
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let length = if head_only { 0 } else { length };
        while self.buf.len() < length {
            assert!(self.fill(), "connection closed inside a body");
        }
        let body = self.buf.drain(..length).collect();
        Some(Answer {
            status,
            headers,
            body,
        })
    }

    /// Waits (bounded by the read timeout) for the hub to close.
    fn expect_close(&mut self) {
        while self.fill() {}
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n";
const METRICS: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: hub\r\n\r\n";

fn token_request() -> Vec<u8> {
    format!("GET /client/access_token?appid={APPID} HTTP/1.1\r\nHost: hub\r\n\r\n").into_bytes()
}

/// A refresh of `stale`, with `headers` (whole lines) added.
fn refresh_request(stale: &str, headers: &str) -> Vec<u8> {
    let body = format!(r#"{{"appid":"{APPID}","access_token":"{stale}"}}"#);
    format!(
        "POST /refresh/access_token HTTP/1.1\r\nHost: hub\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The hub answers a token read on a new connection.
fn still_serving(addr: SocketAddr) {
    let mut conn = Conn::open(addr);
    conn.send(&token_request());
    let answer = conn.answer().expect("answered");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("\"access_token\":\"TOKEN_"));
}

#[test]
fn a_hundred_requests_ride_one_connection() {
    let (fake, hub) = started();
    let mut conn = Conn::open(hub.addr);
    for _ in 0..100 {
        conn.send(&token_request());
        let answer = conn.answer().expect("kept alive");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection"), None, "not closing");
    }
    conn.send(METRICS);
    let metrics = conn.answer().unwrap().text();
    assert!(
        metrics.contains("\nwechat_hub_connections_accepted_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "\nwechat_hub_requests_total{endpoint=\"/client/access_token\",status=\"200\"} 100\n"
        ),
        "{metrics}"
    );
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

#[test]
fn hub_source_reuses_its_connection() {
    let (fake, hub) = started();
    let client = common::builder(&fake)
        .token_source(HubSource::new(hub.url()).unwrap())
        .build()
        .unwrap();
    let key = TokenKey::access_token(APPID);
    for _ in 0..10 {
        client.forget_token(&key);
        client.token(&key).unwrap();
    }
    let metrics = hub.metrics();
    let reads = "wechat_hub_requests_total{endpoint=\"/client/access_token\",status=\"200\"}";
    assert_eq!(value(&metrics, reads), 10.0);
    // The client's one connection and the one that reads the metrics.
    assert_eq!(
        value(&metrics, "wechat_hub_connections_accepted_total"),
        2.0
    );
}

#[test]
fn two_hundred_slow_clients_do_not_delay_token_reads() {
    let fake = common::fake();
    // Slow heads are not cut off during this test.
    let hub = Served::start(server(&fake).header_read_timeout(Duration::from_secs(120)));
    still_serving(hub.addr); // the token is cached from here on
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(hub.addr).unwrap();
            s.write_all(b"GET /client/access_token?appid=").unwrap();
            s
        })
        .collect();
    wait_until("200 slow connections open", || {
        // The 200 and the connection that reads the metrics.
        hub.metric("wechat_hub_open_connections") > 200.0
    });
    for _ in 0..20 {
        // One more byte from every slow client between the reads.
        for s in &mut slow {
            s.write_all(b"x").unwrap();
        }
        let started = Instant::now();
        still_serving(hub.addr);
        // A wide bound that never flakes: the old loop took 3 to 23 s here.
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[test]
fn malformed_requests_get_their_status_and_the_hub_keeps_serving() {
    let (fake, hub) = started();
    let exchange = |raw: &[u8]| {
        let mut conn = Conn::open(hub.addr);
        // ok because the hub may close before reading everything
        let _ = conn.stream.write_all(raw);
        let answer = conn.answer().map(|a| a.status);
        conn.expect_close();
        answer
    };
    let conflicting = b"POST /refresh/access_token HTTP/1.1\r\nHost: hub\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!";
    assert_eq!(exchange(conflicting), Some(400));
    let long_head = format!(
        "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert_eq!(exchange(long_head.as_bytes()), Some(431));
    let many_headers: String = (0..120).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: hub\r\n{many_headers}\r\n");
    assert_eq!(exchange(many.as_bytes()), Some(431));
    // The body is refused from its declared length, before it is sent.
    let big_body =
        b"POST /refresh/access_token HTTP/1.1\r\nHost: hub\r\nContent-Length: 65537\r\n\r\n";
    let mut conn = Conn::open(hub.addr);
    conn.send(big_body);
    let answer = conn.answer().unwrap();
    assert_eq!(
        (answer.status, answer.header("connection")),
        (413, Some("close"))
    );
    assert_eq!(exchange(b"\x00\x01\x02garbage\xff\xfe\r\n\r\n"), Some(400));
    assert_eq!(exchange(b"NOT HTTP AT ALL\r\n\r\n"), Some(400));
    // The start of a TLS 1.2 ClientHello: not HTTP, answered 400 or closed.
    let hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x5b\x90\x9d\x9b\x72\x0b\xbc\x0c\xbc\x2b\x92\xa8\x48\x97\xcf\xbd\x39\x04\xcc\x16\x0a\x85\x03\x90\x9f\x77\x04\x33\xd4\xde\x00\x00\x20\xcc\xa8\xcc\xa9\xc0\x2f\xc0\x30";
    assert!(matches!(exchange(hello), Some(400) | None));
    still_serving(hub.addr);
    assert_eq!(fake.count("/cgi-bin/token"), 1, "only the read above");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_fake, hub) = started();
    let mut conn = Conn::open(hub.addr);
    let mut burst = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n".to_vec();
    burst.extend(token_request());
    burst.extend(refresh_request("STALE", ""));
    burst.extend(b"GET /nope HTTP/1.1\r\nHost: hub\r\n\r\n");
    conn.send(&burst);
    let first = conn.answer().unwrap();
    assert_eq!(
        (first.status, first.text()),
        (200, r#"{"status":"ok"}"#.to_string())
    );
    let token = conn.answer().unwrap();
    assert_eq!(token.status, 200);
    assert!(token.text().starts_with(r#"{"access_token":"TOKEN_"#));
    let refreshed = conn.answer().unwrap();
    assert_eq!(refreshed.status, 200);
    assert!(refreshed.text().contains("\"access_token\":\"TOKEN_"));
    assert_eq!(conn.answer().unwrap().status, 404);
}

#[test]
fn a_client_that_shuts_down_its_side_gets_its_answer() {
    let (_fake, hub) = started();
    let mut conn = Conn::open(hub.addr);
    conn.send(&token_request());
    conn.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(conn.answer().unwrap().status, 200);
    conn.expect_close();
}

#[test]
fn head_and_unknown_methods() {
    let (fake, hub) = started();
    let mut conn = Conn::open(hub.addr);
    // HEAD: GET's head, no body; the next answer on the connection follows.
    conn.send(
        b"HEAD /healthz HTTP/1.1\r\nHost: hub\r\n\r\nGET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n",
    );
    let head = conn.answer_to_head().unwrap();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("15"))
    );
    assert_eq!(conn.answer().unwrap().text(), r#"{"status":"ok"}"#);
    for (method, path, status, allow) in [
        ("BREW", "/healthz", 405, Some("GET, HEAD")),
        ("PUT", "/client/access_token", 405, Some("GET, HEAD")),
        ("GET", "/refresh/access_token", 405, Some("POST")),
        ("DELETE", "/metrics", 405, Some("GET, HEAD")),
        ("DELETE", "/nope", 404, None),
    ] {
        conn.send(
            format!("{method} {path} HTTP/1.1\r\nHost: hub\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        let answer = conn.answer().unwrap();
        assert_eq!(
            (answer.status, answer.header("allow")),
            (status, allow),
            "{method} {path}"
        );
    }
    assert_eq!(fake.count("/cgi-bin/token"), 0);
}

#[test]
fn a_chunked_body_is_read() {
    let (_fake, hub) = started();
    let body = format!(r#"{{"appid":"{APPID}","access_token":"STALE"}}"#);
    let (a, b) = body.split_at(10);
    let mut conn = Conn::open(hub.addr);
    conn.send(
        format!(
            "POST /refresh/access_token HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
    let answer = conn.answer().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[test]
fn past_max_connections_new_ones_are_refused_at_once() {
    let fake = common::fake();
    let hub = Served::start(server(&fake).max_connections(3));
    let mut held: Vec<Conn> = (0..3).map(|_| Conn::open(hub.addr)).collect();
    for conn in &mut held {
        conn.send(HEALTHZ);
        assert_eq!(conn.answer().unwrap().status, 200);
    }
    let mut refused = Conn::open(hub.addr);
    let answer = refused.answer();
    // 503 when the client reads before the close arrives, else a close.
    assert!(matches!(
        answer.as_ref().map(|a| a.status),
        Some(503) | None
    ));
    drop(held.pop());
    // Once the hub has seen that close, a new connection is served again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let mut conn = Conn::open(hub.addr);
        conn.send(METRICS);
        match conn.answer() {
            Some(answer) if answer.status == 200 => break answer.text(),
            _ => assert!(Instant::now() < deadline, "no slot freed up"),
        }
    };
    assert!(value(&metrics, "wechat_hub_connections_refused_total") >= 1.0);
    assert_eq!(value(&metrics, "wechat_hub_open_connections"), 3.0);
}

#[test]
fn deadlines_close_slow_heads_idle_connections_and_late_bodies() {
    let fake = common::fake();
    let hub = Served::start(
        server(&fake)
            .header_read_timeout(Duration::from_millis(200))
            .idle_timeout(Duration::from_millis(300))
            .body_timeout(Duration::from_millis(200)),
    );
    // Bounds below are hang guards (10 s reads), not timing assertions.
    let mut slow_head = Conn::open(hub.addr);
    slow_head.send(b"GET /healthz HTTP/1.1\r\nHost:");
    assert!(slow_head.answer().is_none(), "closed without an answer");

    let mut silent = Conn::open(hub.addr);
    assert!(silent.answer().is_none(), "a new connection must speak");

    let mut idle = Conn::open(hub.addr);
    idle.send(HEALTHZ);
    assert_eq!(idle.answer().unwrap().status, 200);
    assert!(idle.answer().is_none(), "closed once idle");

    let mut late_body = Conn::open(hub.addr);
    late_body.send(
        b"POST /refresh/access_token HTTP/1.1\r\nHost: hub\r\nContent-Length: 10\r\n\r\n{\"a",
    );
    let answer = late_body.answer().unwrap();
    assert_eq!(
        (answer.status, answer.header("connection")),
        (408, Some("close"))
    );
    still_serving(hub.addr);
}

#[test]
fn metrics_are_behind_the_bearer_and_count_what_happened() {
    let fake = common::fake();
    let handler = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .bearer("metrics-bearer")
        .build()
        .unwrap();
    let hub = Served::start(
        HubServer::bind("127.0.0.1:0", handler)
            .unwrap()
            .log_requests(false),
    );
    let mut conn = Conn::open(hub.addr);
    conn.send(METRICS);
    let denied = conn.answer().unwrap();
    assert_eq!(
        (denied.status, denied.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    conn.send(HEALTHZ);
    assert_eq!(conn.answer().unwrap().status, 200, "no bearer for health");

    let client = common::builder(&fake)
        .token_source(HubSource::new(hub.url()).unwrap().bearer("metrics-bearer"))
        .build()
        .unwrap();
    let token = client.token(&TokenKey::access_token(APPID)).unwrap();
    client.jsapi_ticket().unwrap();
    // A stale token the hub does not hold: the current one, no WeChat call.
    let auth = "Authorization: Bearer metrics-bearer\r\n";
    conn.send(&refresh_request("STALE_NOT_CURRENT", auth));
    let again = conn.answer().unwrap();
    assert!(again.text().contains(token.expose()), "{}", again.text());

    conn.send(format!("GET /metrics HTTP/1.1\r\nHost: hub\r\n{auth}\r\n").as_bytes());
    let answer = conn.answer().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = answer.text();
    for line in [
        "wechat_hub_upstream_calls_total{kind=\"token\",result=\"ok\"} 1",
        "wechat_hub_upstream_calls_total{kind=\"ticket\",result=\"ok\"} 1",
        "wechat_hub_upstream_calls_total{kind=\"token\",result=\"error\"} 0",
        "wechat_hub_refreshes_without_upstream_total 1",
        "wechat_hub_store_errors_total 0",
        "wechat_hub_open_connections 2",
        "wechat_hub_requests_total{endpoint=\"/metrics\",status=\"401\"} 1",
        "wechat_hub_requests_total{endpoint=\"/client/ticket\",status=\"200\"} 1",
        "wechat_hub_request_duration_seconds_count{endpoint=\"/client/access_token\"} 1",
        "wechat_hub_requests_total{endpoint=\"/refresh/access_token\",status=\"200\"} 1",
        "# TYPE wechat_hub_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    // Labels come from fixed sets: no token, no query; an appid only as
    // one of the configured accounts, in today's upstream calls and in
    // its used-up quotas (read from the store, each kind it calls).
    for secret in [token.expose(), "STALE_NOT_CURRENT", "metrics-bearer"] {
        assert!(!text.contains(secret), "{secret} in metrics");
    }
    let appid_lines: Vec<&str> = text.lines().filter(|l| l.contains(APPID)).collect();
    assert_eq!(
        appid_lines,
        [
            format!("wechat_hub_upstream_calls_today{{kind=\"ticket\",appid=\"{APPID}\"}} 1"),
            format!("wechat_hub_upstream_calls_today{{kind=\"token\",appid=\"{APPID}\"}} 1"),
            format!("wechat_hub_quota_exhausted{{kind=\"token\",appid=\"{APPID}\"}} 0"),
            format!("wechat_hub_quota_exhausted{{kind=\"ticket\",appid=\"{APPID}\"}} 0"),
        ]
    );
}

#[cfg(feature = "redis")]
#[test]
fn store_errors_are_counted() {
    let fake = common::fake();
    let dead = weixin::testing::refused_url()
        .unwrap()
        .replace("http://", "redis://");
    let handler = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .store(weixin::store::RedisStore::open(&dead).unwrap())
        .build()
        .unwrap();
    let hub = Served::start(
        HubServer::bind("127.0.0.1:0", handler)
            .unwrap()
            .log_requests(false),
    );
    let mut conn = Conn::open(hub.addr);
    conn.send(&token_request());
    assert_eq!(conn.answer().unwrap().status, 503);
    assert!(hub.metric("wechat_hub_store_errors_total") >= 1.0);
    assert_eq!(fake.count("/cgi-bin/token"), 0, "never without the lock");
}

/// A token source that waits at a gate, so that a request stays in
/// flight for as long as the test needs.
#[derive(Debug)]
struct Gated {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl TokenSource for Gated {
    fn fetch(&self, _: &TokenKey, _: &Context<'_>) -> weixin::Result<Token> {
        self.entered.lock().unwrap().send(()).unwrap();
        // A hang guard: the test releases it long before.
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        Ok(Token::new("GATED", 7200))
    }
}

#[test]
fn a_stop_finishes_the_request_in_flight_and_takes_no_new_one() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let handler = HubHandler::builder()
        .source(Gated {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        })
        .build()
        .unwrap();
    let mut hub = Served::start(
        HubServer::bind("127.0.0.1:0", handler)
            .unwrap()
            .log_requests(false)
            .shutdown_timeout(Duration::from_secs(30)),
    );
    let addr = hub.addr;
    let in_flight = std::thread::spawn(move || {
        let mut conn = Conn::open(addr);
        conn.send(&token_request());
        conn.answer().map(|a| (a.status, a.text()))
    });
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    hub.stop.store(true, Ordering::SeqCst);
    wait_until("new connections refused", || {
        TcpStream::connect(addr).is_err()
    });
    release.send(()).unwrap();
    let (status, body) = in_flight.join().unwrap().expect("answered");
    assert_eq!(status, 200);
    assert!(body.contains("\"access_token\":\"GATED\""), "{body}");
    hub.stop();
}
