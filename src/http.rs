//! The one door to the network: every byte this crate sends goes through
//! [`Http::send`], where timeouts are applied and transport errors are
//! turned into redacted [`Error`]s. Host names are resolved by
//! [`resolve`], only when a connection is made; socket timeouts are set
//! only when they change ([`steady`]). A request that never left goes to
//! the next backup host ([`failover`]); every connection goes through the
//! client's proxy, if it has one, and through none otherwise (the
//! environment's `HTTPS_PROXY` included).

mod failover;
mod resolve;
mod steady;

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::multipart::{Form, Part};

use crate::error::{redact_text, redact_url, Error, ErrorKind, Result, TransportKind};
use crate::options::{FormPart, Method};
use crate::proxy::Proxy;
pub(crate) use failover::Failover;

/// Largest answer read for token, ticket, component and hub protocol
/// calls. Their answers are under 1 KiB; a bigger one is refused before it
/// fills memory.
pub(crate) const SMALL_BODY_CAP: u64 = 64 * 1024;

/// Largest answer read through [`Client::request`](crate::Client::request),
/// which carries media downloads.
pub(crate) const LARGE_BODY_CAP: u64 = 64 * 1024 * 1024;

/// Most idle connections kept per host: enough for as many threads
/// calling at once as a server usually runs.
const MAX_IDLE_PER_HOST: usize = 32;

/// Whether a byte is left as it is in a form-encoded query name or value.
const fn kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'*')
}

/// The bytes [`kept`] does not keep.
const QUERY_VALUE: &AsciiSet = &{
    let mut set = AsciiSet::EMPTY;
    let mut byte = 0;
    while byte < 128 {
        if !kept(byte) {
            set = set.add(byte);
        }
        byte += 1;
    }
    set
};

/// A request ready to go out. Built by pure code; sent by [`Http::send`].
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    /// Full URL including the query string.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: OutBody<'a>,
    pub timeout: Option<Duration>,
    /// Most bytes of answer body read: [`SMALL_BODY_CAP`] or
    /// [`LARGE_BODY_CAP`].
    pub max_body: u64,
}

pub(crate) enum OutBody<'a> {
    Empty,
    Json(Vec<u8>),
    Form(&'a [FormPart]),
}

/// What came back, before any interpretation.
pub(crate) struct Incoming {
    pub status: u16,
    /// The URL without its query, for error messages.
    pub url: String,
    pub content_type: Option<String>,
    /// As ureq parsed them: kept, not copied.
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// An HTTP agent with connection reuse and the client's timeouts, proxy
/// and backup hosts.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    /// Kept to name the limit a timeout reached.
    connect_timeout: Duration,
    timeout: Duration,
    /// Kept for the agents made from this one ([`Http::trusting`]).
    proxy: Option<Proxy>,
    failover: Option<Arc<Failover>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("proxy", &self.proxy)
            .field("failover", &self.failover)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Http {
        Http::with_names(connect_timeout, timeout, resolve::Names::new())
    }

    fn with_names(
        connect_timeout: Duration,
        timeout: Duration,
        names: Arc<resolve::Names>,
    ) -> Http {
        Http {
            agent: agent(connect_timeout, timeout, names, TlsConfig::default(), None),
            connect_timeout,
            timeout,
            proxy: None,
            failover: None,
        }
    }

    /// The same timeouts and backup hosts, every connection made through
    /// `proxy` (none: directly).
    pub fn through(self, proxy: Option<Proxy>) -> Http {
        Http {
            agent: agent(
                self.connect_timeout,
                self.timeout,
                resolve::Names::new(),
                TlsConfig::default(),
                proxy.as_ref(),
            ),
            proxy,
            ..self
        }
    }

    /// The same agent, a request that never left sent to the next of
    /// `failover`'s hosts.
    pub fn failing_over(self, failover: Option<Failover>) -> Http {
        Http {
            failover: failover.map(Arc::new),
            ..self
        }
    }

