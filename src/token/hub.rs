//! `HubSource`: the client side of the hub protocol
//! ([`hub_protocol`](crate::hub_protocol), compatible with
//! elixir_wechat 0.4). Which of several hubs a request goes to is in
//! `hub/failover.rs`.

mod failover;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result, SourceKind};
use crate::http::{with_query, Http, Incoming, OutBody, Outgoing, SMALL_BODY_CAP};
use crate::options::Method;
use crate::origin::{without_userinfo, Origin};
use crate::secret::Secret;
use crate::token::{Context, Token, TokenKey, TokenKind, TokenSource};

/// Gets tokens and tickets from a hub: the one service that owns each
/// account's token life cycle, so that many processes share one token.
///
/// Speaks the elixir_wechat hub protocol, documented in
/// [`hub_protocol`](crate::hub_protocol), so it works against an
/// Elixir hub as well as this crate's. A hub answer is accepted only if it is exactly a
/// success body of the protocol (a non-empty token string and integer
/// `timestamp` and `expires_in`); anything else becomes an error:
/// [`ErrorKind::Hub`] for a hub error body, [`ErrorKind::HttpStatus`] for a
/// non-success status without one, [`ErrorKind::Decode`] for a body that is
/// not a valid success body or is larger than 64 KiB (read no further),
/// [`ErrorKind::Transport`] when the hub cannot be reached in time or the
/// connection is lost, with [`TransportKind::Tls`](crate::TransportKind::Tls)
/// when its certificate is refused.
///
/// An `https://` hub's certificate is checked against Mozilla's web PKI
/// roots (built into the crate) and, for a hub whose certificate comes
/// from a private CA, the CAs of a [`ca_file`](HubSource::ca_file).
///
/// Several hubs ([`with_urls`](HubSource::with_urls)) are used one at a
/// time: the first in the list until it fails at the connection level
/// (connection refused or reset, a timeout before an answer, HTTP 502 or
/// 503 other than WeChat's own error relayed), then the next; a failed hub rests for the
/// [`backoff`](HubSource::backoff) and is tried first again after it. A
/// request goes to each hub at most once. A refresh (a token WeChat
/// rejected) is sent to one hub only: to the next one only if the first
/// refused the connection, so it never reached it; otherwise the next hub
/// is asked for its current token, never for a second refresh. Clones
/// share which hubs are resting.
///
/// # Example
///
/// ```
/// let hub = weixin::HubSource::new("http://127.0.0.1:4000")?.bearer("hub-secret");
/// assert!(!format!("{hub:?}").contains("hub-secret"));
/// assert!(weixin::HubSource::new("ftp://nope").is_err());
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct HubSource {
    hubs: Arc<failover::Hubs>,
    backoff: Duration,
    clock: Clock,
    bearer: Option<Secret>,
    ca: Option<Arc<PrivateCa>>,
}

/// The CAs of a [`HubSource::ca_file`], and the agent that trusts them.
struct PrivateCa {
    file: PathBuf,
    roots: Vec<ureq::tls::Certificate<'static>>,
    /// Made at the first request from the client's agent (its timeouts),
    /// then kept with its connections.
    http: OnceLock<Http>,
}

impl HubSource {
    /// A source for the hub at `base_url` (`http://` or `https://`).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error if `base_url` is not an http(s) URL.
    pub fn new(base_url: impl Into<String>) -> Result<HubSource> {
        HubSource::with_urls([base_url.into()])
    }

