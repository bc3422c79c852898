//! `HubServer`: a [`HubHandler`] served over HTTP/1.1 by hyper on a small
//! tokio runtime of its own.
//!
//! - `mod.rs`: the server's settings, the accept loop with its connection
//!   cap, and the graceful stop.
//! - `connection.rs`: one connection, with its head and idle deadlines.
//! - `respond.rs`: one request, handed to the handler on a bounded
//!   blocking pool.
//! - `metrics.rs`: `GET /metrics`.
//! - `tls.rs`: HTTPS, its certificate reloaded in place.

mod connection;
mod metrics;
mod respond;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use super::handler::HubHandler;
use crate::error::{Error, Result};
use metrics::Metrics;
use tls::Tls;

/// How often [`HubServer::run`] looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// A [`HubHandler`] served over HTTP/1.1 by hyper, on a small tokio
/// runtime of its own (one I/O thread per CPU, at most four).
///
/// - Connections are kept alive between requests, up to the
///   [`idle_timeout`](HubServer::idle_timeout); pipelined requests are
///   answered in order.
/// - A slow client costs a little memory, not service: a request head
///   must arrive within the
///   [`header_read_timeout`](HubServer::header_read_timeout) once it has
///   begun, a body within the [`body_timeout`](HubServer::body_timeout),
///   and past [`max_connections`](HubServer::max_connections) new
///   connections are answered 503 (over TLS: closed, a clear-text answer
///   would read as a broken handshake) and closed at once instead of
///   waiting.
/// - The handler runs on a blocking pool of at most
///   [`workers`](HubServer::workers) threads, and only for requests that
///   may wait for the store or WeChat; a client never holds a thread
///   while it sends or reads.
/// - Heads over 16 KiB get 431, bodies over 64 KiB 413, conflicting
///   `Content-Length` headers and malformed requests 400 (hyper's parser).
/// - `GET /metrics` answers the Prometheus text format, behind the bearer
///   secret like every endpoint but `/healthz`: requests by endpoint and
///   status, their latency, upstream calls by kind and result, refreshes
///   answered without an upstream call, store errors, open, accepted and
///   refused connections.
/// - Each request is logged to stderr as `METHOD /path STATUS LATENCY`
///   (never a query, a header or a body: they carry tokens and secrets).
/// - With [`tls`](HubServer::tls) it serves HTTPS only, its certificate
///   reloaded by [`reload_tls`](HubServer::reload_tls) without closing a
///   connection. Without it, listening on anything but loopback logs a
///   warning when it starts: tokens and the bearer secret would cross the
///   network in clear text.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use weixin::hub::{HubHandler, HubServer};
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
    /// Taken by [`run`](HubServer::run), which closes it when it stops.
    listener: Mutex<Option<std::net::TcpListener>>,
    addr: SocketAddr,
    handler: Arc<HubHandler>,
    settings: Settings,
    tls: Option<Arc<Tls>>,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What [`HubServer`]'s setters set; every default is here.
#[derive(Clone, Debug)]
struct Settings {
    workers: usize,
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    shutdown_timeout: Duration,
    log: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            workers: 64,
            // Ten thousand idle keep-alive connections fit (about 14 KiB
            // each, mostly hyper's read buffer); past that new ones are
            // refused rather than queued.
            max_connections: 16 * 1024,
            header_read_timeout: Duration::from_secs(5),
            // Longer than clients keep idle connections in their pools
            // (ureq: 15 s), so that a client rarely reuses one the hub is
            // closing.
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            log: true,
        }
    }
}

/// What every connection of a running server shares.
struct Shared {
    handler: Arc<HubHandler>,
    settings: Settings,
    /// HTTPS, if configured: every connection's handshake first.
    tls: Option<Arc<Tls>>,
    metrics: Metrics,
    /// Permits to run the handler on the blocking pool.
    workers: Arc<Semaphore>,
    /// The origin of connections' activity times.
    started: Instant,
}