    /// An agent of its own with the same timeouts, whose HTTPS trusts the
    /// web PKI roots and the CA certificates `extra`.
    pub fn trusting(&self, extra: &[ureq::tls::Certificate<'static>]) -> Http {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::from(web_pki_and(extra)))
            .build();
        Http {
            agent: agent(
                self.connect_timeout,
                self.timeout,
                resolve::Names::new(),
                tls,
                self.proxy.as_ref(),
            ),
            ..self.clone()
        }
    }

    /// Sends one request and reads the whole answer. A request that never
    /// left goes to the next backup host, if the URL is under one of them.
    pub fn send(&self, mut out: Outgoing<'_>) -> Result<Incoming> {
        let url = std::mem::take(&mut out.url);
        let Some(failover) = &self.failover else {
            return self.send_to(url, &out);
        };
        let Some((mut at, rest)) = failover.position(&url) else {
            return self.send_to(url, &out);
        };
        // Only a call that fails over pays for this copy.
        let rest = rest.to_string();
        let mut url = url;
        loop {
            match self.send_to(url, &out) {
                Err(e) if e.is_unsent() => {
                    let Some(next) = failover.next(at) else {
                        return Err(e);
                    };
                    log::warn!("could not reach {} ({e}): trying {next}", failover.base(at));
                    url = format!("{next}{rest}");
                    at += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends `out` to `url`, the URL it moves into the request.
    fn send_to(&self, url: String, out: &Outgoing<'_>) -> Result<Incoming> {
        let shown = redact_url(&url);
        // The URL moves into the request: no copy of it.
        let mut builder = http::Request::builder()
            .method(out.method.as_http())
            .uri(url);
        for (name, value) in &out.headers {
            builder = builder.header(*name, value.as_str());
        }
        let url = shown;
        let result = match &out.body {
            // A POST, PUT or PATCH without a body still says so
            // (`Content-Length: 0`): servers answer 411 to one that does not.
            OutBody::Empty if matches!(out.method.as_str(), "POST" | "PUT" | "PATCH") => {
                self.run(builder.body(&[][..]), out.timeout, out.max_body)
            }
            OutBody::Empty => self.run(builder.body(()), out.timeout, out.max_body),
            OutBody::Json(bytes) => self.run(
                builder
                    .header("content-type", "application/json")
                    .body(&bytes[..]),
                out.timeout,
                out.max_body,
            ),
            OutBody::Form(parts) => {
                let form = build_form(parts)?;
                // ureq sets the boundary header only on its own builder path.
                let content_type = format!("multipart/form-data; boundary={}", form.boundary());
                self.run(
                    builder.header("content-type", content_type).body(form),
                    out.timeout,
                    out.max_body,
                )
            }
        };
        match result {
            Ok((status, headers, body)) => Ok(Incoming {
                status,
                url,
                content_type: headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                headers,
                body,
            }),
            Err(e) => {
                let limits = Limits {
                    connect: self.connect_timeout,
                    overall: out.timeout.unwrap_or(self.timeout),
                    per_call: out.timeout.is_some(),
                };
                Err(transport_error(e, &url, &limits))
            }
        }
    }

    /// Runs `request`; its status, headers and body.
    fn run<B: ureq::AsSendBody>(
        &self,
        request: std::result::Result<http::Request<B>, http::Error>,
        timeout: Option<Duration>,
        max_body: u64,
    ) -> std::result::Result<(u16, http::HeaderMap, Vec<u8>), ureq::Error> {
        let request = request.map_err(ureq::Error::Http)?;
        let request = match timeout {
            Some(t) => self
                .agent
                .configure_request(request)
                .timeout_global(Some(t))
                .build(),
            None => request,
        };
        let (parts, mut body) = self.agent.run(request)?.into_parts();
        // ureq stops one byte past the limit, so an oversized answer is
        // never buffered whole.
        let body = body.with_config().limit(max_body).read_to_vec()?;
        Ok((parts.status.as_u16(), parts.headers, body))
    }
}

/// The agent of an [`Http`]: its configuration and resolver, in one place.
fn agent(
    connect_timeout: Duration,
    timeout: Duration,
    names: Arc<resolve::Names>,
    tls: TlsConfig,
    proxy: Option<&Proxy>,
) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        // ureq's default is the environment's proxy: here only the one the
        // client was given, so `HTTPS_PROXY` counts only when asked for.
        .proxy(proxy.map(Proxy::to_ureq))
        // Statuses are read by the parsers: WeChat and hubs put error
        // bodies on non-200 answers too.
        .http_status_as_error(false)
        .timeout_connect(Some(connect_timeout))
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .user_agent(concat!("wechat-rs/", env!("CARGO_PKG_VERSION")))
        // ureq keeps 3 idle connections per host: threads beyond 3 sharing
        // a client opened a new connection for most calls. A client talks
        // to a handful of hosts (WeChat's, a hub); idle ones still go after
        // ureq's 15 s.
        .max_idle_connections_per_host(MAX_IDLE_PER_HOST)
        .max_idle_connections(4 * MAX_IDLE_PER_HOST)
        .build();
    // ureq's own resolver would start a thread per call to honour these
    // timeouts; ours looks names up only for new connections.
    let (resolver, connector) = resolve::parts(names);
    ureq::Agent::with_parts(config, connector, resolver)
}

/// A bare ureq agent configured exactly as a client's (timeouts, resolver,
/// redirects, user agent), so that a benchmark compares
/// [`Client::request`](crate::Client::request) with ureq like with like.
/// Not part of the API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn bench_agent(connect_timeout: Duration, timeout: Duration) -> ureq::Agent {
    agent(
        connect_timeout,
        timeout,
        resolve::Names::new(),
        TlsConfig::default(),
        None,
    )
}

use ureq::http;

fn build_form(parts: &[FormPart]) -> Result<Form<'_>> {
    let mut form = Form::new();
    for part in parts {
        form = match part {
            FormPart::Text { name, value } => form.text(name, value),
            FormPart::File { name, path } => {
                let part = Part::file(path).map_err(|e| {
                    Error::with_source(
                        ErrorKind::InvalidRequest {
                            reason: format!("cannot read form file {}: {e}", path.display()),
                        },
                        e,
                    )
                })?;
                form.part(name, part)
            }
            FormPart::Bytes {
                name,
                file_name,
                bytes,
                content_type,
            } => {
                let mut part = Part::bytes(bytes).file_name(file_name);
                if let Some(ct) = content_type {
                    part = part
                        .mime_str(ct)
                        .map_err(|_| Error::invalid(format!("bad content type {ct:?}")))?;
                }
                form.part(name, part)
            }
        };
    }
    Ok(form)
}

/// The timeouts a request ran under, to name the one it reached.
struct Limits {
    connect: Duration,
    overall: Duration,
    /// Whether `overall` is the call's own (else the client's).
    per_call: bool,
}

impl Limits {
    fn overall(&self) -> String {
        let whose = if self.per_call { "call's" } else { "client's" };
        format!("the {whose} timeout of {:?} was reached", self.overall)
    }

    fn connect(&self) -> String {
        format!("the connect timeout of {:?} was reached", self.connect)
    }
}

/// A transport failure as an [`Error`] whose message says its cause, free
/// of the URL's query: ureq's own messages may contain the full URL, so
/// none is printed or chained as it is.
fn transport_error(e: ureq::Error, url: &str, limits: &Limits) -> Error {
    let (kind, cause) = match &e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            (TransportKind::Timeout, limits.connect())
        }
        ureq::Error::Timeout(_) => (TransportKind::Timeout, limits.overall()),
        ureq::Error::HostNotFound => (TransportKind::Connect, "name not resolved".to_string()),
        ureq::Error::ConnectionFailed => (TransportKind::Connect, "connection failed".to_string()),
        ureq::Error::Io(io) if resolve::is_not_resolved(io) => (
            TransportKind::Connect,
            format!("name not resolved ({})", redact_text(&io.to_string())),
        ),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => (
                TransportKind::Timeout,
                format!(
                    "{} (limits: connect {:?}, overall {:?})",
                    io.kind(),
                    limits.connect,
                    limits.overall
                ),
            ),
            std::io::ErrorKind::ConnectionRefused => {
                (TransportKind::Connect, io.kind().to_string())
            }
            // Connecting succeeded (a failed connect is refused, timed out or
            // unresolved): the server may have seen the request.
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::NotConnected => (TransportKind::Reset, io.kind().to_string()),
            _ => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(tls) => (TransportKind::Tls, tls_cause(tls)),
                None => (TransportKind::Other, redact_text(&io.to_string())),
            },
        },
        ureq::Error::Rustls(tls) => (TransportKind::Tls, tls_cause(tls)),
        ureq::Error::Tls(_) | ureq::Error::Pem(_) => (
            TransportKind::Tls,
            format!("tls: {}", redact_text(&tls_message(&e))),
        ),
        // The proxy answered its CONNECT with an error status (it could not
        // reach the target, or wants credentials): nothing went past it.
        ureq::Error::ConnectProxyFailed(reason) => (TransportKind::Connect, proxy_refusal(reason)),
        ureq::Error::InvalidProxyUrl => {
            return Error::config("the proxy url was refused by the http client");
        }
        ureq::Error::Protocol(p) => (
            TransportKind::Other,
            format!("http protocol: {}", redact_text(&p.to_string())),
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            return Error::invalid(format!("bad url {url}"));
        }
        // Only the read limit raises this: request bodies carry their own
        // length. Not a network failure: the answer is not what the
        // protocol promises.
        ureq::Error::BodyExceedsLimit(cap) => {
            return Error::decode(format!(
                "answer from {url}: larger than the {} limit",
                show_size(*cap)
            ));
        }
        _ => (TransportKind::Other, redact_text(&e.to_string())),
    };
    let unsent = kind == TransportKind::Connect
        || matches!(
            e,
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        );
    let error = Error::new(ErrorKind::Transport {
        kind,
        url: url.to_string(),
    })
    .with_detail(cause);
    if unsent {
        error.unsent()
    } else {
        error
    }
}

