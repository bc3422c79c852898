//! `Balancer`: a round-robin HTTP load balancer on 127.0.0.1 in front of
//! hub replicas, for tests that kill and restart them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use super::server::{HttpServer, Req, Resp};
use crate::http::with_query;

/// Headers that belong to one hop and are not forwarded.
const HOP: [&str; 6] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "expect",
];

/// The largest answer forwarded: hub answers are under 1 KiB.
const MAX_ANSWER: u64 = 64 * 1024;

struct Shared {
    backends: Mutex<Vec<String>>,
    next: AtomicUsize,
    timeout: Mutex<Duration>,
    /// Empty, or the path prefix requests must carry and lose on the way.
    prefix: Mutex<String>,
    forwarded: AtomicUsize,
    retried: AtomicUsize,
    failed: AtomicUsize,
}

/// A round-robin load balancer on an ephemeral port of 127.0.0.1, the way
/// nginx runs one with `proxy_next_upstream error timeout non_idempotent`:
/// each request goes to the next backend in order; when a backend refuses
/// the connection, times out or dies before a complete answer, the same
/// request goes to the next one (POSTs included: the hub's refresh is a
/// compare-and-swap, safe to send twice), at most once per backend. When
/// every try fails it answers 502 with a hub error body
/// (`reason` `"bad_gateway"`). Any complete answer, whatever its status, is
/// passed back as it is.
///
/// It reads each whole request on the fakes' HTTP loop and answers with
/// `Connection: close`. Backends can be replaced while it runs (a restarted
/// hub listens on a new port): see [`set_backend`](Balancer::set_backend).
///
/// # Example
///
/// ```
/// use weixin::testing::{refused_url, Balancer, StubServer};
///
/// let up = StubServer::start(200, "application/json", r#"{"status":"ok"}"#)?;
/// let lb = Balancer::start(vec![refused_url()?, up.url()])?;
/// for _ in 0..4 {
///     let mut resp = ureq::get(&format!("{}/healthz", lb.url())).call()?;
///     assert_eq!(resp.body_mut().read_to_string()?, r#"{"status":"ok"}"#);
/// }
/// assert_eq!(up.requests(), 4, "the dead backend's turns went to the live one");
/// assert_eq!(lb.retried(), 2);
///
/// lb.set_backend(1, refused_url()?);
/// let err = ureq::get(&format!("{}/healthz", lb.url())).call().unwrap_err();
/// assert!(matches!(err, ureq::Error::StatusCode(502)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Balancer {
    shared: Arc<Shared>,
    server: HttpServer,
}

impl Balancer {
    /// Starts balancing over `backends` (`http://host:port` each).
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start(backends: Vec<String>) -> std::io::Result<Balancer> {
        let shared = Arc::new(Shared {
            backends: Mutex::new(backends),
            next: AtomicUsize::new(0),
            timeout: Mutex::new(Duration::from_secs(5)),
            prefix: Mutex::new(String::new()),
            forwarded: AtomicUsize::new(0),
            retried: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        });
        let handler = shared.clone();
        let server = HttpServer::start(64, Arc::new(move |req: &Req| forward(&handler, req)))?;
        Ok(Balancer { shared, server })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Every request it received, oldest first (the latest 10,000), before
    /// forwarding.
    pub fn received(&self) -> Vec<super::Received> {
        self.server.recorder().all()
    }

    /// Replaces backend `index` with `url` (requests already sent to the
    /// old one finish there).
    ///
    /// # Panics
    ///
    /// If there is no backend `index`.
    pub fn set_backend(&self, index: usize, url: impl Into<String>) {
        self.shared.backends.lock()[index] = url.into();
    }

    /// The backends, in order.
    pub fn backends(&self) -> Vec<String> {
        self.shared.backends.lock().clone()
    }

    /// The time one backend has to answer a request completely before the
    /// request goes to the next one.
    ///
    /// Defaults to 5 seconds.
    pub fn set_timeout(&self, timeout: Duration) {
        *self.shared.timeout.lock() = timeout;
    }

    /// Serves under `prefix` (`/wechat`), as a reverse proxy configured
    /// with nginx's `location /wechat/ { proxy_pass http://backend/; }`:
    /// a request under it is forwarded without it (`/wechat/cgi-bin/token`
    /// reaches the backend as `/cgi-bin/token`), any other is answered 404
    /// and not forwarded. [`received`](Balancer::received) shows the paths
    /// as they arrived, prefix included.
    ///
    /// Defaults to no prefix: every path is forwarded as it is.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{Balancer, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let proxy = Balancer::start(vec![fake.url()])?;
    /// proxy.set_path_prefix("/wechat");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(format!("{}/wechat", proxy.url()))
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// client.request("/cgi-bin/get_api_domain_ip")?;
    /// assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 1);
    /// assert_eq!(proxy.received()[0].path, "/wechat/cgi-bin/token");
    /// let outside = ureq::get(&format!("{}/cgi-bin/token", proxy.url())).call();
    /// assert!(matches!(outside, Err(ureq::Error::StatusCode(404))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_path_prefix(&self, prefix: &str) {
        *self.shared.prefix.lock() = prefix.trim_end_matches('/').to_string();
    }

