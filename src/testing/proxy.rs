//! `ConnectProxy`: an HTTP CONNECT proxy on 127.0.0.1 that records every
//! tunnel it opens, for tests of a client's egress proxy.
//!
//! ureq 3 sends every request through a proxy as a tunnel, `http://`
//! targets included: `CONNECT host:port HTTP/1.1`, then the request itself
//! in origin form inside the tunnel. It never sends an absolute-form
//! request (`GET http://host/path`), so this proxy answers anything but
//! `CONNECT` with 405 and counts it as refused.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

/// Most tunnels open at once; more are answered 503.
const MAX_TUNNELS: usize = 64;

/// Largest request head read before the tunnel opens.
const MAX_HEAD: usize = 8 * 1024;

/// How long a tunnel waits for a byte from either side, and a target for
/// its connection, before it closes.
const IDLE: Duration = Duration::from_secs(10);

/// One tunnel a [`ConnectProxy`] opened: see [`ConnectProxy::tunnels`].
///
/// # Example
///
/// ```
/// let tunnel = weixin::testing::Tunnel {
///     target: "127.0.0.1:8080".into(),
///     first_request: Some("GET /cgi-bin/token".into()),
/// };
/// assert_eq!(tunnel.clone(), tunnel);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The `host:port` the `CONNECT` named.
    pub target: String,
    /// The method and path (no query) of the first request sent through
    /// it, when that request was plain HTTP: `GET /cgi-bin/token`.
    pub first_request: Option<String>,
}

#[derive(Default)]
struct Shared {
    /// Every tunnel opened, oldest first.
    tunnels: Mutex<Vec<Tunnel>>,
    refused: AtomicUsize,
    /// How many of the next `CONNECT`s are answered 502 all the same.
    refuse_next: AtomicUsize,
    open: AtomicUsize,
    /// Both ends of every open tunnel, shut down when the proxy stops.
    streams: Mutex<Vec<TcpStream>>,
    /// `Basic <base64(user:password)>` a request must carry, if set.
    login: Option<String>,
}

