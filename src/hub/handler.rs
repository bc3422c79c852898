//! `HubHandler`: the hub protocol as a function from request to response,
//! for any HTTP server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::source::StoreSource;
use super::store::{MemoryStore, Store};
use super::upstream::{StoreRefreshTokens, StoreTickets, Upstream};
use crate::client::Client;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;
use crate::token::component::ComponentSource;
use crate::token::limit::RefreshLimit;
use crate::token::secret::DEFAULT_BASE_URL;
use crate::token::{TicketType, Token, TokenKey, TokenSource};
use crate::SecretSource;
#[cfg(feature = "crypto")]
use crate::{ComponentPush, Message, MessageCrypto, MessageKind};
#[cfg(feature = "crypto")]
use std::collections::HashMap;

/// The largest request body a hub reads; protocol bodies are tiny.
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// An HTTP request as the hub sees it: build it from whatever your server
/// hands you.
///
/// # Example
///
/// ```
/// let req = wechat::hub::HubRequest::new("GET", "/client/access_token?appid=wx1")
///     .header("Authorization", "Bearer s");
/// assert_eq!(req.path, "/client/access_token");
/// assert_eq!(req.query, vec![("appid".to_string(), "wx1".to_string())]);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct HubRequest {
    /// The method, upper case: `GET`, `POST`.
    pub method: String,
    /// The path, without its query.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HubRequest {
    /// A request for `target`, a path with an optional form-encoded query
    /// (`/client/ticket?appid=wx1&type=jsapi`), with no headers and no body.
    pub fn new(method: &str, target: &str) -> HubRequest {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, parse_query(q)),
            None => (target, Vec::new()),
        };
        HubRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> HubRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    ///
    /// Defaults to empty.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HubRequest {
        self.body = body.into();
        self
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    #[cfg(feature = "testing")]
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for HubRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Path only: queries, headers and bodies carry tokens and secrets.
        f.debug_struct("HubRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The hub's answer: a status, headers and a JSON (or, for callbacks,
/// plain text) body.
#[derive(Clone)]
#[non_exhaustive]
pub struct HubResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send, `Content-Type` included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HubResponse {
    #[cfg(feature = "testing")]
    pub(crate) fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> HubResponse {
        HubResponse {
            status,
            headers,
            body,
        }
    }

    fn json(status: u16, value: &Value) -> HubResponse {
        HubResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }
}

impl fmt::Debug for HubResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body carries tokens.
        f.debug_struct("HubResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Answers the hub protocol over this crate's own token sources, whatever
/// HTTP server carries it.
///
/// Endpoints (see the protocol in [`HubSource`](crate::HubSource)'s
/// crate docs): `GET /client/access_token`, `POST /refresh/access_token`,
/// `GET /client/component_access_token`,
/// `POST /client/refresh_component_access_token`, `GET /client/ticket`,
/// and `GET /healthz`.
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
/// `wechat_error` (502, with WeChat's
/// errcode), `upstream_unavailable` (502), `store_unavailable` (503).
///
/// # Example
///
/// ```
/// use wechat::hub::{HubHandler, HubRequest};
/// use wechat::testing::FakeWechat;
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
    client: Client,
    store: Arc<dyn Store>,
    appids: Option<Vec<String>>,
    /// The third-party platforms among `appids`.
    components: Vec<String>,
    bearer: Option<Secret>,
    errors_with_200: bool,
    #[cfg(feature = "crypto")]
    callbacks: HashMap<String, MessageCrypto>,
}

/// Builds a [`HubHandler`]. All defaults are in its `Default` impl.
pub struct HubHandlerBuilder {
    accounts: Vec<(String, Secret)>,
    components: Vec<(String, Secret)>,
    #[cfg(feature = "crypto")]
    callbacks: HashMap<String, MessageCrypto>,
    source: Option<Arc<dyn TokenSource>>,
    store: Arc<dyn Store>,
    upstream: String,
    stable: bool,
    bearer: Option<Secret>,
    lock_ttl: Duration,
    lock_wait: Duration,
    timeout: Duration,
    errors_with_200: bool,
    refresh_limit: RefreshLimit,
    max_staleness: Duration,
    clock: Clock,
}

impl Default for HubHandlerBuilder {
    fn default() -> HubHandlerBuilder {
        HubHandlerBuilder {
            accounts: Vec::new(),
            components: Vec::new(),
            #[cfg(feature = "crypto")]
            callbacks: HashMap::new(),
            source: None,
            store: Arc::new(MemoryStore::new()),
            upstream: DEFAULT_BASE_URL.to_string(),
            stable: false,
            bearer: None,
            // Up to four upstream calls run under one lock (a ticket's
            // access token fetch, a rejected token's refresh and retry, the
            // ticket itself): the lock outlasts four 10 s timeouts.
            lock_ttl: Duration::from_secs(45),
            lock_wait: Duration::from_secs(50),
            timeout: Duration::from_secs(10),
            errors_with_200: false,
            refresh_limit: RefreshLimit::default(),
            max_staleness: Duration::from_secs(1),
            clock: Clock::system(),
        }
    }
}

impl HubHandlerBuilder {
    /// Serves an official account whose tokens the hub fetches with its
    /// appid and secret.
    ///
    /// Defaults to no accounts.
    pub fn account(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.accounts.push((appid.into(), secret.into()));
        self
    }

    /// Serves a third-party platform: its component access token (with the
    /// latest verify ticket in the store), and its authorizers' access
    /// tokens and tickets (with their refresh tokens in the store). Verify
    /// tickets and authorizations arrive at the
    /// [`component_callback`](HubHandlerBuilder::component_callback).
    ///
    /// Defaults to no platforms.
    pub fn component(
        mut self,
        component_appid: impl Into<String>,
        component_appsecret: impl Into<Secret>,
    ) -> Self {
        self.components
            .push((component_appid.into(), component_appsecret.into()));
        self
    }

    /// Receives the platform's encrypted pushes at
    /// `POST /callback/component/<component appid>` (its "authorization
    /// event URL"), decrypted with `crypto` (whose appid is the platform's):
    /// `component_verify_ticket` is stored; `authorized` and
    /// `updateauthorized` exchange the authorization code for the
    /// authorizer's tokens and store its refresh token; `unauthorized`
    /// forgets the authorizer. Answers `success`. No bearer secret is asked
    /// there: the push's `msg_signature` authenticates it.
    ///
    /// Defaults to no callback.
    #[cfg(feature = "crypto")]
    pub fn component_callback(mut self, crypto: MessageCrypto) -> Self {
        self.callbacks.insert(crypto.app_id().to_string(), crypto);
        self
    }

    /// Serves whatever `source` fetches instead of the
    /// [`account`](HubHandlerBuilder::account)s: any appid is passed to it.
    ///
    /// Defaults to none: a [`SecretSource`] over the accounts.
    pub fn source(mut self, source: impl TokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Where tokens, tickets and the refresh lock are kept.
    ///
    /// Defaults to a [`MemoryStore`].
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The WeChat origin the accounts' tokens are fetched from, for example
    /// a fake WeChat's `http://127.0.0.1:port`.
    ///
    /// Defaults to `https://api.weixin.qq.com`.
    pub fn upstream(mut self, base_url: impl Into<String>) -> Self {
        self.upstream = base_url.into();
        self
    }

    /// Fetches the accounts' tokens from `/cgi-bin/stable_token` (see
    /// [`SecretSource::stable`]).
    ///
    /// Defaults to `false`.
    pub fn stable(mut self, stable: bool) -> Self {
        self.stable = stable;
        self
    }

    /// Requires `Authorization: Bearer <secret>` on every endpoint but
    /// `/healthz`; other requests get 401 and no token.
    ///
    /// Defaults to none: anyone who can reach the hub gets tokens.
    pub fn bearer(mut self, secret: impl Into<Secret>) -> Self {
        self.bearer = Some(secret.into());
        self
    }

    /// See [`StoreSource::lock_ttl`].
    ///
    /// Defaults to 45 seconds: four upstream timeouts and a margin.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// See [`StoreSource::lock_wait`].
    ///
    /// Defaults to 50 seconds.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The time allowed for one upstream HTTP exchange.
    ///
    /// Defaults to 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Answers errors with HTTP 200, as elixir_wechat's hub does (the body's
    /// `http_status` still says what happened).
    ///
    /// Defaults to `false`: errors carry their own 4xx/5xx status.
    pub fn errors_with_200(mut self, yes: bool) -> Self {
        self.errors_with_200 = yes;
        self
    }

    /// How often WeChat may be asked for a key's token, by all replicas
    /// sharing the store together: a burst, then one call per floor
    /// interval. A refused refresh is answered with reason
    /// `refresh_limited` (HTTP 429) and `retry_after` seconds.
    ///
    /// Defaults to [`RefreshLimit::default`]: 3 at once, then one per 30 s.
    pub fn refresh_limit(mut self, limit: RefreshLimit) -> Self {
        self.refresh_limit = limit;
        self
    }

    /// The longest this replica serves a token after reading it from the
    /// store: past it, the next request reads the store again (one read
    /// for all concurrent requests). So a replica never hands out a token
    /// that another replica replaced in the store more than this long ago.
    /// Refreshes are not affected: they are always compared against the
    /// store's token, under its lock. While the store cannot be read, the
    /// last token read is served until it expires (no replica can replace
    /// it meanwhile).
    ///
    /// Defaults to 1 second.
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// Where the refresh limit and token freshness read the time.
    ///
    /// Defaults to [`Clock::system`].
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the handler.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error if there are neither accounts nor a
    /// source, if an appid is empty or given twice, or if the upstream is
    /// not an http(s) URL.
    pub fn build(self) -> Result<HubHandler> {
        let component_appids: Vec<String> =
            self.components.iter().map(|(a, _)| a.clone()).collect();
        let (upstream, appids): (Arc<dyn TokenSource>, _) = match self.source {
            Some(source) => (source, None),
            None => {
                let mut appids: Vec<String> = Vec::new();
                for (appid, _) in self.accounts.iter().chain(&self.components) {
                    if appid.is_empty() || appids.contains(appid) {
                        return Err(Error::config(format!(
                            "hub appid {appid:?} is empty or given twice"
                        )));
                    }
                    appids.push(appid.clone());
                }
                if appids.is_empty() {
                    return Err(Error::config(
                        "a hub needs at least one account or component",
                    ));
                }
                let mut accounts = self.accounts.into_iter();
                let accounts = accounts.next().map(|(appid, secret)| {
                    accounts
                        .fold(SecretSource::new(appid, secret), |s, (a, k)| {
                            s.account(a, k)
                        })
                        .base_url(self.upstream.clone())
                        .stable(self.stable)
                });
                let components = self
                    .components
                    .into_iter()
                    .map(|(appid, secret)| {
                        let source = ComponentSource::new(
                            appid.clone(),
                            secret,
                            StoreTickets(self.store.clone()),
                            StoreRefreshTokens(self.store.clone()),
                        )
                        .base_url(self.upstream.clone());
                        (appid, source)
                    })
                    .collect();
                let upstream = Upstream {
                    accounts,
                    components,
                };
                (Arc::new(upstream), Some(appids))
            }
        };
        let (scheme, host, port) = split_origin(&self.upstream)?;
        let source = StoreSource::from_arcs(self.store.clone(), upstream)
            .lock_ttl(self.lock_ttl)
            .lock_wait(self.lock_wait)
            .refresh_limit(self.refresh_limit)
            .clock(self.clock.clone());
        // The store is the truth: this replica's cache only reads through
        // it (the source limits upstream calls, through the store). The
        // hub's own calls (api_query_auth) go upstream too.
        let client = Client::builder()
            .token_source(source)
            .read_through(self.max_staleness)
            .clock(self.clock)
            .timeout(self.timeout)
            .scheme(scheme)
            .host(host)
            .port(port)
            .build()?;
        Ok(HubHandler {
            client,
            store: self.store,
            appids,
            components: component_appids,
            bearer: self.bearer,
            errors_with_200: self.errors_with_200,
            #[cfg(feature = "crypto")]
            callbacks: self.callbacks,
        })
    }
}

/// `(scheme, host, port)` of an `http(s)://host[:port]` origin.
fn split_origin(url: &str) -> Result<(String, String, u16)> {
    let bad = || {
        Error::config(format!(
            "hub upstream must be http(s)://host[:port], got {:?}",
            crate::error::redact_url(url)
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad()),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(bad());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
            (host, port.parse().map_err(|_| bad())?)
        }
        _ => (rest, default),
    };
    Ok((scheme.to_string(), host.to_string(), port))
}

impl HubHandler {
    /// A builder with every default.
    pub fn builder() -> HubHandlerBuilder {
        HubHandlerBuilder::default()
    }

    /// The store tokens are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Answers one request. Never panics on bad input: a missing or
    /// malformed parameter is an `invalid_request` error body.
    pub fn handle(&self, req: &HubRequest) -> HubResponse {
        let route = (req.method.as_str(), req.path.as_str());
        if route == ("GET", "/healthz") {
            return HubResponse::json(200, &json!({"status": "ok"}));
        }
        #[cfg(feature = "crypto")]
        if let Some(appid) = req.path.strip_prefix("/callback/component/") {
            if req.method != "POST" {
                return self.failure(405, "method_not_allowed", "pushes are POSTed");
            }
            return self.callback(appid, req).unwrap_or_else(|resp| resp);
        }
        if let Some(expected) = &self.bearer {
            let given = req
                .header_value("authorization")
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|g| same_secret(g, expected.expose())) {
                let mut resp = self.failure(401, "unauthorized", "missing or wrong bearer secret");
                resp.headers
                    .push(("WWW-Authenticate".into(), "Bearer".into()));
                return resp;
            }
        }
        let result = match route {
            ("GET", "/client/access_token") => self.access_token(req),
            ("POST", "/refresh/access_token") => self.refresh(req, false),
            ("GET", "/client/component_access_token") => self.component_access_token(req),
            ("POST", "/client/refresh_component_access_token") => self.refresh(req, true),
            ("GET", "/client/ticket") => self.ticket(req),
            (_, path) if ROUTES.contains(&path) || path == "/healthz" => Err(self.failure(
                405,
                "method_not_allowed",
                &format!("{} is not allowed on {path}", req.method),
            )),
            (_, path) => Err(self.failure(404, "not_found", &format!("no such endpoint {path}"))),
        };
        result.unwrap_or_else(|resp| resp)
    }

    /// A third-party platform's push: verify, decrypt, act, answer `success`.
    #[cfg(feature = "crypto")]
    fn callback(&self, appid: &str, req: &HubRequest) -> Answer {
        let Some(crypto) = self.callbacks.get(appid) else {
            return Err(self.failure(
                404,
                "unknown_appid",
                &format!("this hub has no callback for {appid}"),
            ));
        };
        let param = |name: &str| optional(req.param(name));
        let (Some(signature), Some(timestamp), Some(nonce)) =
            (param("msg_signature"), param("timestamp"), param("nonce"))
        else {
            return Err(self.invalid("missing parameter msg_signature, timestamp or nonce"));
        };
        let body =
            std::str::from_utf8(&req.body).map_err(|_| self.invalid("the body is not UTF-8"))?;
        let xml = crypto
            .decrypt(signature, timestamp, nonce, body)
            .map_err(|e| self.failure(400, "invalid_request", &e.to_string()))?;
        let message = Message::parse(&xml)
            .map_err(|e| self.failure(400, "invalid_request", &e.to_string()))?;
        let answer = |r: Result<()>| r.map_err(|e| self.error_answer(&e));
        match message.into_kind() {
            MessageKind::Component(ComponentPush::VerifyTicket { ticket, .. }) => {
                answer(self.store.put_verify_ticket(appid, &ticket))?;
            }
            MessageKind::Component(
                ComponentPush::Authorized(auth) | ComponentPush::UpdateAuthorized(auth),
            ) => {
                // query_auth saves the refresh token through the store
                // before anything uses the access token.
                let tokens = self
                    .client
                    .query_auth(Some(appid), auth.authorization_code.expose())
                    .map_err(|e| self.error_answer(&e))?;
                let key = TokenKey::access_token(appid).for_authorizer(&tokens.authorizer_appid);
                answer(self.store.put_token(&key, &tokens.access_token))?;
            }
            MessageKind::Component(ComponentPush::Unauthorized {
                authorizer_app_id, ..
            }) => {
                answer(self.store.remove_authorizer(appid, &authorizer_app_id))?;
                // Forget, never fetch: the authorizer is gone.
                let access = TokenKey::access_token(appid).for_authorizer(&authorizer_app_id);
                let jsapi =
                    TokenKey::ticket(appid, TicketType::Jsapi).for_authorizer(&authorizer_app_id);
                let card =
                    TokenKey::ticket(appid, TicketType::WxCard).for_authorizer(&authorizer_app_id);
                for key in [access, jsapi, card] {
                    self.client.forget_token(&key);
                }
            }
            _ => {}
        }
        Ok(HubResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"success".to_vec(),
        })
    }

    fn access_token(&self, req: &HubRequest) -> Answer {
        let appid = self.appid(req.param("appid"))?;
        let authorizer = optional(req.param("authorizer_appid"));
        self.check_authorizer(appid, authorizer)?;
        let mut key = TokenKey::access_token(appid);
        if let Some(authorizer) = authorizer {
            key = key.for_authorizer(authorizer);
        }
        self.token_answer(self.client.token(&key), None)
    }

    fn component_access_token(&self, req: &HubRequest) -> Answer {
        let appid = self.appid(req.param("appid"))?;
        self.check_component(appid)?;
        self.token_answer(
            self.client.token(&TokenKey::component_access_token(appid)),
            None,
        )
    }

    fn refresh(&self, req: &HubRequest, component: bool) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return Err(self.invalid("the body must be a JSON object"));
        };
        let field = |name: &str| -> std::result::Result<Option<&str>, HubResponse> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(self.invalid(&format!("{name} must be a string"))),
            }
        };
        let appid = self.appid(field("appid")?)?;
        let Some(stale) = optional(field("access_token")?) else {
            return Err(self.invalid("missing parameter access_token"));
        };
        let authorizer = optional(field("authorizer_appid")?);
        let mut key = if component {
            if authorizer.is_some() {
                return Err(self.invalid("a component access token has no authorizer_appid"));
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
        let stale = Token::new(stale, 0);
        self.token_answer(self.client.refresh_token(&key, &stale), None)
    }

    fn ticket(&self, req: &HubRequest) -> Answer {
        let appid = self.appid(req.param("appid"))?;
        let ticket = match req.param("type") {
            Some("jsapi") => TicketType::Jsapi,
            Some("wx_card") => TicketType::WxCard,
            None | Some("") => return Err(self.invalid("missing parameter type")),
            Some(_) => return Err(self.invalid("type must be jsapi or wx_card")),
        };
        let authorizer = optional(req.param("authorizer_appid"));
        self.check_authorizer(appid, authorizer)?;
        let mut key = TokenKey::ticket(appid, ticket);
        if let Some(authorizer) = authorizer {
            key = key.for_authorizer(authorizer);
        }
        self.token_answer(self.client.token(&key), Some(ticket))
    }

    /// The appid parameter, present and served by this hub.
    fn appid<'a>(&self, appid: Option<&'a str>) -> std::result::Result<&'a str, HubResponse> {
        let Some(appid) = optional(appid) else {
            return Err(self.invalid("missing parameter appid"));
        };
        match &self.appids {
            Some(appids) if !appids.iter().any(|a| a == appid) => Err(self.failure(
                404,
                "unknown_appid",
                &format!("this hub serves no account {appid}"),
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
    ) -> std::result::Result<(), HubResponse> {
        if self.appids.is_none() {
            return Ok(());
        }
        match (self.components.iter().any(|c| c == appid), authorizer) {
            (true, None) => Err(self.invalid(&format!(
                "{appid} is a third-party platform: authorizer_appid is required"
            ))),
            (false, Some(_)) => Err(self.invalid(&format!(
                "{appid} is an official account: it has no authorizer_appid"
            ))),
            _ => Ok(()),
        }
    }

    /// Only a third-party platform has a component access token.
    fn check_component(&self, appid: &str) -> std::result::Result<(), HubResponse> {
        if self.appids.is_some() && !self.components.iter().any(|c| c == appid) {
            return Err(self.invalid(&format!("{appid} is not a third-party platform")));
        }
        Ok(())
    }

    fn token_answer(&self, token: Result<Token>, ticket: Option<TicketType>) -> Answer {
        let token = token.map_err(|e| self.error_answer(&e))?;
        let body = match ticket {
            Some(t) => json!({
                "ticket": token.secret(),
                "type": t.as_str(),
                "expires_in": token.expires_in(),
                "timestamp": token.timestamp(),
            }),
            None => json!({
                "access_token": token.secret(),
                "expires_in": token.expires_in(),
                "timestamp": token.timestamp(),
            }),
        };
        Ok(HubResponse::json(200, &body))
    }

    fn error_answer(&self, e: &Error) -> HubResponse {
        // The cause (an I/O or Redis error) is what an operator needs.
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&crate::error::redact_text(&c.to_string()));
            cause = c.source();
        }
        if let ErrorKind::RefreshLimited {
            key,
            retry_after,
            rejected_after,
        } = e.kind()
        {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut extra = json!({"key": key, "retry_after": secs});
            if let Some(age) = rejected_after {
                extra["rejected_after"] = age.as_secs().into();
            }
            let mut resp = self.failure_with(429, "refresh_limited", &message, None, extra);
            resp.headers.push(("Retry-After".into(), secs.to_string()));
            return resp;
        }
        let (status, reason, errcode) = match e.kind() {
            ErrorKind::Api { errcode, .. } => (502, "wechat_error", Some(*errcode)),
            ErrorKind::Hub { errcode, .. } => (502, "wechat_error", *errcode),
            ErrorKind::Store { .. } => (503, "store_unavailable", None),
            ErrorKind::InvalidRequest { .. } => (400, "invalid_request", None),
            ErrorKind::Transport { .. }
            | ErrorKind::HttpStatus { .. }
            | ErrorKind::Decode { .. } => (502, "upstream_unavailable", None),
            _ => (500, "hub_error", None),
        };
        self.failure_with(status, reason, &message, errcode, json!({}))
    }

    fn invalid(&self, message: &str) -> HubResponse {
        self.failure(400, "invalid_request", message)
    }

    fn failure(&self, status: u16, reason: &str, message: &str) -> HubResponse {
        self.failure_with(status, reason, message, None, json!({}))
    }

    /// The Elixir hub's error body. `errcode` is WeChat's when it answered
    /// one, else the HTTP status (as the Elixir hub does).
    fn failure_with(
        &self,
        status: u16,
        reason: &str,
        message: &str,
        errcode: Option<i64>,
        extra: Value,
    ) -> HubResponse {
        let mut body = json!({
            "errcode": errcode.unwrap_or(i64::from(status)),
            "message": message,
            "reason": reason,
            "http_status": status,
        });
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        HubResponse::json(if self.errors_with_200 { 200 } else { status }, &body)
    }
}

type Answer = std::result::Result<HubResponse, HubResponse>;

/// The protocol's paths, for telling 405 from 404.
const ROUTES: &[&str] = &[
    "/client/access_token",
    "/refresh/access_token",
    "/client/component_access_token",
    "/client/refresh_component_access_token",
    "/client/ticket",
];

/// An empty parameter counts as missing.
fn optional(value: Option<&str>) -> Option<&str> {
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

impl fmt::Debug for HubHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubHandler")
            .field("store", &self.store)
            .field("appids", &self.appids)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HubHandlerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let appids: Vec<&str> = self.accounts.iter().map(|(a, _)| a.as_str()).collect();
        f.debug_struct("HubHandlerBuilder")
            .field("appids", &appids)
            .field("upstream", &self.upstream)
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

    #[test]
    fn queries_are_form_decoded() {
        assert_eq!(
            parse_query("a=1+2&b=x%26y&c"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "x&y".into()),
                ("c".into(), String::new())
            ]
        );
    }
}
