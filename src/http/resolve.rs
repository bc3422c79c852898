//! Name resolution without a thread per call.
//!
//! ureq 3 calls its resolver on every request, before it looks in its
//! connection pool, and its `DefaultResolver` runs the lookup on a new
//! thread whenever a timeout is set, so that it can give up in time. With the
//! client's connect and overall timeouts that was one thread per call, for a
//! pooled connection and for an IP literal alike.
//!
//! Here the work is split so that it is only paid when a connection is made:
//!
//! - [`DeferringResolver`], which ureq calls on every request, does no lookup.
//!   It answers an IP literal (`127.0.0.1`, `[::1]`) with its address and a
//!   host name with the placeholder [`DEFERRED`].
//! - [`LookupConnector`], which ureq's pool calls only when it has no idle
//!   connection for the host, replaces the placeholder with the host's
//!   addresses from [`Names`] before handing the connection to ureq's own
//!   `DefaultConnector` (TCP, CONNECT proxies, TLS), and wraps what it
//!   opens in [`Steady`]. A call on a pooled connection therefore does no
//!   resolver work at all.
//! - [`Names`] keeps each answer per (host, port) for [`NAME_TTL`], at most
//!   [`MAX_NAMES`] of them. A name that is not cached is looked up once for all
//!   the callers that need it at that moment. The lookup (`getaddrinfo`
//!   through std's `ToSocketAddrs`) cannot be interrupted, so when the call
//!   has a deadline it runs on a thread of its own and the callers wait at
//!   most their remaining connect budget; a lookup that outlives them still
//!   lands in the cache for the next caller. Without a deadline it runs on the
//!   caller's thread. So a client starts at most one thread per host name per
//!   [`NAME_TTL`] (or per failed lookup), and none for IP literals.
//!
//! The time spent looking a name up counts against the connect timeout (and
//! the overall one, which ureq folds into it): the connector gives the TCP
//! connect only what is left.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::http::steady::Steady;

/// How long a looked-up answer is used. std's lookup does not say how long
/// the DNS answer is valid; a minute bounds how long a moved host is missed
/// while sparing a lookup per new connection to a server that closes them.
pub(crate) const NAME_TTL: Duration = Duration::from_secs(60);

/// Most answers kept. A client talks to a handful of hosts (WeChat's API
/// hosts, a hub); the bound only matters for a caller that names many.
const MAX_NAMES: usize = 64;

/// What [`DeferringResolver`] answers for a host name: "look it up when a
/// connection is made". Port 0 cannot be connected to, so this is never a
/// usable answer of its own.
pub(crate) const DEFERRED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// The resolver and connector of one agent, sharing `names`.
pub(crate) fn parts(names: Arc<Names>) -> (DeferringResolver, LookupConnector) {
    (
        DeferringResolver,
        LookupConnector {
            names,
            inner: DefaultConnector::new(),
        },
    )
}

/// Answers IP literals; defers host names to [`LookupConnector`].
#[derive(Debug)]
pub(crate) struct DeferringResolver;

impl Resolver for DeferringResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (host, port) = host_and_port(uri)?;
        let mut addrs = self.empty();
        match literal(host, port) {
            Some(addr) => {
                addrs.extend_from(config.ip_family().keep_wanted(std::iter::once(addr)));
            }
            None => addrs.push(DEFERRED),
        }
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addrs)
    }
}

/// ureq's `DefaultConnector` behind a lookup of deferred names.
#[derive(Debug)]
pub(crate) struct LookupConnector {
    names: Arc<Names>,
    inner: DefaultConnector,
}

impl Connector<()> for LookupConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(self.open(details, chained)?.map(Steady::boxed))
    }
}

