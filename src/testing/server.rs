//! A small threaded HTTP server on 127.0.0.1 that the fakes are built on
//! (the loop itself is in `http1.rs`), plus the stub and silent servers
//! used to test failure handling.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::record::{Received, Recorder};

use crate::hub::{HubRequest, HubResponse};

/// A request as the fakes see it: the hub's plain request type.
pub(crate) type Req = HubRequest;

/// An answer from a fake: the hub's plain response type.
pub(crate) type Resp = HubResponse;

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A running server; stops and joins its thread when dropped.
///
/// It runs on the fakes' own HTTP/1.1 loop (one request per connection),
/// not on tiny_http, whose task pool can leave a new connection queued
/// behind idle keep-alive ones when many clients connect at once.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Starts serving with `handler`, at least `workers` connections at once,
    /// recording every request before it is handled.
    pub fn start(workers: usize, handler: Handler) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let recorder = Arc::new(Recorder::default());
        let record = recorder.clone();
        let thread = std::thread::spawn(move || {
            let handle = |req: &HubRequest| {
                record.record(req);
                handler(req)
            };
            super::http1::serve(&listener, addr, workers.max(64), &flag, &handle);
        });
        Ok(HttpServer {
            addr,
            recorder,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // ok because a server thread that panicked has nothing left to clean up
            let _ = thread.join();
        }
    }
}

/// A server that answers every request with the same status, content type
/// and body, and counts requests. For testing how clients handle answers.
///
/// # Example
///
/// ```
/// let stub = weixin::testing::StubServer::start(500, "text/html", "<html>oops</html>")?;
/// assert!(stub.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(stub.requests(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StubServer {
    server: HttpServer,
    count: Arc<AtomicUsize>,
}

impl StubServer {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// If the port cannot be bound.
    pub fn start(
        status: u16,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> std::io::Result<StubServer> {
        let count = Arc::new(AtomicUsize::new(0));
        let (content_type, body): (String, Vec<u8>) = (content_type.to_string(), body.into());
        let c = count.clone();
        let server = HttpServer::start(
            2,
            Arc::new(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                Resp::new(status, &content_type, body.clone())
            }),
        )?;
        Ok(StubServer { server, count })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Every request it received, oldest first: method, path, query,
    /// headers and body (the latest 10,000).
    ///
    /// # Example
    ///
    /// ```
    /// let stub = weixin::testing::StubServer::start(200, "application/json", "{}")?;
    /// let client = weixin::Client::builder().build()?;
    /// client.request(
    ///     weixin::RequestOptions::post(format!("{}/my/hook?x=1", stub.url()))
    ///         .no_token()
    ///         .json(serde_json::json!({"a": 1})),
    /// )?;
    /// let got = &stub.received()[0];
    /// assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/my/hook"));
    /// assert_eq!(got.param("x"), Some("1"));
    /// assert_eq!(got.json, Some(serde_json::json!({"a": 1})));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn received(&self) -> Vec<Received> {
        self.server.recorder().all()
    }

    /// The value of header `name` in the last request, if any.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.received().last()?.header(name).map(str::to_string)
    }
}

/// A server that accepts connections and never answers: for timeout tests.
pub struct SilentServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// If the port cannot be bound.
    pub fn start() -> std::io::Result<SilentServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                if let Ok((stream, _)) = listener.accept() {
                    held.push(stream);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Ok(SilentServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // ok because the thread only holds sockets
            let _ = t.join();
        }
    }
}

/// An address on 127.0.0.1 where nothing listens: for connection-refused
/// tests.
///
/// The port stays bound, without listening, until the process exits, so
/// no other socket (another test's server on port 0 included) can take it
/// meanwhile: a connection to it is refused every time, never answered by
/// a stranger. The socket is bound without `SO_REUSEADDR`, which the
/// listeners std binds set, so the kernel never hands its port to them.
///
/// # Errors
///
/// If no socket can be bound.
///
/// # Example
///
/// ```
/// use std::net::TcpStream;
///
/// let url = weixin::testing::refused_url()?;
/// let addr = url.trim_start_matches("http://");
/// let err = TcpStream::connect(addr).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn refused_url() -> std::io::Result<String> {
    use socket2::{Domain, Socket, Type};

    /// Every socket handed out, kept bound for the life of the process.
    static HELD: Mutex<Vec<Socket>> = Mutex::new(Vec::new());

    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    let addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("bound to a non-IP address"))?;
    HELD.lock().push(socket);
    Ok(format!("http://{addr}"))
}
