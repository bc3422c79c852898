//! `HubHandler`: the hub protocol as a function from request to response,
//! for any HTTP server. This file is its route table; the wire types, the
//! builder, the error body and the encrypted callback have files of their
//! own.

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value};

use super::ahead::{Ahead, AheadThread};
use super::builder::HubHandlerBuilder;
use super::error::HubError;
use super::metrics::{upstream_calls_on_this_thread, Counts};
use super::wire::{HubRequest, HubResponse};
use crate::client::Client;
use crate::error::Result;
use crate::secret::Secret;
use crate::store::Store;
#[cfg(doc)]
use crate::store::StoreSource;
use crate::store::Watch;
use crate::token::cache::TokenCache;
#[cfg(doc)]
use crate::token::limit::RefreshLimit;
use crate::token::{TicketType, Token, TokenKey};
#[cfg(feature = "crypto")]
use crate::MessageCrypto;
#[cfg(feature = "crypto")]
use std::collections::HashMap;

/// Answers the hub protocol over this crate's own token sources, whatever
/// HTTP server carries it.
///
/// Endpoints (see the protocol in [`hub_protocol`](crate::hub_protocol)):
/// `GET /client/access_token`, `POST /refresh/access_token`,
/// `GET /client/component_access_token`,
/// `POST /client/refresh_component_access_token`, `GET /client/ticket`,
/// `GET /status` (the hub's version, uptime, store kind and health, the
/// replicas the store can tell of; per account and kind of call, the
/// calls today against the quota and the warning level reached; per
/// token and ticket any replica sharing the store served: when it was
/// fetched, expires, is due to be refreshed ahead, whether its quota is
/// used up; per platform: the verify ticket's age; the last upstream
/// error per appid; HTML with keys in words and relative times, or JSON
/// for `Accept: application/json`; never a token, ticket or secret value; with the `crypto` feature a browser opens it with HTTP
/// Basic, see `HubHandlerBuilder::status_password`), `POST /admin/rebuild_refresh_tokens` (body `{"component_appid": ..}`:
/// after a store loss, every authorizer's refresh token is stored again
/// from WeChat's `api_get_authorizer_list`; answers `restored`),
/// and `GET /healthz` (no bearer asked), plus, with the `crypto` feature,
/// `POST /callback/component/<appid>` (see [`HubHandlerBuilder`]'s
/// `component_callback`). `HEAD`
/// is answered as `GET` (a server leaves the body out); another method on
/// a known path gets 405 with an `Allow` header. `HubServer` adds
/// `GET /metrics`.
///
/// Tokens are kept in a [`Store`] through a [`StoreSource`], behind an
/// in-process single-flight cache: concurrent requests for one key cause
/// one store read or upstream call, and refresh is compare-and-swap (a
/// stale token that is no longer current gets the current one back with no
/// upstream call), within this process through the cache and across hub
/// processes through the store's lock.
///
/// Errors are answered with the Elixir hub's body
/// `{"errcode", "message", "reason", "http_status"}` and, by default, that
/// HTTP status: `invalid_request` (400) for a missing or malformed
/// parameter, `unauthorized` (401), `unknown_appid` (404), `not_found`
/// (404), `method_not_allowed` (405), `refresh_limited` (429, with
/// `retry_after` seconds: the [`RefreshLimit`] refused an upstream call),
/// `quota_exhausted` (429, errcode 45009, `retry_after` the seconds to
/// midnight UTC+8: WeChat answered the account's daily quota used up,
/// today, to this replica or another),
/// `wechat_error` (502, with WeChat's
/// errcode), `upstream_unavailable` (502), `store_unavailable` (503).
///
/// # Example
///
/// ```
/// use weixin::hub::{HubHandler, HubRequest};
/// use weixin::testing::FakeWechat;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let hub = HubHandler::builder().account("wx1", "s1").upstream(fake.url()).build()?;
///
/// let resp = hub.handle(&HubRequest::new("GET", "/client/access_token?appid=wx1"));
/// assert_eq!(resp.status, 200);
/// let body: serde_json::Value = serde_json::from_slice(&resp.body)?;
/// assert!(body["access_token"].as_str().unwrap().starts_with("TOKEN_wx1_"));
///
/// let resp = hub.handle(&HubRequest::new("GET", "/client/access_token"));
/// let body: serde_json::Value = serde_json::from_slice(&resp.body)?;
/// assert_eq!((resp.status, &body["reason"]), (400, &"invalid_request".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HubHandler {
    pub(super) client: Client,
    /// The client's cache, read without I/O for answers at once.
    // ok because only HubServer (feature `hub`) answers at once
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(super) cache: Arc<TokenCache>,
    pub(super) store: Arc<dyn Store>,
    pub(super) counts: Arc<Counts>,
    /// The accounts and platforms served, or `None` over a custom source.
    pub(super) appids: Option<Vec<String>>,
    /// The third-party platforms among `appids`.
    pub(super) components: Vec<String>,
    pub(super) bearer: Option<Secret>,
    /// The Basic password `/status` takes instead of the bearer.
    #[cfg(feature = "crypto")]
    pub(super) status_password: Option<Secret>,
    pub(super) errors_with_200: bool,
    #[cfg(feature = "crypto")]
    pub(super) callbacks: HashMap<String, MessageCrypto>,
    /// The keys served, refreshed ahead of expiry.
    pub(super) ahead: Arc<Ahead>,
    /// The daily quota the status page shows calls against.
    pub(super) daily_quota: u64,
    /// When it was built, by the hub's clock (Unix seconds): its uptime
    /// on the status page.
    pub(super) started_at: u64,
    /// Runs `ahead` in the background; stopped when the handler drops.
    pub(super) _ahead_thread: Option<AheadThread>,
    /// Hears other replicas' authorizer removals; stops when dropped.
    pub(super) _watch: Option<Watch>,
}