impl HubServer {
    /// Listens on `addr` (`host:port`; port 0 picks a free one) and starts
    /// the runtime that will serve it.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `addr`
    /// cannot be bound or the runtime cannot start its threads.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::hub::{HubHandler, HubServer};
    ///
    /// let handler = || HubHandler::builder().account("wx1", "s1").build();
    /// let server = HubServer::bind("127.0.0.1:0", handler()?)?;
    /// assert_ne!(server.addr().port(), 0);
    /// let taken = server.addr().to_string();
    /// let err = HubServer::bind(&taken, handler()?).unwrap_err();
    /// assert!(err.to_string().contains("cannot listen on"), "{err}");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn bind(addr: &str, handler: HubHandler) -> Result<HubServer> {
        let cannot = |e: std::io::Error| Error::config(format!("cannot listen on {addr}: {e}"));
        let listener = std::net::TcpListener::bind(addr).map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        listener.set_nonblocking(true).map_err(cannot)?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("wechat-hub")
            .enable_all()
            .build()
            .map_err(|e| Error::config(format!("cannot start the hub's runtime: {e}")))?;
        Ok(HubServer {
            listener: Mutex::new(Some(listener)),
            addr,
            handler: Arc::new(handler),
            settings: Settings::default(),
            tls: None,
            runtime: Some(runtime),
        })
    }

    /// How many handler calls run at once, on a blocking pool: a request
    /// that waits for the store or WeChat holds one of them meanwhile.
    /// Requests beyond wait their turn; clients that are slow to send or
    /// read never hold one.
    ///
    /// Defaults to 64.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?.workers(8);
    /// assert!(format!("{server:?}").contains("workers: 8"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn workers(mut self, workers: usize) -> HubServer {
        self.settings.workers = workers.max(1);
        self
    }

    /// How many client connections may be open at once; a connection
    /// beyond is answered 503 and closed at once, never queued (over TLS,
    /// closed before the handshake).
    ///
    /// Defaults to 16,384 (mind the process's open-file limit).
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?.max_connections(100);
    /// assert!(format!("{server:?}").contains("max_connections: 100"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn max_connections(mut self, max: usize) -> HubServer {
        self.settings.max_connections = max.max(1);
        self
    }

    /// How long a request head may take to arrive once its first byte
    /// has (and a new connection to send its first byte); past it the
    /// connection is closed. Checked at least this often, so a slow head
    /// is cut off within twice this at worst.
    ///
    /// Defaults to 5 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?
    ///     .header_read_timeout(Duration::from_secs(2));
    /// assert!(format!("{server:?}").contains("header_read_timeout: 2s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn header_read_timeout(mut self, timeout: Duration) -> HubServer {
        self.settings.header_read_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// How long a kept-alive connection may wait for its next request
    /// before the hub closes it.
    ///
    /// Defaults to 60 seconds: longer than clients keep idle connections
    /// (ureq, and so [`HubSource`](crate::HubSource): 15 seconds).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?
    ///     .idle_timeout(Duration::from_secs(30));
    /// assert!(format!("{server:?}").contains("idle_timeout: 30s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> HubServer {
        self.settings.idle_timeout = timeout;
        self
    }

    /// How long a request body may take to arrive after its head; past it
    /// the answer is 408 and the connection is closed.
    ///
    /// Defaults to 10 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?
    ///     .body_timeout(Duration::from_secs(3));
    /// assert!(format!("{server:?}").contains("body_timeout: 3s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn body_timeout(mut self, timeout: Duration) -> HubServer {
        self.settings.body_timeout = timeout;
        self
    }

    /// How long [`run`](HubServer::run) waits, once stopped, for the
    /// requests in progress to be answered.
    ///
    /// Defaults to 10 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?
    ///     .shutdown_timeout(Duration::from_secs(1));
    /// assert!(format!("{server:?}").contains("shutdown_timeout: 1s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> HubServer {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// Logs one line per request to stderr.
    ///
    /// Defaults to `true`.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?.log_requests(false);
    /// assert!(format!("{server:?}").contains("log: false"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn log_requests(mut self, log: bool) -> HubServer {
        self.settings.log = log;
        self
    }

    /// Serves HTTPS only, with the certificate chain of `cert_file` (PEM:
    /// the server's certificate first, then its intermediates) and the
    /// private key of `key_file` (PEM: PKCS#8, PKCS#1 or SEC1), over
    /// rustls with its safe defaults (TLS 1.2 and 1.3). The files are read
    /// now and again by [`reload_tls`](HubServer::reload_tls); they are
    /// never printed.
    ///
    /// The handshake and the first request head together must arrive
    /// within the [`header_read_timeout`](HubServer::header_read_timeout)
    /// of the connection being accepted; a client that fails the handshake
    /// is disconnected.
    ///
    /// Defaults to plain HTTP.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the
    /// file if either cannot be read or holds no PEM certificate or
    /// private key, and naming both if the key is not the certificate's.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?;
    /// let err = server.tls("/nonexistent/hub.crt", "/nonexistent/hub.key").unwrap_err();
    /// assert!(
    ///     err.to_string().contains("cannot read certificate file /nonexistent/hub.crt"),
    ///     "{err}"
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn tls(
        mut self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<HubServer> {
        self.tls = Some(Arc::new(Tls::load(cert_file.as_ref(), key_file.as_ref())?));
        Ok(self)
    }

    /// Reads the [`tls`](HubServer::tls) files again and answers every
    /// handshake from now on with the certificate and key they hold now,
    /// while the server runs: the listener and open connections are kept.
    /// `wechat-hub` calls it on SIGHUP. Without TLS it does nothing.
    ///
    /// # Errors
    ///
    /// The [`tls`](HubServer::tls) errors. The certificate in use is then
    /// kept, and the error is also logged (`log::error!`) naming the file.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?;
    /// assert!(server.reload_tls().is_ok(), "plain HTTP: nothing to reload");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn reload_tls(&self) -> Result<()> {
        match &self.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// `https` with [`tls`](HubServer::tls), else `http`: the scheme of
    /// this hub's URL.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?;
    /// assert_eq!(server.scheme(), "http");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The address it listens on.
    ///
    /// # Example
    ///
    /// ```
    /// let handler = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let server = weixin::hub::HubServer::bind("127.0.0.1:0", handler)?;
    /// assert!(server.addr().ip().is_loopback());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` becomes true (looked at every 50 ms), then
    /// closes the listening socket, closes idle connections, lets the
    /// requests in progress be answered for at most the
    /// [`shutdown_timeout`](HubServer::shutdown_timeout), and returns.
    /// A server runs once: a second call returns at once.
    ///
    /// See the example on [`HubServer`].
    pub fn run(&self, stop: &AtomicBool) {
        let (Some(runtime), Some(listener)) = (&self.runtime, self.listener.lock().take()) else {
            return;
        };
        if tls::clear_text_risk(self.addr, self.tls.is_some()) {
            log::warn!(
                "wechat hub: serving plain http on {}, not loopback: tokens and the bearer secret travel in clear text to anyone on the network path; configure tls (tls_cert_file and tls_key_file, HubServer::tls)",
                self.addr
            );
        }
        let settings = self.settings.clone();
        let shared = Arc::new(Shared {
            handler: self.handler.clone(),
            tls: self.tls.clone(),
            metrics: Metrics::new(self.handler.clone()),
            workers: Arc::new(Semaphore::new(settings.workers)),
            started: Instant::now(),
            settings,
        });
        runtime.block_on(async {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("wechat-hub: cannot serve on {}: {e}", self.addr);
                    return;
                }
            };
            let (stop_tx, stop_rx) = watch::channel(false);
            // Every connection holds a sender; `recv` ends when all are gone.
            let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
            let stopped = async {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(STOP_POLL).await;
                }
            };
            tokio::select! {
                () = accept(listener, shared.clone(), stop_rx, done_tx) => {}
                () = stopped => {}
            }
            // The listener went with the accept loop: new connections are
            // refused by the system from now on.
            // ok because a send fails only when no connection listens
            let _ = stop_tx.send(true);
            let drained = done_rx.recv();
            // ok because past the bound the requests left are abandoned
            let _ = tokio::time::timeout(shared.settings.shutdown_timeout, drained).await;
        });
    }
}