    /// How many requests got a complete answer from a backend.
    pub fn forwarded(&self) -> usize {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// How many times a request went to another backend after one failed.
    pub fn retried(&self) -> usize {
        self.shared.retried.load(Ordering::SeqCst)
    }

    /// How many requests were answered 502 because every try failed.
    pub fn failed(&self) -> usize {
        self.shared.failed.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("addr", &self.server.addr())
            .field("backends", &self.backends())
            .finish_non_exhaustive()
    }
}

fn forward(shared: &Shared, req: &Req) -> Resp {
    let prefix = shared.prefix.lock().clone();
    let path = match req.path.strip_prefix(prefix.as_str()) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => {
            return Resp::new(
                404,
                "text/plain",
                format!("not found: this proxy serves under {prefix}/").into_bytes(),
            )
        }
    };
    let backends = shared.backends.lock().clone();
    let timeout = *shared.timeout.lock();
    let first = shared.next.fetch_add(1, Ordering::SeqCst);
    let mut last_error = String::from("no backend");
    for attempt in 0..backends.len() {
        if attempt > 0 {
            shared.retried.fetch_add(1, Ordering::SeqCst);
        }
        let backend = &backends[(first + attempt) % backends.len()];
        match send(backend, path, req, timeout) {
            Ok(resp) => {
                shared.forwarded.fetch_add(1, Ordering::SeqCst);
                return resp;
            }
            // Only the kind of failure: ureq's text may hold the query.
            Err(e) => last_error = format!("{backend}: {}", failure(&e)),
        }
    }
    shared.failed.fetch_add(1, Ordering::SeqCst);
    Resp::json(
        502,
        &json!({
            "errcode": 502,
            "message": format!("every backend failed; last: {last_error}"),
            "reason": "bad_gateway",
            "http_status": 502,
        }),
    )
}

/// Sends `req` to `backend`'s `path` and reads the whole answer, within
/// `timeout`.
fn send(backend: &str, path: &str, req: &Req, timeout: Duration) -> Result<Resp, ureq::Error> {
    let query = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let url = with_query(&format!("{backend}{path}"), query);
    let mut builder = ureq::http::Request::builder()
        .method(req.method.as_str())
        .uri(url);
    for (name, value) in &req.headers {
        if !HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let request = builder.body(req.body.clone())?;
    // A fresh agent per try: no pooled connection to a killed backend.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .build()
        .into();
    let mut answer = agent.run(request)?;
    let status = answer.status().as_u16();
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_else(|| "application/json".into());
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()?;
    Ok(Resp::new(status, &content_type, body))
}

fn failure(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timed out",
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => "could not connect",
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "could not connect"
        }
        ureq::Error::Io(_) => "connection failed before a complete answer",
        _ => "transport failed",
    }
}