    /// A source for the hubs at `base_urls` (`http://` or `https://`
    /// each), used one at a time in this order as the type's doc says.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error if the list is empty or a URL is not
    /// an http(s) URL.
    ///
    /// # Example
    ///
    /// ```
    /// let hubs = weixin::HubSource::with_urls(["http://10.0.0.1:4000", "http://10.0.0.2:4000/"])?;
    /// assert_eq!(hubs.urls().collect::<Vec<_>>(), ["http://10.0.0.1:4000", "http://10.0.0.2:4000"]);
    /// let none: [&str; 0] = [];
    /// assert!(matches!(
    ///     weixin::HubSource::with_urls(none).unwrap_err().kind(),
    ///     weixin::ErrorKind::Config { .. }
    /// ));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn with_urls<I>(base_urls: I) -> Result<HubSource>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let mut checked = Vec::new();
        for base_url in base_urls {
            let base_url = base_url.into();
            let origin = Origin::parse(&base_url).map_err(|_| {
                Error::config(format!(
                    "hub url must be http(s)://host[:port][/prefix], got {:?}",
                    without_userinfo(&crate::error::redact_url(&base_url))
                ))
            })?;
            checked.push(origin.base_url().to_string());
        }
        if checked.is_empty() {
            return Err(Error::config("a hub source needs at least one hub url"));
        }
        Ok(HubSource {
            hubs: failover::Hubs::new(checked),
            backoff: DEFAULT_HUB_BACKOFF,
            clock: Clock::system(),
            bearer: None,
            ca: None,
        })
    }

    /// How long a hub that failed at the connection level is passed over
    /// (while another hub is left to try) before it is tried first again.
    ///
    /// Defaults to 30 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let hubs = weixin::HubSource::with_urls(["http://10.0.0.1:4000", "http://10.0.0.2:4000"])?
    ///     .backoff(Duration::from_secs(5));
    /// assert!(format!("{hubs:?}").contains("backoff: 5s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn backoff(mut self, backoff: Duration) -> HubSource {
        self.backoff = backoff;
        self
    }

    /// Where the [`backoff`](HubSource::backoff) reads the time: tests
    /// pass a [`ManualClock`](crate::ManualClock)'s clock.
    ///
    /// Defaults to [`Clock::system`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let manual = weixin::ManualClock::new(Duration::from_secs(1_700_000_000));
    /// let hubs = weixin::HubSource::with_urls(["http://10.0.0.1:4000", "http://10.0.0.2:4000"])?
    ///     .clock(manual.clock());
    /// manual.advance(Duration::from_secs(30)); // a resting hub's backoff is over
    /// assert_eq!(hubs.failures(), 0);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn clock(mut self, clock: Clock) -> HubSource {
        self.clock = clock;
        self
    }

    /// The hubs' base URLs, in the order they are tried (after a
    /// failure, those not resting first).
    ///
    /// # Example
    ///
    /// ```
    /// let hub = weixin::HubSource::new("https://hub.internal:4000/wechat/")?;
    /// assert_eq!(hub.urls().collect::<Vec<_>>(), ["https://hub.internal:4000/wechat"]);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.hubs.urls()
    }

    /// How many requests of this source (and its clones) failed at the
    /// connection level and made their hub rest: for monitoring, and for
    /// tests that bound the attempts a call makes.
    ///
    /// # Example
    ///
    /// ```
    /// let hub = weixin::HubSource::new("http://127.0.0.1:4000")?;
    /// assert_eq!(hub.failures(), 0);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn failures(&self) -> u64 {
        self.hubs.failures()
    }

    /// Sends `Authorization: Bearer <secret>` with every request.
    ///
    /// Defaults to no authorization header.
    pub fn bearer(mut self, secret: impl Into<Secret>) -> HubSource {
        self.bearer = Some(secret.into());
        self
    }

    /// Checks the hub's certificate against the CA certificates of the
    /// PEM file at `path` (one CA, or a bundle), for a hub whose
    /// certificate a private CA signed. The file is read now.
    ///
    /// The web PKI roots stay trusted beside them, so a hub moving from a
    /// private CA to a public certificate (or back) is trusted throughout.
    ///
    /// Defaults to the web PKI roots alone.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error naming the file if it cannot be
    /// read, is not PEM, holds no certificate, or holds one that is not a
    /// valid X.509 certificate.
    ///
    /// # Example
    ///
    /// ```
    /// let err = weixin::HubSource::new("https://hub.internal:4000")?
    ///     .ca_file("/nonexistent/ca.pem")
    ///     .unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// assert!(err.to_string().contains("certificate file /nonexistent/ca.pem"), "{err}");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<HubSource> {
        let path = path.as_ref();
        let mut roots = Vec::new();
        for (n, der) in crate::pem::certificates(path)?.into_iter().enumerate() {
            // ureq drops a certificate it cannot parse without a word:
            // check each here, where the error can name the file.
            rustls::RootCertStore::empty()
                .add(der.clone())
                .map_err(|e| {
                    Error::config(format!(
                        "certificate file {}: certificate {} is not a usable CA certificate ({e})",
                        path.display(),
                        n + 1
                    ))
                })?;
            roots.push(ureq::tls::Certificate::from_der(&der).to_owned());
        }
        self.ca = Some(Arc::new(PrivateCa {
            file: path.to_path_buf(),
            roots,
            http: OnceLock::new(),
        }));
        Ok(self)
    }

    /// Asks the hubs for a token (`field` of the answer): a read, which
    /// any hub may answer.
    fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        field: &str,
        cx: &Context<'_>,
    ) -> Result<Token> {
        self.hubs.run(&self.clock, self.backoff, false, |base_url| {
            let url = with_query(&format!("{base_url}{path}"), query.iter().copied());
            parse_answer(&self.send(Method::Get, url, OutBody::Empty, cx)?, field)
        })
    }

    /// Sends a refresh: to one hub, unless it never got there.
    fn post(&self, path: &str, body: Value, field: &str, cx: &Context<'_>) -> Result<Token> {
        let body = body.to_string().into_bytes();
        self.hubs.run(&self.clock, self.backoff, true, |base_url| {
            let url = format!("{base_url}{path}");
            parse_answer(
                &self.send(Method::Post, url, OutBody::Json(body.clone()), cx)?,
                field,
            )
        })
    }

    fn send(
        &self,
        method: Method,
        url: String,
        body: OutBody<'_>,
        cx: &Context<'_>,
    ) -> Result<Incoming> {
        let mut headers = vec![("accept", "application/json".to_string())];
        if let Some(secret) = &self.bearer {
            headers.push(("authorization", format!("Bearer {}", secret.expose())));
        }
        let http = match &self.ca {
            Some(ca) => ca.http.get_or_init(|| cx.http().trusting(&ca.roots)),
            None => cx.http(),
        };
        http.send(Outgoing {
            method,
            url,
            headers,
            body,
            timeout: None,
            max_body: SMALL_BODY_CAP,
        })
    }
}