/// Accepts connections forever, each served on a task of its own.
async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, usually: wait rather than spin.
                eprintln!("wechat-hub: accept failed: {e}");
                tokio::time::sleep(STOP_POLL).await;
                continue;
            }
        };
        let metrics = &shared.metrics;
        if metrics.open.get() >= shared.settings.max_connections as i64 {
            metrics.refused.inc();
            connection::refuse(stream, shared.tls.is_some());
            continue;
        }
        metrics.accepted.inc();
        let open = Open::new(shared.clone(), done.clone());
        tokio::spawn(connection::serve(open, stream, stop.clone()));
    }
}

/// An open connection, counted until dropped.
struct Open {
    shared: Arc<Shared>,
    _done: mpsc::Sender<()>,
}

impl Open {
    fn new(shared: Arc<Shared>, done: mpsc::Sender<()>) -> Open {
        shared.metrics.open.inc();
        Open {
            shared,
            _done: done,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.metrics.open.dec();
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Handler calls still running after `run` gave up on them
            // finish on their own threads; dropping must not wait for them.
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for HubServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubServer")
            .field("addr", &self.addr)
            .field("workers", &self.settings.workers)
            .field("max_connections", &self.settings.max_connections)
            .field("header_read_timeout", &self.settings.header_read_timeout)
            .field("idle_timeout", &self.settings.idle_timeout)
            .field("body_timeout", &self.settings.body_timeout)
            .field("shutdown_timeout", &self.settings.shutdown_timeout)
            .field("log", &self.settings.log)
            .field("tls", &self.tls.as_ref().map(|tls| tls.cert_file()))
            .finish_non_exhaustive()
    }
}
