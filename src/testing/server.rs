//! A small threaded HTTP server on 127.0.0.1 that the fakes are built on
//! (the loop itself is in `http1.rs`), plus the stub and silent servers
//! used to test failure handling.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

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
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Starts serving with `handler`, at least `workers` connections at once.
    pub fn start(workers: usize, handler: Handler) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            super::http1::serve(&listener, addr, workers.max(64), &flag, &*handler);
        });
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
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
/// let stub = wechat::testing::StubServer::start(500, "text/html", "<html>oops</html>")?;
/// assert!(stub.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(stub.requests(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StubServer {
    server: HttpServer,
    count: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<Req>>>,
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
        let last = Arc::new(Mutex::new(None));
        let (content_type, body): (String, Vec<u8>) = (content_type.to_string(), body.into());
        let (c, l) = (count.clone(), last.clone());
        let server = HttpServer::start(
            2,
            Arc::new(move |req| {
                c.fetch_add(1, Ordering::SeqCst);
                *l.lock() = Some(req.clone());
                Resp::new(status, &content_type, body.clone())
            }),
        )?;
        Ok(StubServer {
            server,
            count,
            last,
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The value of header `name` in the last request, if any.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.last
            .lock()
            .as_ref()?
            .header_value(name)
            .map(str::to_string)
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
/// # Errors
///
/// If no port can be bound to find a free one.
pub fn refused_url() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}
