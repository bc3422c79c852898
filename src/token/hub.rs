//! `HubSource`: the client side of the hub protocol
//! ([`hub_protocol`](crate::hub_protocol), compatible with
//! elixir_wechat 0.4).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

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
    base_url: String,
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
        let base_url = base_url.into();
        let origin = Origin::parse(&base_url).map_err(|_| {
            Error::config(format!(
                "hub url must be http(s)://host[:port][/prefix], got {:?}",
                without_userinfo(&crate::error::redact_url(&base_url))
            ))
        })?;
        Ok(HubSource {
            base_url: origin.base_url().to_string(),
            bearer: None,
            ca: None,
        })
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

    fn get(&self, path: &str, query: &[(&str, &str)], cx: &Context<'_>) -> Result<Incoming> {
        let url = with_query(&format!("{}{path}", self.base_url), query.iter().copied());
        self.send(Method::Get, url, OutBody::Empty, cx)
    }

    fn post(&self, path: &str, body: Value, cx: &Context<'_>) -> Result<Incoming> {
        let url = format!("{}{path}", self.base_url);
        self.send(
            Method::Post,
            url,
            OutBody::Json(body.to_string().into_bytes()),
            cx,
        )
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
            TokenKind::AccessToken => parse_answer(
                &self.get("/client/access_token", &query, cx)?,
                "access_token",
            ),
            TokenKind::ComponentAccessToken => parse_answer(
                &self.get("/client/component_access_token", &query, cx)?,
                "access_token",
            ),
            TokenKind::Ticket(ticket) => {
                query.push(("type", ticket.as_str()));
                parse_answer(&self.get("/client/ticket", &query, cx)?, "ticket")
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
        match key.kind() {
            TokenKind::AccessToken => parse_answer(
                &self.post("/refresh/access_token", body, cx)?,
                "access_token",
            ),
            TokenKind::ComponentAccessToken => parse_answer(
                &self.post("/client/refresh_component_access_token", body, cx)?,
                "access_token",
            ),
            // The protocol has no ticket refresh: ask again.
            TokenKind::Ticket(_) => self.fetch(key, cx),
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
            .field("base_url", &self.base_url)
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