/// An endpoint's answer, or the error to answer instead.
pub(super) type Answer = std::result::Result<HubResponse, HubError>;

/// What a request asks for, once checked.
enum Ask {
    Health,
    /// A token or, with its type, a ticket.
    Token(TokenKey, Option<TicketType>),
    /// A token other than this stale one.
    Refresh(TokenKey, Token),
    /// A platform's authorizer refresh tokens rebuilt from WeChat's list.
    Rebuild(String),
    /// The status page.
    Status,
    /// A platform's push; its appid follows [`CALLBACK_PREFIX`].
    #[cfg(feature = "crypto")]
    Callback,
}

/// Where a request goes.
enum Route {
    Healthz,
    AccessToken,
    Refresh,
    ComponentAccessToken,
    RefreshComponent,
    Ticket,
    Rebuild,
    Status,
    /// A platform's push; its appid follows [`CALLBACK_PREFIX`].
    #[cfg(feature = "crypto")]
    Callback,
    /// A known path asked with another method: the methods it allows.
    WrongMethod(&'static str),
    NotFound,
}

/// The protocol's paths and the methods each allows.
const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET, HEAD"),
    ("/client/access_token", "GET, HEAD"),
    ("/refresh/access_token", "POST"),
    ("/client/component_access_token", "GET, HEAD"),
    ("/client/refresh_component_access_token", "POST"),
    ("/client/ticket", "GET, HEAD"),
    ("/admin/rebuild_refresh_tokens", "POST"),
    ("/status", "GET, HEAD"),
];

/// Where platforms' pushes arrive, followed by the platform's appid.
#[cfg(any(feature = "crypto", feature = "hub"))]
const CALLBACK_PREFIX: &str = "/callback/component/";

/// Where `HubServer` publishes its metrics.
#[cfg(feature = "hub")]
pub(crate) const METRICS_PATH: &str = "/metrics";