impl LookupConnector {
    fn open(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Box<dyn Transport>>, ureq::Error> {
        // Literals, and the empty list ureq passes when a proxy resolves the
        // target, go through as they are.
        if details.addrs[..] != [DEFERRED] {
            return self.inner.connect(details, chained);
        }
        let started = Instant::now();
        let budget = match details.timeout.after {
            UreqDuration::Exact(d) => Some(d),
            UreqDuration::NotHappening => None,
        };
        let (host, port) = host_and_port(details.uri)?;
        let found = match literal(host, port) {
            // Only `0.0.0.0:0` itself gets here.
            Some(addr) => Arc::from([addr]),
            None => self.names.lookup(host, port, budget).map_err(|e| match e {
                LookupError::TimedOut => ureq::Error::Timeout(details.timeout.reason),
                LookupError::Io(e) => ureq::Error::Io(not_resolved(e)),
            })?,
        };
        let mut addrs = details.resolver.empty();
        addrs.extend_from(
            details
                .config
                .ip_family()
                .keep_wanted(found.iter().copied()),
        );
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        let mut timeout = details.timeout;
        if let Some(budget) = budget {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            timeout.after = UreqDuration::Exact(left);
        }
        let resolved = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: (details.current_time)(),
            timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        self.inner.connect(&resolved, chained)
    }
}

/// Fills an address list up to its capacity, as ureq's own resolver does.
trait ExtendFrom {
    fn extend_from(&mut self, addrs: impl Iterator<Item = SocketAddr>);
}

impl ExtendFrom for ResolvedSocketAddrs {
    fn extend_from(&mut self, addrs: impl Iterator<Item = SocketAddr>) {
        for addr in addrs {
            if self.try_push(addr).is_err() {
                break;
            }
        }
    }
}

/// The host (IPv6 literals without brackets) and port a URI connects to.
///
/// Read from the authority's bytes in one pass from the end: `Uri::host`
/// and `Uri::port_u16` search it with `rsplit` and `rfind` each, 700
/// instructions of every call.
fn host_and_port(uri: &Uri) -> Result<(&str, u16), ureq::Error> {
    let bad = |why: &str| ureq::Error::BadUri(format!("{why}: {uri}"));
    let authority = uri.authority().ok_or_else(|| bad("no host"))?.as_str();
    let after = |i: Option<usize>| i.map_or(0, |i| i + 1);
    // The host follows any userinfo's `@`; the port, the last `:` after an
    // IPv6 literal's `]`.
    let start = after(authority.bytes().rposition(|b| b == b'@'));
    let host_port = &authority[start..];
    let host_end = after(host_port.bytes().rposition(|b| b == b']'));
    let (host, port) = match host_port[host_end..].bytes().rposition(|b| b == b':') {
        Some(i) => (&host_port[..host_end + i], &host_port[host_end + i + 1..]),
        None => (host_port, ""),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    // An empty port (`host:`) is the scheme's, as `Uri::port_u16` reads it.
    let port = match port.parse() {
        Ok(port) => port,
        Err(_) if port.is_empty() => match uri.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            Some("socks4" | "socks4a" | "socks5" | "socks5h") => 1080,
            _ => return Err(bad("unknown scheme")),
        },
        Err(_) => return Err(bad("bad port")),
    };
    Ok((host, port))
}

/// A failed lookup, marked so that the error it becomes says "name not
/// resolved" whatever the system's words for it.
fn not_resolved(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), NotResolved(e.to_string()))
}

/// Whether `e` is a failed lookup (see [`not_resolved`]).
pub(crate) fn is_not_resolved(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotResolved>())
}

/// The system's message for a failed lookup.
#[derive(Debug)]
struct NotResolved(String);

impl std::fmt::Display for NotResolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotResolved {}

/// The address of an IP literal host, with no lookup.
fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// Why a name has no addresses.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The caller's budget ran out; the lookup may still finish and be
    /// cached.
    TimedOut,
    Io(io::Error),
}

/// How a name is looked up: std's `ToSocketAddrs`, or a stand-in in tests.
type LookupFn = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// Looked-up answers per (host, port), and the lookups in flight.
pub(crate) struct Names {
    ttl: Duration,
    lookup_fn: LookupFn,
    map: Mutex<HashMap<(String, u16), Entry>>,
    #[cfg(test)]
    pub(crate) stats: Stats,
}

/// Counts for tests: what the resolution of one agent cost.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Stats {
    /// Lookups started.
    pub lookups: std::sync::atomic::AtomicUsize,
    /// Threads started for lookups.
    pub threads: std::sync::atomic::AtomicUsize,
}

enum Entry {
    Ready {
        addrs: Arc<[SocketAddr]>,
        expires: Instant,
    },
    Pending(Arc<Flight>),
}

/// What a lookup found, shared by everyone who waited for it.
type Answer = Result<Arc<[SocketAddr]>, Arc<io::Error>>;

/// One lookup that several callers may wait for.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Answer>>,
    done: Condvar,
}

impl Names {
    pub(crate) fn new() -> Arc<Names> {
        Names::with(NAME_TTL, system_lookup)
    }

    fn with(ttl: Duration, lookup_fn: LookupFn) -> Arc<Names> {
        Arc::new(Names {
            ttl,
            lookup_fn,
            map: Mutex::new(HashMap::new()),
            #[cfg(test)]
            stats: Stats::default(),
        })
    }