/// How long a hub that failed at the connection level rests.
const DEFAULT_HUB_BACKOFF: Duration = Duration::from_secs(30);

/// Reads a hub answer: a success body with `field` holding the token, or an
/// error. Pure: no I/O.
pub(crate) fn parse_answer(incoming: &Incoming, field: &str) -> Result<Token> {
    let url = &incoming.url;
    let value: Option<Value> = serde_json::from_slice(&incoming.body).ok();
    let Some(Value::Object(body)) = value else {
        if !(200..300).contains(&incoming.status) {
            return Err(Error::new(ErrorKind::HttpStatus {
                status: incoming.status,
                url: url.clone(),
            }));
        }
        return Err(Error::decode(format!(
            "hub answer from {url}: not a json object ({} bytes of {})",
            incoming.body.len(),
            incoming
                .content_type
                .as_deref()
                .unwrap_or("no content type")
        )));
    };
    if let Some(err) = hub_error(&body, incoming.status) {
        return Err(err);
    }
    if !(200..300).contains(&incoming.status) {
        return Err(Error::new(ErrorKind::HttpStatus {
            status: incoming.status,
            url: url.clone(),
        }));
    }
    let token = match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) => {
            return Err(Error::decode(format!(
                "hub answer from {url}: {field} is empty"
            )))
        }
        Some(_) => {
            return Err(Error::decode(format!(
                "hub answer from {url}: {field} is not a string"
            )))
        }
        None => {
            return Err(Error::decode(format!(
                "hub answer from {url}: {field} is missing"
            )))
        }
    };
    let int = |name: &str| -> Result<u64> {
        match body.get(name) {
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::decode(format!(
                    "hub answer from {url}: {name} is not a non-negative integer"
                ))
            }),
            None => Err(Error::decode(format!(
                "hub answer from {url}: {name} is missing"
            ))),
        }
    };
    let timestamp = int("timestamp")?;
    let expires_in = int("expires_in")?;
    Ok(Token::with_timestamp(token.as_str(), timestamp, expires_in))
}

