//! `FakeHub`: the hub protocol served over any token source, with
//! compare-and-swap refresh.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::server::{HttpServer, Req, Resp};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::token::{TicketType, Token, TokenKey, TokenSource};

/// A hub on an ephemeral port of 127.0.0.1 that serves
/// `shared/docs/hub-protocol.md` over a token source (usually a
/// [`SecretSource`](crate::SecretSource) pointed at a
/// [`FakeWechat`](super::FakeWechat)).
///
/// Refresh is compare-and-swap: a stale token that is no longer the hub's
/// current one gets the current one back with no upstream call. Errors are
/// answered the Elixir way: HTTP 200 with
/// `{"errcode", "message", "reason", "http_status"}`.
///
/// # Example
///
/// ```
/// use wechat::testing::{FakeHub, FakeWechat};
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let hub = FakeHub::start(wechat::SecretSource::new("wx1", "s1").base_url(fake.url()))?;
/// let client = wechat::Client::builder()
///     .appid("wx1")
///     .token_source(wechat::HubSource::new(hub.url())?)
///     .build()?;
/// let token = client.token(&wechat::TokenKey::access_token("wx1"))?;
/// assert!(token.secret().starts_with("TOKEN_wx1_"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FakeHub {
    server: HttpServer,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeHub {
    /// Starts a hub without authentication.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start(source: impl TokenSource + 'static) -> std::io::Result<FakeHub> {
        FakeHub::start_inner(source, None)
    }

    /// Starts a hub that requires `Authorization: Bearer <secret>`.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start_with_bearer(
        source: impl TokenSource + 'static,
        secret: &str,
    ) -> std::io::Result<FakeHub> {
        FakeHub::start_inner(source, Some(secret.to_string()))
    }

    fn start_inner(
        source: impl TokenSource + 'static,
        bearer: Option<String>,
    ) -> std::io::Result<FakeHub> {
        let client = Client::builder()
            .token_source(source)
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let handler_counts = counts.clone();
        let server = HttpServer::start(
            8,
            Arc::new(move |req: Req| {
                *handler_counts.lock().entry(req.path.clone()).or_default() += 1;
                if let Some(secret) = &bearer {
                    let expected = format!("Bearer {secret}");
                    if req.header("authorization") != Some(expected.as_str()) {
                        return failure(
                            401,
                            "unauthorized",
                            "missing or wrong bearer secret",
                            None,
                        );
                    }
                }
                handle(&client, &req)
            }),
        )?;
        Ok(FakeHub { server, counts })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// How many requests `path` received.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().get(path).copied().unwrap_or(0)
    }
}

impl std::fmt::Debug for FakeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHub")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

/// An Elixir-style error body, answered with HTTP 200 except for 401.
fn failure(http_status: u16, reason: &str, message: &str, errcode: Option<i64>) -> Resp {
    let status = if http_status == 401 { 401 } else { 200 };
    Resp::json(
        status,
        &json!({
            "errcode": errcode.unwrap_or(i64::from(http_status)),
            "message": message,
            "reason": reason,
            "http_status": http_status,
        }),
    )
}

fn from_error(e: &Error) -> Resp {
    match e.kind() {
        ErrorKind::Api {
            errcode, errmsg, ..
        } => failure(502, "wechat_error", errmsg, Some(*errcode)),
        _ => failure(502, "upstream_error", &e.to_string(), None),
    }
}

fn token_body(field: &str, token: &Token, extra: Option<(&str, &str)>) -> Resp {
    let mut body = json!({
        field: token.secret(),
        "expires_in": token.expires_at().saturating_sub(token.timestamp()),
        "timestamp": token.timestamp(),
    });
    if let Some((k, v)) = extra {
        body[k] = v.into();
    }
    Resp::json(200, &body)
}

fn missing(name: &str) -> Resp {
    failure(
        400,
        "invalid_request",
        &format!("missing parameter {name}"),
        None,
    )
}

fn handle(client: &Client, req: &Req) -> Resp {
    let body = req.json().unwrap_or(Value::Null);
    let from_body = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/healthz") => Resp::json(200, &json!({"status": "ok"})),
        ("GET", "/client/access_token") => {
            let Some(appid) = req.param("appid") else {
                return missing("appid");
            };
            let mut key = TokenKey::access_token(appid);
            if let Some(authorizer) = req.param("authorizer_appid") {
                key = key.for_authorizer(authorizer);
            }
            match client.token(&key) {
                Ok(t) => token_body("access_token", &t, None),
                Err(e) => from_error(&e),
            }
        }
        ("GET", "/client/component_access_token") => {
            let Some(appid) = req.param("appid") else {
                return missing("appid");
            };
            match client.token(&TokenKey::component_access_token(appid)) {
                Ok(t) => token_body("access_token", &t, None),
                Err(e) => from_error(&e),
            }
        }
        ("POST", "/refresh/access_token") | ("POST", "/client/refresh_component_access_token") => {
            let Some(appid) = from_body("appid") else {
                return missing("appid");
            };
            let Some(stale) = from_body("access_token") else {
                return missing("access_token");
            };
            let mut key = if req.path == "/refresh/access_token" {
                TokenKey::access_token(&appid)
            } else {
                TokenKey::component_access_token(&appid)
            };
            if let Some(authorizer) = from_body("authorizer_appid") {
                key = key.for_authorizer(&authorizer);
            }
            match client.refresh_token(&key, &Token::new(stale, 0)) {
                Ok(t) => token_body("access_token", &t, None),
                Err(e) => from_error(&e),
            }
        }
        ("GET", "/client/ticket") => {
            let Some(appid) = req.param("appid") else {
                return missing("appid");
            };
            let ticket = match req.param("type") {
                Some("jsapi") => TicketType::Jsapi,
                Some("wx_card") => TicketType::WxCard,
                Some(_) => {
                    return failure(
                        400,
                        "invalid_request",
                        "type must be jsapi or wx_card",
                        None,
                    )
                }
                None => return missing("type"),
            };
            let mut key = TokenKey::ticket(appid, ticket);
            if let Some(authorizer) = req.param("authorizer_appid") {
                key = key.for_authorizer(authorizer);
            }
            match client.token(&key) {
                Ok(t) => token_body("ticket", &t, Some(("type", ticket.as_str()))),
                Err(e) => from_error(&e),
            }
        }
        _ => failure(
            404,
            "not_found",
            &format!("no route {} {}", req.method, req.path),
            None,
        ),
    }
}