    /// The addresses of `host`, waiting at most `budget` for a lookup.
    fn lookup(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        budget: Option<Duration>,
    ) -> Result<Arc<[SocketAddr]>, LookupError> {
        // A budget too large to add is no deadline at all.
        let deadline = budget.and_then(|b| Instant::now().checked_add(b));
        let key = (host.to_string(), port);
        let flight = {
            let mut map = self.map.lock();
            let now = Instant::now();
            match map.get(&key) {
                Some(Entry::Ready { addrs, expires }) if *expires > now => {
                    return Ok(addrs.clone());
                }
                // Someone is already looking it up: wait for that answer
                // rather than starting a second lookup.
                Some(Entry::Pending(flight)) => flight.clone(),
                _ => {
                    let flight = Arc::new(Flight::default());
                    make_room(&mut map, now);
                    map.insert(key.clone(), Entry::Pending(flight.clone()));
                    drop(map);
                    self.start(key, flight.clone(), deadline.is_some())?;
                    flight
                }
            }
        };
        flight.wait(deadline)
    }

    /// Runs the lookup for `key`: on its own thread if a caller has a
    /// deadline, on this one otherwise.
    fn start(
        self: &Arc<Self>,
        key: (String, u16),
        flight: Arc<Flight>,
        on_thread: bool,
    ) -> Result<(), LookupError> {
        #[cfg(test)]
        self.stats
            .lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !on_thread {
            let result = (self.lookup_fn)(&key.0, key.1);
            self.finish(key, &flight, result);
            return Ok(());
        }
        #[cfg(test)]
        self.stats
            .threads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let names = self.clone();
        let (thread_key, thread_flight) = (key.clone(), flight.clone());
        let spawned = std::thread::Builder::new()
            .name("wechat-lookup".to_string())
            .spawn(move || {
                let result = (names.lookup_fn)(&thread_key.0, thread_key.1);
                names.finish(thread_key, &thread_flight, result);
            });
        if let Err(e) = spawned {
            let message = e.to_string();
            self.finish(key, &flight, Err(e));
            return Err(LookupError::Io(io::Error::other(message)));
        }
        Ok(())
    }

    /// Caches a good answer, forgets a failed lookup, and wakes the waiters.
    fn finish(
        &self,
        key: (String, u16),
        flight: &Arc<Flight>,
        result: io::Result<Vec<SocketAddr>>,
    ) {
        let result: Answer = result.map(Arc::from).map_err(Arc::new);
        {
            let mut map = self.map.lock();
            let ours = matches!(map.get(&key), Some(Entry::Pending(f)) if Arc::ptr_eq(f, flight));
            if ours {
                match &result {
                    Ok(addrs) => {
                        let expires = Instant::now() + self.ttl;
                        let addrs = addrs.clone();
                        map.insert(key, Entry::Ready { addrs, expires });
                    }
                    // Not cached: the next caller tries again.
                    Err(_) => {
                        map.remove(&key);
                    }
                }
            }
        }
        *flight.result.lock() = Some(result);
        flight.done.notify_all();
    }
}

/// Drops expired answers, then the oldest one, until a new entry fits under
/// [`MAX_NAMES`]. Lookups in flight stay: callers wait for them.
fn make_room(map: &mut HashMap<(String, u16), Entry>, now: Instant) {
    if map.len() < MAX_NAMES {
        return;
    }
    map.retain(|_, e| !matches!(e, Entry::Ready { expires, .. } if *expires <= now));
    while map.len() >= MAX_NAMES {
        let oldest = map
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Ready { expires, .. } => Some((k, *expires)),
                Entry::Pending(_) => None,
            })
            .min_by_key(|(_, expires)| *expires)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => map.remove(&k),
            None => return,
        };
    }
}