/// A hub error body: `{"errcode", "message", "reason", "http_status"}`, or
/// WeChat's own `{"errcode", "errmsg"}` relayed.
fn hub_error(body: &serde_json::Map<String, Value>, status: u16) -> Option<Error> {
    let errcode = body.get("errcode").and_then(Value::as_i64);
    let reason = body.get("reason").and_then(Value::as_str);
    if reason.is_none() && errcode.is_none_or(|c| c == 0) {
        return None;
    }
    let message = body
        .get("message")
        .or_else(|| body.get("errmsg"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if reason == Some("refresh_limited") {
        // This project's hubs: the shared refresh limit refused a call.
        let secs = |name: &str| {
            body.get(name)
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
        };
        return Some(Error::new(ErrorKind::RefreshLimited {
            key: body
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            retry_after: secs("retry_after").unwrap_or_default(),
            rejected_after: secs("rejected_after"),
        }));
    }
    let status = body
        .get("http_status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(status);
    Some(Error::new(ErrorKind::Hub {
        errcode,
        reason: reason.unwrap_or("error").to_string(),
        message: message.to_string(),
        status,
    }))
}

impl TokenSource for HubSource {
    fn source_kind(&self) -> SourceKind {
        SourceKind::Hub
    }

    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        let appid = key.appid();
        let mut query = vec![("appid", appid)];
        if let Some(authorizer) = key.authorizer_appid() {
            query.push(("authorizer_appid", authorizer));
        }
        match key.kind() {
            TokenKind::AccessToken => self.get("/client/access_token", &query, "access_token", cx),
            TokenKind::ComponentAccessToken => {
                self.get("/client/component_access_token", &query, "access_token", cx)
            }
            TokenKind::Ticket(ticket) => {
                query.push(("type", ticket.as_str()));
                self.get("/client/ticket", &query, "ticket", cx)
            }
        }
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        let mut body = serde_json::json!({
            "appid": key.appid(),
            "access_token": stale.expose(),
        });
        if let Some(authorizer) = key.authorizer_appid() {
            body["authorizer_appid"] = authorizer.into();
        }
        let refreshed = match key.kind() {
            TokenKind::AccessToken => self.post("/refresh/access_token", body, "access_token", cx),
            TokenKind::ComponentAccessToken => self.post(
                "/client/refresh_component_access_token",
                body,
                "access_token",
                cx,
            ),
            // The protocol has no ticket refresh: ask again.
            TokenKind::Ticket(_) => return self.fetch(key, cx),
        };
        match refreshed {
            // The hub may have refreshed it, or not: another hub's current
            // token says which (hubs share their store), with no second
            // refresh. Its own failure is the one reported.
            Err(e)
                if self.hubs.len() > 1
                    && failover::Failure::of(&e)
                        == (failover::Failure::Unreachable { never_sent: false }) =>
            {
                self.fetch(key, cx).map_err(|_| e)
            }
            other => other,
        }
    }

    /// The hub limits its own calls to WeChat, for all its clients.
    fn limited_by_client(&self) -> bool {
        false
    }
}

impl fmt::Debug for HubSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSource")
            .field("urls", &self.hubs.urls().collect::<Vec<_>>())
            .field("backoff", &self.backoff)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca.as_ref().map(|ca| &ca.file))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Result<Token> {
        parse_answer(
            &Incoming {
                status,
                url: "http://hub/client/access_token".into(),
                content_type: Some("application/json".into()),
                headers: Default::default(),
                body: body.as_bytes().to_vec(),
            },
            "access_token",
        )
    }

    #[test]
    fn accepts_exactly_the_success_body() {
        let t = answer(
            200,
            r#"{"access_token":"T","expires_in":7200,"timestamp":1700000000}"#,
        )
        .unwrap();
        assert_eq!(
            (t.expose(), t.timestamp(), t.expires_in()),
            ("T", 1_700_000_000, 7200)
        );
    }

    #[test]
    fn elixir_error_body_on_200_is_a_hub_error() {
        let e = answer(
            200,
            r#"{"errcode":40013,"message":"invalid appid","reason":"invalid_request","http_status":400}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::Hub {
                errcode: Some(40013),
                reason: "invalid_request".into(),
                message: "invalid appid".into(),
                status: 400
            }
        );
    }

    #[test]
    fn each_malformed_answer_has_its_own_message() {
        let msg = |s, b| answer(s, b).unwrap_err().to_string();
        assert!(msg(200, r#"{"access_token":""}"#).ends_with("access_token is empty"));
        assert!(msg(
            200,
            r#"{"access_token":"T","timestamp":"1","expires_in":1}"#
        )
        .ends_with("timestamp is not a non-negative integer"));
        assert!(
            msg(200, r#"{"access_token":"T","timestamp":1}"#).ends_with("expires_in is missing")
        );
        assert!(msg(200, "<html>").contains("not a json object"));
        assert_eq!(
            msg(500, "<html>"),
            "http status 500 from http://hub/client/access_token"
        );
    }

    #[test]
    fn url_must_be_http() {
        assert!(HubSource::new("http://127.0.0.1:1").is_ok());
        assert!(HubSource::new("https://hub.example/prefix/").is_ok());
        for bad in ["", "127.0.0.1:4000", "http://", "http:///x", "http://h?x=1"] {
            assert!(
                matches!(
                    HubSource::new(bad).unwrap_err().kind(),
                    ErrorKind::Config { .. }
                ),
                "{bad}"
            );
        }
    }
}