/// An HTTP CONNECT proxy on an ephemeral port of 127.0.0.1: it opens a
/// tunnel to the `host:port` each `CONNECT` names, copies bytes both ways,
/// and records the target. At most 64 tunnels are open at once; each closes
/// after 10 s without a byte. Anything but `CONNECT`, a target it cannot
/// reach (answered 502) and, with
/// [`start_with_login`](ConnectProxy::start_with_login), a request without
/// the right `Proxy-Authorization` (answered 407) are counted as
/// [`refused`](ConnectProxy::refused).
///
/// # Example
///
/// ```
/// use weixin::testing::{ConnectProxy, FakeWechat};
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let proxy = ConnectProxy::start()?;
/// let client = weixin::Client::builder()
///     .appid("wx1")
///     .base_url(fake.url())
///     .proxy(weixin::Proxy::new(proxy.url())?)
///     .token_source(weixin::SecretSource::new("wx1", "s1"))
///     .build()?;
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// // The fake answers one request per connection: a tunnel for each.
/// let passed: Vec<_> = proxy.tunnels().into_iter().map(|t| (t.target, t.first_request)).collect();
/// let target = format!("127.0.0.1:{}", fake.port());
/// assert_eq!(passed, vec![
///     (target.clone(), Some("GET /cgi-bin/token".to_string())),
///     (target, Some("GET /cgi-bin/get_api_domain_ip".to_string())),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ConnectProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    /// Starts a proxy that asks for no credentials.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start() -> std::io::Result<ConnectProxy> {
        ConnectProxy::serve(None)
    }

    /// Starts a proxy that opens tunnels only for requests carrying
    /// `Proxy-Authorization: Basic` with `user` and `password`, and answers
    /// 407 to others.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start_with_login(user: &str, password: &str) -> std::io::Result<ConnectProxy> {
        let login = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        ConnectProxy::serve(Some(login))
    }

    fn serve(login: Option<String>) -> std::io::Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            login,
            ..Shared::default()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, state) = (stop.clone(), shared.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if state.open.fetch_add(1, Ordering::SeqCst) >= MAX_TUNNELS {
                    state.open.fetch_sub(1, Ordering::SeqCst);
                    let mut stream = stream;
                    // ok because a client that went away needs no answer
                    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
                    continue;
                }
                let state = state.clone();
                std::thread::spawn(move || {
                    tunnel(&state, stream);
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(ConnectProxy {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:port`, the proxy URL a client is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every tunnel opened, oldest first: one per connection a client
    /// made through the proxy.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.shared.tunnels.lock().clone()
    }

    /// How many requests it refused: not `CONNECT`, without the right
    /// credentials, or to a target it could not (or was told not to)
    /// reach.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Answers the next `n` `CONNECT`s 502 Bad Gateway without connecting,
    /// as a proxy that cannot reach WeChat: the requests never leave.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{ConnectProxy, StubServer};
    ///
    /// let stub = StubServer::start(200, "application/json", "{}")?;
    /// let proxy = ConnectProxy::start()?;
    /// proxy.refuse_next(1);
    /// let client = weixin::Client::builder().proxy(weixin::Proxy::new(proxy.url())?).build()?;
    /// let call = || client.request(weixin::RequestOptions::get(format!("{}/x", stub.url())).no_token());
    /// let err = call().unwrap_err();
    /// assert!(err.is_unsent());
    /// assert!(err.to_string().ends_with("could not connect: the proxy opened no tunnel: it answered 502 Bad Gateway"));
    /// call()?;
    /// assert_eq!((proxy.refused(), stub.requests()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse_next.store(n, Ordering::SeqCst);
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        // ok because a proxy whose port is gone has stopped already
        let _ = TcpStream::connect(self.addr);
        for stream in self.shared.streams.lock().drain(..) {
            // ok because the other side may have closed it already
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(thread) = self.thread.take() {
            // ok because the accept thread holds nothing to clean up
            let _ = thread.join();
        }
    }
}

/// Serves one client connection: reads its head, opens the tunnel, copies.
fn tunnel(state: &Shared, mut client: TcpStream) {
    // ok because a client that cannot take timeouts is served without them
    let _ = client.set_read_timeout(Some(IDLE));
    let Some((head, rest)) = read_head(&mut client) else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (method, target) = (words.next().unwrap_or_default(), words.next());
    let refuse = |mut client: &TcpStream, status: &str| {
        state.refused.fetch_add(1, Ordering::SeqCst);
        // ok because a client that went away needs no answer
        let _ =
            client.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    };
    let Some(target) = target.filter(|_| method == "CONNECT") else {
        return refuse(&client, "405 Method Not Allowed");
    };
    if let Some(login) = &state.login {
        let given = lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim())
        });
        if given != Some(login.as_str()) {
            return refuse(&client, "407 Proxy Authentication Required");
        }
    }
    let told = state
        .refuse_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if told {
        return refuse(&client, "502 Bad Gateway");
    }
    let upstream = target
        .parse::<SocketAddr>()
        .ok()
        .and_then(|addr| TcpStream::connect_timeout(&addr, IDLE).ok());
    let Some(mut upstream) = upstream else {
        return refuse(&client, "502 Bad Gateway");
    };
    let index = {
        let mut tunnels = state.tunnels.lock();
        tunnels.push(Tunnel {
            target: target.to_string(),
            first_request: None,
        });
        tunnels.len() - 1
    };
    let opened = client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .and_then(|()| upstream.write_all(&rest))
        .and_then(|()| upstream.set_read_timeout(Some(IDLE)));
    let (Ok(()), Ok(client_back), Ok(upstream_back)) =
        (opened, client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    {
        let mut streams = state.streams.lock();
        streams.extend(client.try_clone().ok());
        streams.extend(upstream.try_clone().ok());
    }
    let back = std::thread::spawn(move || copy(upstream_back, client_back));
    let mut first = rest;
    if first.is_empty() {
        let mut chunk = [0u8; 512];
        let n = client.read(&mut chunk).unwrap_or(0);
        first.extend_from_slice(&chunk[..n]);
        if upstream.write_all(&first).is_err() {
            first.clear();
        }
    }
    state.tunnels.lock()[index].first_request = request_of(&first);
    copy(client, upstream);
    // ok because the other direction ends when its socket is shut down
    let _ = back.join();
}

/// Copies `from` to `to` until either side closes or goes idle, then
/// shuts both down so the other direction ends too.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    // ok because an error only ends the copy
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// `METHOD /path` of the plain HTTP request `bytes` start with, if they do.
fn request_of(bytes: &[u8]) -> Option<String> {
    let line = bytes.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let target = rest.split(' ').next()?;
    let path = target.split('?').next()?;
    (method.bytes().all(|b| b.is_ascii_uppercase()) && path.starts_with('/'))
        .then(|| format!("{method} {path}"))
}

/// The request head up to its blank line, and whatever bytes came after it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Some((String::from_utf8(buf).ok()?, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Standard base64 with padding, for the expected `Proxy-Authorization`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }
}