impl Flight {
    fn wait(&self, deadline: Option<Instant>) -> Result<Arc<[SocketAddr]>, LookupError> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = &*result {
                return match result {
                    Ok(addrs) => Ok(addrs.clone()),
                    // io::Error is not Clone: every waiter gets a copy.
                    Err(e) => Err(LookupError::Io(io::Error::new(e.kind(), e.to_string()))),
                };
            }
            match deadline {
                Some(deadline) => {
                    if self.done.wait_until(&mut result, deadline).timed_out() && result.is_none() {
                        return Err(LookupError::TimedOut);
                    }
                }
                None => self.done.wait(&mut result),
            }
        }
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("ttl", &self.ttl)
            .field("cached", &self.map.lock().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::client::{Client, ClientBuilder};
    use crate::error::{ErrorKind, TransportKind};
    use crate::http::Http;
    use crate::options::RequestOptions;

    fn lookups(names: &Names) -> usize {
        names.stats.lookups.load(Ordering::Relaxed)
    }

    fn threads(names: &Names) -> usize {
        names.stats.threads.load(Ordering::Relaxed)
    }

    fn resolve(url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        let addrs = DeferringResolver.resolve(&uri, &Config::default(), NextTimeout::default())?;
        Ok(addrs.to_vec())
    }

    fn local(port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }

    fn slow(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_millis(400));
        local(port)
    }

    fn instant(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        local(port)
    }

    fn failing(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
    }

    #[test]
    fn hosts_and_ports_are_read_as_uri_reads_them() {
        for url in [
            "http://127.0.0.1:8080/x",
            "https://[::1]/x",
            "http://[::1]:81/x",
            "http://user:pw@host.test:82/x",
            "https://api.weixin.qq.com/x?a=b:c",
            "http://host.test:/x",
            "socks5://proxy.test",
        ] {
            let uri: Uri = url.parse().unwrap();
            let expected = uri.host().unwrap();
            let expected = expected
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(expected);
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                Some("socks5") => 1080,
                _ => 80,
            });
            assert_eq!(host_and_port(&uri).unwrap(), (expected, port), "{url}");
        }
        let relative: Uri = "/x".parse().unwrap();
        assert!(host_and_port(&relative).is_err());
    }

    #[test]
    fn ip_literals_are_answered_and_names_deferred() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/x").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve("https://[::1]/x").unwrap(),
            ["[::1]:443".parse().unwrap()]
        );
        assert_eq!(resolve("http://localhost/x").unwrap(), [DEFERRED]);
        assert_eq!(resolve("https://api.weixin.qq.com/x").unwrap(), [DEFERRED]);
    }

    #[test]
    fn a_slow_lookup_gives_up_in_time_runs_once_and_lands_in_the_cache() {
        let names = Names::with(NAME_TTL, slow);
        let started = Instant::now();
        let first = names.lookup("slow.test", 80, Some(Duration::from_millis(50)));
        assert!(matches!(first, Err(LookupError::TimedOut)), "{first:?}");
        assert!(started.elapsed() < Duration::from_millis(300));
        // Joins the lookup in flight instead of starting another.
        let second = names.lookup("slow.test", 80, Some(Duration::from_secs(5)));
        assert_eq!(second.unwrap()[..], local(80).unwrap()[..]);
        let third = names.lookup("slow.test", 80, Some(Duration::from_millis(1)));
        assert_eq!(third.unwrap()[..], local(80).unwrap()[..]);
        assert_eq!((lookups(&names), threads(&names)), (1, 1));
    }

    #[test]
    fn answers_expire_and_failures_are_not_kept() {
        let names = Names::with(NAME_TTL, instant);
        for _ in 0..3 {
            names.lookup("a.test", 80, None).unwrap();
        }
        names.lookup("a.test", 81, None).unwrap();
        assert_eq!(lookups(&names), 2, "one per (host, port)");

        let names = Names::with(Duration::ZERO, instant);
        names.lookup("a.test", 80, None).unwrap();
        names.lookup("a.test", 80, None).unwrap();
        assert_eq!(lookups(&names), 2);

        let names = Names::with(NAME_TTL, failing);
        for _ in 0..2 {
            match names.lookup("nowhere.test", 80, Some(Duration::from_secs(5))) {
                Err(LookupError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((lookups(&names), threads(&names)), (2, 2));
    }

    #[test]
    fn the_cache_is_bounded() {
        let names = Names::with(NAME_TTL, instant);
        for i in 0..MAX_NAMES * 3 {
            names.lookup(&format!("h{i}.test"), 80, None).unwrap();
        }
        assert_eq!(names.map.lock().len(), MAX_NAMES);
        // The newest stayed.
        let last = format!("h{}.test", MAX_NAMES * 3 - 1);
        names.lookup(&last, 80, None).unwrap();
        assert_eq!(lookups(&names), MAX_NAMES * 3);
        // No deadline, no thread.
        assert_eq!(threads(&names), 0);
    }

    /// A server on 127.0.0.1 answering every request `{"errcode":0}`, closing
    /// each connection after one answer unless `keep_alive`. Counts the
    /// connections it accepted.
    fn serve(keep_alive: bool) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || answer(stream, keep_alive));
            }
        });
        (port, accepted)
    }

    fn answer(mut stream: TcpStream, keep_alive: bool) {
        let body = br#"{"errcode":0,"errmsg":"ok"}"#;
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n",
            body.len()
        );
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            if stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body))
                .is_err()
                || !keep_alive
            {
                return;
            }
        }
    }

    fn client(names: &Arc<Names>, connect_timeout: Duration) -> Client {
        let http = Http::with_names(connect_timeout, Duration::from_secs(10), names.clone());
        let (_, cache) = ClientBuilder::default().parts();
        Client::builder()
            .scheme("http")
            .shared(http, cache)
            .build()
            .unwrap()
    }

    /// A call that needs no token.
    fn call(host: &str, port: u16) -> RequestOptions {
        RequestOptions::get("/sns/auth").host(host).port(port)
    }

    #[test]
    fn calls_to_an_ip_literal_start_no_thread_and_look_nothing_up() {
        let (port, accepted) = serve(false);
        let names = Names::new();
        let client = client(&names, Duration::from_secs(5));
        for _ in 0..200 {
            client.request(call("127.0.0.1", port)).unwrap();
        }
        // Every call made a connection of its own: none was spared the
        // resolver by the pool.
        assert_eq!(accepted.load(Ordering::SeqCst), 200);
        assert_eq!((lookups(&names), threads(&names)), (0, 0));
    }

    #[test]
    fn a_host_name_is_looked_up_once_for_many_connections() {
        let (port, accepted) = serve(false);
        let names = Names::new();
        let client = client(&names, Duration::from_secs(5));
        for _ in 0..200 {
            client.request(call("localhost", port)).unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 200);
        assert_eq!((lookups(&names), threads(&names)), (1, 1));
    }

    #[test]
    fn a_call_on_a_pooled_connection_does_no_resolver_work() {
        let (port, accepted) = serve(true);
        // Nothing cached: any call that reached the lookup would count.
        let names = Names::with(Duration::ZERO, system_lookup);
        let client = client(&names, Duration::from_secs(5));
        for _ in 0..200 {
            client.request(call("localhost", port)).unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(lookups(&names), 1);
    }

    fn only_localhost(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match host {
            "localhost" => local(port),
            _ => failing(host, port),
        }
    }

    #[test]
    fn through_a_connect_proxy_only_the_proxy_is_looked_up() {
        // A CONNECT proxy that is its own target: it agrees to the tunnel,
        // then answers the request sent through it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let connect_line = line.clone();
            while line != "\r\n" {
                line.clear();
                reader.read_line(&mut line).unwrap();
            }
            stream
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            drop(reader);
            answer(stream, false);
            connect_line
        });
        let names = Names::with(NAME_TTL, only_localhost);
        let config = ureq::Agent::config_builder()
            .proxy(Some(
                ureq::Proxy::new(&format!("http://localhost:{port}")).unwrap(),
            ))
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        let (resolver, connector) = parts(names.clone());
        let agent = ureq::Agent::with_parts(config, connector, resolver);
        let body = agent
            .get("http://target.invalid/x")
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(body, r#"{"errcode":0,"errmsg":"ok"}"#);
        assert!(
            proxy
                .join()
                .unwrap()
                .starts_with("CONNECT target.invalid:80 "),
            "the proxy, not this process, resolves the target"
        );
        assert_eq!(lookups(&names), 1);
    }

    #[test]
    fn a_name_that_does_not_resolve_says_so() {
        let names = Names::with(NAME_TTL, failing);
        let client = client(&names, Duration::from_secs(5));
        let err = client.request(call("nowhere.test", 80)).unwrap_err();
        let url = "http://nowhere.test/sns/auth".to_string();
        let kind = TransportKind::Connect;
        assert_eq!(err.kind(), &ErrorKind::Transport { kind, url });
        assert_eq!(
            err.to_string(),
            "GET /sns/auth: request to http://nowhere.test/sns/auth could not connect: name not resolved (no such host)"
        );
    }

    #[test]
    fn the_connect_timeout_covers_a_slow_lookup() {
        let names = Names::with(NAME_TTL, slow);
        let client = client(&names, Duration::from_millis(100));
        let started = Instant::now();
        let err = client.request(call("slow.test", 1)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Transport {
                    kind: TransportKind::Timeout,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "GET /sns/auth: request to http://slow.test:1/sns/auth timed out: the connect timeout of 100ms was reached"
        );
        assert!(
            started.elapsed() < Duration::from_millis(350),
            "{:?}",
            started.elapsed()
        );
    }
}
