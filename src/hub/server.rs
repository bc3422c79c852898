//! `HubServer`: a [`HubHandler`] served over HTTP with tiny_http.

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::handler::{HubHandler, HubRequest, HubResponse, MAX_BODY};
use crate::error::{Error, Result};

/// A blocking HTTP server for a [`HubHandler`]: a pool of worker threads
/// on one listening socket, each request logged to stderr as
/// `METHOD /path STATUS LATENCY` (never a query, a header or a body: they
/// carry tokens and secrets).
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
    server: tiny_http::Server,
    addr: SocketAddr,
    handler: HubHandler,
    workers: usize,
    log: bool,
}

impl HubServer {
    /// Listens on `addr` (`host:port`; port 0 picks a free one).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `addr`
    /// cannot be bound.
    pub fn bind(addr: &str, handler: HubHandler) -> Result<HubServer> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| Error::config(format!("cannot listen on {addr}: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::config(format!("{addr} is not an ip address")))?;
        Ok(HubServer {
            server,
            addr,
            handler,
            workers: 16,
            log: true,
        })
    }

    /// How many requests are served at once. A request that waits for
    /// WeChat or for another hub's refresh holds its worker meanwhile.
    ///
    /// Defaults to 16.
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
    /// progress finish and returns (within about 100 ms when idle).
    pub fn run(&self, stop: &AtomicBool) {
        std::thread::scope(|s| {
            for _ in 0..self.workers {
                s.spawn(|| {
                    while !stop.load(Ordering::SeqCst) {
                        match self.server.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(request)) => self.serve(request),
                            Ok(None) => {}
                            Err(e) => {
                                eprintln!("wechat-hub: accept failed: {e}");
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                });
            }
        });
    }

    fn serve(&self, mut request: tiny_http::Request) {
        let started = Instant::now();
        let mut body = Vec::new();
        let read = request
            .as_reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body);
        let url = request.url().to_string();
        let mut req = HubRequest::new(request.method().as_str(), &url);
        req.headers = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        let resp = if read.is_err() || body.len() > MAX_BODY {
            too_large()
        } else {
            req.body = body;
            self.handler.handle(&req)
        };
        let status = resp.status;
        let mut out = tiny_http::Response::from_data(resp.body).with_status_code(status);
        for (name, value) in resp.headers {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                out = out.with_header(h);
            }
        }
        // ok because a client that went away needs no answer
        let _ = request.respond(out);
        if self.log {
            eprintln!(
                "{} {} {} {:.1}ms",
                req.method,
                req.path,
                status,
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

fn too_large() -> HubResponse {
    HubResponse {
        status: 413,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::json!({
            "errcode": 413,
            "message": format!("the body is larger than {MAX_BODY} bytes"),
            "reason": "invalid_request",
            "http_status": 413,
        })
        .to_string()
        .into_bytes(),
    }
}

impl fmt::Debug for HubServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}
