//! A small threaded HTTP server on 127.0.0.1 that the fakes are built on,
//! plus the stub and silent servers used to test failure handling.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use percent_encoding::percent_decode_str;

/// A request as the fakes see it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// An answer from a fake.
pub(crate) struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, value: &serde_json::Value) -> Resp {
        Resp {
            status,
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }
}

type Handler = Arc<dyn Fn(Req) -> Resp + Send + Sync>;

/// A running server; stops and joins its threads when dropped.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl HttpServer {
    /// Starts `workers` threads answering with `handler`.
    pub fn start(workers: usize, handler: Handler) -> std::io::Result<HttpServer> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("server has no ip address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                let server = server.clone();
                let stop = stop.clone();
                let handler = handler.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(200)) {
                            Ok(Some(request)) => serve(request, &handler),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(HttpServer {
            addr,
            server,
            stop,
            workers,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            // ok because a worker that panicked has nothing left to clean up
            let _ = worker.join();
        }
    }
}

fn serve(mut request: tiny_http::Request, handler: &Handler) {
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (request.url().to_string(), Vec::new()),
    };
    let mut body = Vec::new();
    // ok because a body that cannot be read is answered as an empty one
    let _ = request.as_reader().read_to_end(&mut body);
    let req = Req {
        method: request.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
    };
    let resp = handler(req);
    let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    let headers =
        std::iter::once(("Content-Type".to_string(), resp.content_type)).chain(resp.headers);
    for (name, value) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            out = out.with_header(h);
        }
    }
    // ok because the client may have gone away (a timeout test)
    let _ = request.respond(out);
}

/// Decodes an `application/x-www-form-urlencoded` query.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
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
        let (content_type, body) = (content_type.to_string(), body.into());
        let (c, l) = (count.clone(), last.clone());
        let server = HttpServer::start(
            2,
            Arc::new(move |req| {
                c.fetch_add(1, Ordering::SeqCst);
                *l.lock() = Some(req);
                Resp {
                    status,
                    content_type: content_type.clone(),
                    headers: Vec::new(),
                    body: body.clone(),
                }
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
        self.last.lock().as_ref()?.header(name).map(str::to_string)
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