fn route(req: &HubRequest) -> Route {
    // HEAD is GET without a body; the server leaves the body out.
    let method = match req.method.as_str() {
        "HEAD" => "GET",
        m => m,
    };
    match (method, req.path.as_str()) {
        ("GET", "/healthz") => Route::Healthz,
        ("GET", "/client/access_token") => Route::AccessToken,
        ("POST", "/refresh/access_token") => Route::Refresh,
        ("GET", "/client/component_access_token") => Route::ComponentAccessToken,
        ("POST", "/client/refresh_component_access_token") => Route::RefreshComponent,
        ("GET", "/client/ticket") => Route::Ticket,
        ("POST", "/admin/rebuild_refresh_tokens") => Route::Rebuild,
        ("GET", "/status") => Route::Status,
        #[cfg(feature = "crypto")]
        ("POST", path) if path.starts_with(CALLBACK_PREFIX) => Route::Callback,
        #[cfg(feature = "crypto")]
        (_, path) if path.starts_with(CALLBACK_PREFIX) => Route::WrongMethod("POST"),
        (_, path) => match ROUTES.iter().find(|(p, _)| *p == path) {
            Some((_, allowed)) => Route::WrongMethod(allowed),
            None => Route::NotFound,
        },
    }
}

/// The `endpoint` label of `path` in metrics: a protocol path, the
/// callback without its appid, or `other` (so a client cannot grow the
/// label set).
#[cfg(feature = "hub")]
pub(crate) fn endpoint(path: &str) -> &'static str {
    if let Some((known, _)) = ROUTES.iter().find(|(p, _)| *p == path) {
        return known;
    }
    if path == METRICS_PATH {
        METRICS_PATH
    } else if path.starts_with(CALLBACK_PREFIX) {
        "/callback/component"
    } else {
        "other"
    }
}