/// Why a proxy opened no tunnel, from ureq's `proxy server responded
/// 407/407`: the status with its reason phrase.
fn proxy_refusal(reason: &str) -> String {
    let status = reason
        .strip_prefix("proxy server responded ")
        .and_then(|rest| rest.split('/').next())
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| http::StatusCode::from_u16(code).ok());
    match status {
        Some(status) => format!(
            "the proxy opened no tunnel: it answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        None => format!("the proxy opened no tunnel: {}", redact_text(reason)),
    }
}

/// What rustls says went wrong, saying first when it is the server's
/// certificate that was refused.
fn tls_cause(tls: &rustls::Error) -> String {
    let words = redact_text(&tls.to_string());
    match tls {
        rustls::Error::InvalidCertificate(_) => {
            format!("tls: the server's certificate was refused: {words}")
        }
        _ => format!("tls: {words}"),
    }
}

/// A TLS failure's own words, without ureq's prefix.
fn tls_message(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Tls(message) => (*message).to_string(),
        ureq::Error::Rustls(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `65536` as `64 KiB`, `67108864` as `64 MiB`.
fn show_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Appends form-encoded `query` pairs to `base`, which may already have a
/// query string.
pub(crate) fn with_query<'a>(
    base: &str,
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    // Room for an access token (about 150 bytes) and a few more pairs
    // without growing.
    let mut url = String::with_capacity(base.len() + 256);
    url.push_str(base);
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (name, value) in query {
        url.push(sep);
        push_encoded(&mut url, name);
        url.push('=');
        push_encoded(&mut url, value);
        sep = '&';
    }
    url
}

/// Appends `text` form-encoded; a token or an appid, which need no
/// encoding, is copied as it is.
fn push_encoded(url: &mut String, text: &str) {
    // Without an early exit the check compiles to vector instructions.
    if text.bytes().fold(true, |all, b| all & kept(b)) {
        url.push_str(text);
    } else {
        url.extend(utf8_percent_encode(text, QUERY_VALUE));
    }
}

/// Mozilla's web PKI roots, as ureq trusts by default, followed by `extra`:
/// ureq takes its own roots or a list of certificates, not both, so a CA of
/// the user's own goes into a list that holds the web PKI roots too.
fn web_pki_and(extra: &[ureq::tls::Certificate<'static>]) -> Vec<ureq::tls::Certificate<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()))
        .chain(extra.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        connect: Duration::from_secs(5),
        overall: Duration::from_millis(300),
        per_call: true,
    };

    #[test]
    fn transport_errors_print_their_cause_and_timeouts_their_limit() {
        let show = |e: ureq::Error| transport_error(e, "http://h/p", &LIMITS).to_string();
        assert_eq!(
            show(ureq::Error::Io(
                std::io::ErrorKind::ConnectionRefused.into()
            )),
            "request to http://h/p could not connect: connection refused"
        );
        assert_eq!(
            show(ureq::Error::HostNotFound),
            "request to http://h/p could not connect: name not resolved"
        );
        assert_eq!(
            show(ureq::Error::Timeout(ureq::Timeout::Global)),
            "request to http://h/p timed out: the call's timeout of 300ms was reached"
        );
        assert_eq!(
            show(ureq::Error::Timeout(ureq::Timeout::Connect)),
            "request to http://h/p timed out: the connect timeout of 5s was reached"
        );
        assert_eq!(
            show(ureq::Error::ConnectProxyFailed(
                "proxy server responded 502/502".into()
            )),
            "request to http://h/p could not connect: the proxy opened no tunnel: it answered 502 Bad Gateway"
        );
        assert!(transport_error(
            ureq::Error::ConnectProxyFailed("proxy server did not respond".into()),
            "http://h/p",
            &LIMITS
        )
        .is_unsent());
        assert!(transport_error(
            ureq::Error::Timeout(ureq::Timeout::Connect),
            "http://h/p",
            &LIMITS
        )
        .is_unsent());
        assert!(!transport_error(
            ureq::Error::Timeout(ureq::Timeout::Global),
            "http://h/p",
            &LIMITS
        )
        .is_unsent());
        assert_eq!(
            show(ureq::Error::Tls("no certificate")),
            "request to http://h/p failed the tls handshake: tls: no certificate"
        );
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            show(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                unknown
            ))),
            "request to http://h/p failed the tls handshake: tls: the server's certificate was refused: invalid peer certificate: UnknownIssuer"
        );
        let client_limits = Limits {
            per_call: false,
            ..LIMITS
        };
        assert_eq!(
            transport_error(
                ureq::Error::Timeout(ureq::Timeout::RecvBody),
                "http://h/p",
                &client_limits
            )
            .to_string(),
            "request to http://h/p timed out: the client's timeout of 300ms was reached"
        );
        // Printed, not chained: a reporter walking the chain says it once.
        let e = transport_error(ureq::Error::HostNotFound, "http://h/p", &LIMITS);
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn a_private_ca_is_trusted_beside_the_web_pki_roots_not_instead() {
        let ca = ureq::tls::Certificate::from_der(b"not parsed here").to_owned();
        let roots = web_pki_and(std::slice::from_ref(&ca));
        let web_pki = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(web_pki.len() > 100, "Mozilla's roots: {}", web_pki.len());
        assert_eq!(roots.len(), web_pki.len() + 1);
        assert_eq!(roots[0].der(), web_pki[0].as_ref());
        assert_eq!(roots.last().unwrap().der(), b"not parsed here");
    }

    #[test]
    fn query_is_form_encoded_and_appended() {
        assert_eq!(
            with_query("https://h/p", [("a", "1 2"), ("b", "x&y=z")]),
            "https://h/p?a=1%202&b=x%26y%3Dz"
        );
        assert_eq!(
            with_query("https://h/p?x=1", [("a", "b")]),
            "https://h/p?x=1&a=b"
        );
        assert_eq!(with_query("https://h/p", []), "https://h/p");
    }

    #[test]
    fn every_byte_but_the_kept_ones_is_encoded() {
        let all: String = (1u8..128).map(char::from).chain(['é', '中']).collect();
        let url = with_query("h", [("k", all.as_str())]);
        let value = url.strip_prefix("h?k=").unwrap();
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, all);
        let plain: String = value.chars().filter(|c| *c != '%').collect();
        assert!(plain.bytes().all(kept), "{value}");
        assert!(value.starts_with("%01%02"), "{value}");
        assert!(value.contains("*%2B%2C-.%2F0123456789%3A"), "{value}");
        assert!(value.ends_with("%7E%7F%C3%A9%E4%B8%AD"), "{value}");
    }

    #[test]
    fn caps_show_in_binary_units() {
        assert_eq!(show_size(SMALL_BODY_CAP), "64 KiB");
        assert_eq!(show_size(LARGE_BODY_CAP), "64 MiB");
        assert_eq!(show_size(1000), "1000 bytes");
    }

    #[test]
    fn a_cut_connection_is_a_reset_and_a_refused_one_a_connect() {
        use std::io::ErrorKind as Io;
        let kind_of = |io: Io| {
            let e = transport_error(ureq::Error::Io(io.into()), "http://h/p", &LIMITS);
            match e.kind() {
                ErrorKind::Transport { kind, .. } => *kind,
                other => panic!("{other:?}"),
            }
        };
        for io in [
            Io::ConnectionReset,
            Io::ConnectionAborted,
            Io::BrokenPipe,
            Io::UnexpectedEof,
            Io::NotConnected,
        ] {
            assert_eq!(kind_of(io), TransportKind::Reset, "{io:?}");
        }
        assert_eq!(kind_of(Io::ConnectionRefused), TransportKind::Connect);
        assert_eq!(kind_of(Io::TimedOut), TransportKind::Timeout);
    }

    #[test]
    fn an_answer_over_the_cap_is_a_decode_error_naming_cap_and_url() {
        let e = transport_error(
            ureq::Error::BodyExceedsLimit(SMALL_BODY_CAP),
            "http://h/p",
            &LIMITS,
        );
        assert_eq!(
            e.to_string(),
            "could not decode answer from http://h/p: larger than the 64 KiB limit"
        );
    }
}