impl HubHandler {
    /// A builder with every default.
    ///
    /// # Example
    ///
    /// ```
    /// let hub = weixin::hub::HubHandler::builder().account("wx1", "s1").build()?;
    /// let resp = hub.handle(&weixin::hub::HubRequest::new("GET", "/healthz"));
    /// assert_eq!((resp.status, resp.body.as_slice()), (200, &br#"{"status":"ok"}"#[..]));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn builder() -> HubHandlerBuilder {
        HubHandlerBuilder::default()
    }

    /// The store tokens are kept in.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::hub::HubHandler;
    /// use weixin::store::MemoryStore;
    /// use weixin::{Token, TokenKey};
    ///
    /// let hub = HubHandler::builder().account("wx1", "s1").store(MemoryStore::new()).build()?;
    /// hub.store().put_token(&TokenKey::access_token("wx1"), &Token::new("T", 7200))?;
    /// assert!(hub.store().get_token(&TokenKey::access_token("wx1"))?.is_some());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs one refresh-ahead pass now and returns how many tokens and
    /// tickets it replaced by calling WeChat: every one any replica
    /// sharing the store served in the last week (the store keeps them,
    /// see [`Store::put_served`], so a hub started later refreshes them
    /// too) whose refresh is due (early enough to land before it stops
    /// being handed out as fresh even if WeChat takes the whole
    /// [`timeout`](HubHandlerBuilder::timeout) twice, jittered per key) is
    /// fetched anew under the
    /// store's lock and refresh limit, while clients keep getting the
    /// current one. A token another replica already replaced is not
    /// fetched again; one the store no longer has (an authorizer that
    /// revoked) is no longer refreshed; a failure is logged, counted in
    /// `/metrics` and tried again after a backoff doubling from 1 s to at
    /// most 60 s. The hub's own thread runs this every
    /// [`refresh_ahead`](HubHandlerBuilder::refresh_ahead) interval; call
    /// it yourself with the thread turned off (tests with a
    /// [`ManualClock`](crate::ManualClock)).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::hub::{HubHandler, HubRequest};
    /// use weixin::testing::FakeWechat;
    /// use weixin::ManualClock;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let clock = ManualClock::starting_now();
    /// let hub = HubHandler::builder()
    ///     .account("wx1", "s1")
    ///     .upstream(fake.url())
    ///     .clock(clock.clock())
    ///     .refresh_ahead(None)
    ///     .build()?;
    /// hub.handle(&HubRequest::new("GET", "/client/access_token?appid=wx1"));
    /// assert_eq!(hub.refresh_due(), 0, "not due yet");
    /// clock.advance(Duration::from_secs(7200 - 300));
    /// assert_eq!(hub.refresh_due(), 1, "due before the store stops serving it");
    /// assert_eq!(fake.count("/cgi-bin/token"), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refresh_due(&self) -> usize {
        self.ahead.run_once().refreshed
    }

    /// Asks WeChat to resume pushing verify tickets for every platform
    /// that got none for 20 minutes (or none at all in the 20 minutes
    /// since this hub started), once per 20 minutes of such staleness
    /// across replicas, with `/cgi-bin/component/api_start_push_ticket`;
    /// returns how many asks it made. A failed ask is logged, counted in
    /// `/metrics` (`start_push_ticket_errors`), shown on `/status`, and
    /// made again by the same replica after a backoff doubling from 1 s
    /// to 60 s, 8 tries at most per 20 minutes. The hub's own thread runs it with each
    /// [`refresh_due`](HubHandler::refresh_due) pass.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::hub::HubHandler;
    /// use weixin::testing::FakeWechat;
    /// use weixin::ManualClock;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register_component("wxc", "cs");
    /// let clock = ManualClock::starting_now();
    /// let hub = HubHandler::builder()
    ///     .component("wxc", "cs")
    ///     .upstream(fake.url())
    ///     .clock(clock.clock())
    ///     .refresh_ahead(None)
    ///     .build()?;
    /// assert_eq!(hub.resume_ticket_pushes(), 0, "not stale yet");
    /// clock.advance(Duration::from_secs(20 * 60));
    /// assert_eq!(hub.resume_ticket_pushes(), 1);
    /// assert_eq!(hub.resume_ticket_pushes(), 0, "once per staleness");
    /// assert_eq!(fake.count("/cgi-bin/component/api_start_push_ticket"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume_ticket_pushes(&self) -> usize {
        self.ahead.resume_ticket_pushes()
    }

    /// Answers one request. Never panics on bad input: a missing or
    /// malformed parameter is an `invalid_request` error body.
    ///
    /// Blocks while the store is read or WeChat is called: an async
    /// server runs it where blocking is allowed.
    pub fn handle(&self, req: &HubRequest) -> HubResponse {
        let answer = self.ask(req).and_then(|ask| match ask {
            Ask::Health => Ok(health()),
            Ask::Token(key, ticket) => {
                let token = self.client.token(&key);
                if token.is_ok() {
                    self.ahead.served(&key);
                }
                token_answer(token, ticket)
            }
            Ask::Refresh(key, stale) => self.refresh(&key, &stale),
            Ask::Rebuild(component) => self.rebuild_refresh_tokens(&component),
            Ask::Status => Ok(self.status(req)),
            #[cfg(feature = "crypto")]
            Ask::Callback => self.callback(&req.path[CALLBACK_PREFIX.len()..], req),
        });
        answer.unwrap_or_else(|e| {
            e.until_quota_resets(self.ahead.clock.unix_secs())
                .into_response(self.errors_with_200)
        })
    }

    /// The answer to `req` if it needs neither the store nor WeChat: a
    /// health check, a request refused for what it says, or a token this
    /// replica holds fresh and recorded as served within the last hour
    /// (see [`Ahead::served`]). `None` otherwise: [`handle`](HubHandler::handle)
    /// it where blocking is allowed.
    #[cfg(feature = "hub")]
    pub(crate) fn handle_at_once(&self, req: &HubRequest) -> Option<HubResponse> {
        let answer = match self.ask(req) {
            Ok(Ask::Health) => Ok(health()),
            Ok(Ask::Token(key, ticket)) => {
                let token = self.cache.peek(&key)?;
                // A hit is served too; when that is due to be written to
                // the store, it is answered where blocking is allowed.
                if self.ahead.touch_due(&key) {
                    return None;
                }
                token_answer(Ok(token), ticket)
            }
            Ok(_) => return None,
            Err(e) => Err(e),
        };
        Some(answer.unwrap_or_else(|e| e.into_response(self.errors_with_200)))
    }

    /// What `req` asks for, routed, authorized and with its parameters
    /// checked: no I/O.
    fn ask(&self, req: &HubRequest) -> std::result::Result<Ask, HubError> {
        let route = route(req);
        match route {
            Route::Healthz => return Ok(Ask::Health),
            // A push authenticates by its msg_signature, not the bearer.
            #[cfg(feature = "crypto")]
            Route::Callback => return Ok(Ask::Callback),
            Route::Status => self.authorize_status(req)?,
            _ => self.authorize(req)?,
        }
        match route {
            Route::AccessToken => self.access_token(req),
            Route::Refresh => self.refresh_of(req, false),
            Route::ComponentAccessToken => {
                let appid = self.appid(req.param("appid"))?;
                self.check_component(appid)?;
                Ok(Ask::Token(TokenKey::component_access_token(appid), None))
            }
            Route::RefreshComponent => self.refresh_of(req, true),
            Route::Ticket => self.ticket(req),
            Route::Status => Ok(Ask::Status),
            Route::Rebuild => {
                let body = serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
                let appid = self.appid(body["component_appid"].as_str())?;
                self.check_component(appid)?;
                Ok(Ask::Rebuild(appid.to_string()))
            }
            Route::WrongMethod(allowed) => Err(HubError::method_not_allowed(
                &req.method,
                &req.path,
                allowed,
            )),
            _ => Err(HubError::new(
                404,
                "not_found",
                format!("no such endpoint {}", req.path),
            )),
        }
    }

    /// Checks the bearer secret, if the hub has one.
    pub(crate) fn authorize(&self, req: &HubRequest) -> std::result::Result<(), HubError> {
        let Some(expected) = &self.bearer else {
            return Ok(());
        };
        let given = req
            .header_value("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|g| same_secret(g, expected.expose())) {
            Ok(())
        } else {
            Err(HubError::unauthorized())
        }
    }

    /// Checks the status page's credentials: the bearer, as everywhere,
    /// or, with the `crypto` feature, HTTP Basic with any user name and as
    /// password the status password if one is set, else the bearer. A
    /// refusal challenges for Basic, so that a browser asks its user.
    fn authorize_status(&self, req: &HubRequest) -> std::result::Result<(), HubError> {
        #[cfg(feature = "crypto")]
        {
            let Some(expected) = self.status_password.as_ref().or(self.bearer.as_ref()) else {
                return Ok(());
            };
            let header = req.header_value("authorization");
            let accepted = match header.and_then(super::basic::password) {
                Some(given) => same_secret(&given, expected.expose()),
                // `authorize` lets anything through when there is no bearer.
                None => self.bearer.is_some() && self.authorize(req).is_ok(),
            };
            if accepted {
                Ok(())
            } else {
                Err(HubError::unauthorized_with(super::basic::CHALLENGE))
            }
        }
        #[cfg(not(feature = "crypto"))]
        self.authorize(req)
    }

    /// The answer to an error that happened outside the handler (a body
    /// too large, a metrics endpoint's wrong method), in the hub's shape.
    #[cfg(feature = "hub")]
    pub(crate) fn error_response(&self, error: HubError) -> HubResponse {
        error.into_response(self.errors_with_200)
    }

    #[cfg(feature = "hub")]
    pub(crate) fn counts(&self) -> &Arc<Counts> {
        &self.counts
    }

    fn access_token(&self, req: &HubRequest) -> std::result::Result<Ask, HubError> {
        let appid = self.appid(req.param("appid"))?;
        let authorizer = optional(req.param("authorizer_appid"));
        self.check_authorizer(appid, authorizer)?;
        let mut key = TokenKey::access_token(appid);
        if let Some(authorizer) = authorizer {
            key = key.for_authorizer(authorizer);
        }
        Ok(Ask::Token(key, None))
    }

    fn ticket(&self, req: &HubRequest) -> std::result::Result<Ask, HubError> {
        let appid = self.appid(req.param("appid"))?;
        let ticket = match req.param("type") {
            Some("jsapi") => TicketType::Jsapi,
            Some("wx_card") => TicketType::WxCard,
            None | Some("") => return Err(HubError::invalid("missing parameter type")),
            Some(_) => return Err(HubError::invalid("type must be jsapi or wx_card")),
        };
        let authorizer = optional(req.param("authorizer_appid"));
        self.check_authorizer(appid, authorizer)?;
        let mut key = TokenKey::ticket(appid, ticket);
        if let Some(authorizer) = authorizer {
            key = key.for_authorizer(authorizer);
        }
        Ok(Ask::Token(key, Some(ticket)))
    }

    /// A refresh's key and stale token, from its JSON body.
    fn refresh_of(&self, req: &HubRequest, component: bool) -> std::result::Result<Ask, HubError> {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return Err(HubError::invalid("the body must be a JSON object"));
        };
        let field = |name: &str| -> std::result::Result<Option<&str>, HubError> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(HubError::invalid(format!("{name} must be a string"))),
            }
        };
        let appid = self.appid(field("appid")?)?;
        let Some(stale) = optional(field("access_token")?) else {
            return Err(HubError::invalid("missing parameter access_token"));
        };
        let authorizer = optional(field("authorizer_appid")?);
        let mut key = if component {
            if authorizer.is_some() {
                return Err(HubError::invalid(
                    "a component access token has no authorizer_appid",
                ));
            }
            self.check_component(appid)?;
            TokenKey::component_access_token(appid)
        } else {
            self.check_authorizer(appid, authorizer)?;
            TokenKey::access_token(appid)
        };
        if let Some(authorizer) = authorizer {
            key = key.for_authorizer(authorizer);
        }
        Ok(Ask::Refresh(key, Token::new(stale, 0)))
    }

    /// A token other than `stale`: compare-and-swap through the cache and
    /// the store.
    fn refresh(&self, key: &TokenKey, stale: &Token) -> Answer {
        let calls = upstream_calls_on_this_thread();
        let fresh = self.client.refreshed_token(key, stale);
        // The whole request runs on this thread: no upstream call here
        // means the current token (or another request's refresh) answered.
        if fresh.is_ok() && upstream_calls_on_this_thread() == calls {
            self.counts.refresh_without_upstream();
        }
        if fresh.is_ok() {
            self.ahead.served(key);
        }
        token_answer(fresh, None)
    }

    /// The appid parameter, present and served by this hub.
    fn appid<'a>(&self, appid: Option<&'a str>) -> std::result::Result<&'a str, HubError> {
        let Some(appid) = optional(appid) else {
            return Err(HubError::invalid("missing parameter appid"));
        };
        match &self.appids {
            Some(appids) if !appids.iter().any(|a| a == appid) => Err(HubError::new(
                404,
                "unknown_appid",
                format!("this hub serves no account {appid}"),
            )),
            _ => Ok(appid),
        }
    }

    /// A platform's tokens and tickets belong to its authorizers; an
    /// official account has none. Checked only when the hub knows its
    /// accounts (not over a custom source).
    fn check_authorizer(
        &self,
        appid: &str,
        authorizer: Option<&str>,
    ) -> std::result::Result<(), HubError> {
        if self.appids.is_none() {
            return Ok(());
        }
        match (self.components.iter().any(|c| c == appid), authorizer) {
            (true, None) => Err(HubError::invalid(format!(
                "{appid} is a third-party platform: authorizer_appid is required"
            ))),
            (false, Some(_)) => Err(HubError::invalid(format!(
                "{appid} is an official account: it has no authorizer_appid"
            ))),
            _ => Ok(()),
        }
    }

    /// Only a third-party platform has a component access token.
    fn check_component(&self, appid: &str) -> std::result::Result<(), HubError> {
        if self.appids.is_some() && !self.components.iter().any(|c| c == appid) {
            return Err(HubError::invalid(format!(
                "{appid} is not a third-party platform"
            )));
        }
        Ok(())
    }
}

fn health() -> HubResponse {
    HubResponse::json(200, &json!({"status": "ok"}))
}

/// The protocol's success body for a token or a ticket.
fn token_answer(token: Result<Token>, ticket: Option<TicketType>) -> Answer {
    let token = token?;
    let body = match ticket {
        Some(t) => json!({
            "ticket": token.expose(),
            "type": t.as_str(),
            "expires_in": token.expires_in(),
            "timestamp": token.timestamp(),
        }),
        None => json!({
            "access_token": token.expose(),
            "expires_in": token.expires_in(),
            "timestamp": token.timestamp(),
        }),
    };
    Ok(HubResponse::json(200, &body))
}

/// An empty parameter counts as missing.
pub(super) fn optional(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Compares SHA-1 digests of both in constant time, so neither the
/// position of the first difference nor the secret's length shows in the
/// time taken.
fn same_secret(given: &str, expected: &str) -> bool {
    let a = sha1_smol::Sha1::from(given.as_bytes()).digest().bytes();
    let b = sha1_smol::Sha1::from(expected.as_bytes()).digest().bytes();
    crate::callback::constant_time_eq(&a, &b)
}

impl fmt::Debug for HubHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubHandler")
            .field("store", &self.store)
            .field("appids", &self.appids)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> HubHandler {
        HubHandler::builder()
            .account("wx1", "s1")
            .upstream("http://127.0.0.1:9")
            .bearer("b")
            .build()
            .unwrap()
    }

    fn reason(resp: &HubResponse) -> (u16, String) {
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        (resp.status, body["reason"].as_str().unwrap().to_string())
    }

    #[test]
    fn account_kind_mismatches_are_invalid_requests() {
        // The upstream refuses connections: an upstream call would be a 502.
        let hub = HubHandler::builder()
            .account("wx1", "s1")
            .component("wxc", "cs")
            .upstream("http://127.0.0.1:9")
            .build()
            .unwrap();
        for target in [
            "/client/access_token?appid=wxc",
            "/client/ticket?appid=wxc&type=jsapi",
            "/client/component_access_token?appid=wx1",
            "/client/access_token?appid=wx1&authorizer_appid=wxa",
            "/client/ticket?appid=wx1&type=wx_card&authorizer_appid=wxa",
        ] {
            let resp = hub.handle(&HubRequest::new("GET", target));
            assert_eq!(
                reason(&resp),
                (400, "invalid_request".to_string()),
                "{target}"
            );
        }
        for body in [
            r#"{"appid":"wxc","access_token":"T"}"#,
            r#"{"appid":"wx1","access_token":"T","authorizer_appid":"wxa"}"#,
        ] {
            let resp = hub.handle(&HubRequest::new("POST", "/refresh/access_token").body(body));
            assert_eq!(
                reason(&resp),
                (400, "invalid_request".to_string()),
                "{body}"
            );
        }
        let resp = hub.handle(
            &HubRequest::new("POST", "/client/refresh_component_access_token")
                .body(r#"{"appid":"wx1","access_token":"T"}"#),
        );
        assert_eq!(reason(&resp), (400, "invalid_request".to_string()));
        // An authorizer the hub holds no refresh token for.
        let resp = hub.handle(&HubRequest::new(
            "GET",
            "/client/access_token?appid=wxc&authorizer_appid=wx_never_authorized",
        ));
        assert_eq!(reason(&resp).0, 400);
    }

    #[test]
    fn routes_and_errors_without_upstream_calls() {
        let hub = hub();
        let auth = |r: HubRequest| r.header("authorization", "Bearer b");
        assert_eq!(hub.handle(&HubRequest::new("GET", "/healthz")).status, 200);
        let cases = [
            (
                HubRequest::new("GET", "/client/access_token?appid=wx1"),
                401,
                "unauthorized",
            ),
            (
                auth(HubRequest::new("GET", "/client/access_token")),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("GET", "/client/access_token?appid=")),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("GET", "/client/access_token?appid=wx9")),
                404,
                "unknown_appid",
            ),
            (
                auth(HubRequest::new("GET", "/client/ticket?appid=wx1")),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("GET", "/client/ticket?appid=wx1&type=x")),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("POST", "/refresh/access_token")),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("POST", "/refresh/access_token").body(r#"{"appid":"wx1"}"#)),
                400,
                "invalid_request",
            ),
            (
                auth(
                    HubRequest::new("POST", "/refresh/access_token")
                        .body(r#"{"appid":1,"access_token":"T"}"#),
                ),
                400,
                "invalid_request",
            ),
            (
                auth(HubRequest::new("GET", "/refresh/access_token")),
                405,
                "method_not_allowed",
            ),
            (auth(HubRequest::new("GET", "/nope")), 404, "not_found"),
        ];
        for (req, status, why) in cases {
            assert_eq!(
                reason(&hub.handle(&req)),
                (status, why.to_string()),
                "{req:?}"
            );
        }
    }

    #[test]
    fn bearer_is_compared_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    /// Hands out a numbered token per fetch, and counts them.
    #[cfg(feature = "hub")]
    #[derive(Debug, Default)]
    struct Numbered(std::sync::atomic::AtomicUsize);

    #[cfg(feature = "hub")]
    impl crate::TokenSource for Numbered {
        fn fetch(&self, _: &TokenKey, _: &crate::Context<'_>) -> Result<Token> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Token::new(format!("T{n}"), 7200))
        }
    }

    #[cfg(feature = "hub")]
    #[test]
    fn answers_at_once_only_what_needs_no_io() {
        let hub = HubHandler::builder()
            .source(Numbered::default())
            .build()
            .unwrap();
        let read = HubRequest::new("GET", "/client/access_token?appid=wx1");
        let at_once = |req: &HubRequest| hub.handle_at_once(req).map(|r| r.status);
        assert_eq!(at_once(&read), None, "nothing cached: the store is asked");
        assert_eq!(at_once(&HubRequest::new("GET", "/healthz")), Some(200));
        assert_eq!(
            at_once(&HubRequest::new("GET", "/client/access_token")),
            Some(400)
        );
        assert_eq!(
            at_once(&HubRequest::new("PUT", "/client/ticket")),
            Some(405)
        );
        let handled = hub.handle(&read);
        let cached = hub.handle_at_once(&read).expect("a cache hit");
        assert_eq!((cached.status, &cached.body), (200, &handled.body));
        let head = HubRequest::new("HEAD", "/client/access_token?appid=wx1");
        assert_eq!(at_once(&head), Some(200));
        let refresh = HubRequest::new("POST", "/refresh/access_token")
            .body(r#"{"appid":"wx1","access_token":"T0"}"#);
        assert_eq!(at_once(&refresh), None, "a refresh asks the store");
        assert_eq!(hub.handle(&refresh).status, 200);
        let after = hub.handle_at_once(&read).expect("the new token, cached");
        assert!(String::from_utf8_lossy(&after.body).contains(r#""access_token":"T1""#));
    }
}
