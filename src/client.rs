//! `Client`, its builder, and the one path every call takes:
//! resolve the token, get it from the cache, build, send, parse, and retry
//! (once on a rejected token, a bounded number of times on "system busy").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::http::{with_query, Http, OutBody, Outgoing, LARGE_BODY_CAP};
use crate::options::{Body, RequestOptions};
use crate::response::{self, Response};
use crate::secret::Secret;
use crate::sign::{self, JssdkConfig};
use crate::token::cache::TokenCache;
use crate::token::limit::RefreshLimit;
use crate::token::{Context, TicketType, Token, TokenKey, TokenSource};

/// How many times one call is retried with a new token after WeChat
/// rejected the one it carried: once per rejected token, since a token a
/// refresh hands back may have been revoked too when it came from another
/// caller's refresh (compare-and-swap hands out the current token without
/// asking WeChat).
///
/// ```
/// assert_eq!(wechat::TOKEN_RETRIES, 2);
/// ```
pub const TOKEN_RETRIES: usize = 2;

/// How a call is retried when WeChat answers errcode `-1` (system busy).
///
/// Retry `n` (counting from 0) sleeps a random time between half and all of
/// `min(base * 2^n, max)`. Other errcodes, 45009 (quota) included, are never
/// retried this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// How many times a busy answer is retried. `0` disables retrying.
    pub retries: u32,
    /// The first backoff.
    pub base: Duration,
    /// The largest backoff.
    pub max: Duration,
}

/// Where tokens go and how calls are made; shared by clones of a [`Client`].
pub(crate) struct Core {
    pub(crate) http: Http,
    pub(crate) cache: Arc<TokenCache>,
    source: Option<Arc<dyn TokenSource>>,
    appid: Option<String>,
    scheme: String,
    host: String,
    port: u16,
    busy: BusyRetry,
}

/// A WeChat API client: one HTTP agent, one token cache, one token source.
///
/// Cheap to clone; clones share the agent (and its connection pool) and the
/// cache. Build it with [`Client::builder`].
///
/// # Example
///
/// ```no_run
/// let client = wechat::Client::builder()
///     .appid("wx1234")
///     .token_source(wechat::HubSource::new("http://localhost:4000")?)
///     .build()?;
/// let resp = client.request(
///     wechat::RequestOptions::post("/cgi-bin/material/batchget_material")
///         .json(serde_json::json!({"type": "image", "offset": 0, "count": 10})),
/// )?;
/// println!("{}", resp.json()?["total_count"]);
/// # Ok::<(), wechat::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    core: Arc<Core>,
}

/// Builds a [`Client`]. All defaults are in its `Default` impl.
#[derive(Clone)]
pub struct ClientBuilder {
    appid: Option<String>,
    source: Option<Arc<dyn TokenSource>>,
    scheme: String,
    host: String,
    port: Option<u16>,
    connect_timeout: Duration,
    timeout: Duration,
    busy: BusyRetry,
    expiry_margin: Duration,
    refresh_limit: RefreshLimit,
    clock: Clock,
    read_through: Option<Duration>,
    shared: Option<(Http, Arc<TokenCache>)>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            appid: None,
            source: None,
            scheme: "https".to_string(),
            host: "api.weixin.qq.com".to_string(),
            port: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            busy: BusyRetry {
                retries: 3,
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            expiry_margin: Duration::from_secs(300),
            refresh_limit: RefreshLimit::default(),
            clock: Clock::system(),
            read_through: None,
            shared: None,
        }
    }
}

impl ClientBuilder {
    /// The account used when a call names none.
    ///
    /// Defaults to none: each call must then give an appid.
    pub fn appid(mut self, appid: impl Into<String>) -> ClientBuilder {
        self.appid = Some(appid.into());
        self
    }

    /// Where tokens come from: a [`SecretSource`](crate::SecretSource), a
    /// [`HubSource`](crate::HubSource) or your own [`TokenSource`].
    ///
    /// Defaults to none: only calls that carry no account token (such as
    /// `/sns/jscode2session` or a call marked
    /// [`no_token`](crate::RequestOptions::no_token)) then work.
    pub fn token_source(mut self, source: impl TokenSource + 'static) -> ClientBuilder {
        self.source = Some(Arc::new(source));
        self
    }

    /// The scheme paths are sent with, `https` or `http`.
    ///
    /// Defaults to `https`.
    pub fn scheme(mut self, scheme: impl Into<String>) -> ClientBuilder {
        self.scheme = scheme.into();
        self
    }

    /// The host paths are sent to, for example `api2.weixin.qq.com`.
    ///
    /// Defaults to `api.weixin.qq.com`.
    pub fn host(mut self, host: impl Into<String>) -> ClientBuilder {
        self.host = host.into();
        self
    }

    /// The port paths are sent to.
    ///
    /// Defaults to 443 for https and 80 for http.
    pub fn port(mut self, port: u16) -> ClientBuilder {
        self.port = Some(port);
        self
    }

    /// The time allowed to connect to a server, looking its name up
    /// included (a name's addresses are then kept for a minute).
    ///
    /// Defaults to 5 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// The time allowed for one whole HTTP exchange, connecting included.
    /// A call can override it with [`RequestOptions::timeout`].
    ///
    /// Defaults to 30 seconds.
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.timeout = timeout;
        self
    }

    /// How errcode `-1` (system busy) is retried.
    ///
    /// Defaults to 3 retries, backing off from 200 ms up to 2 s, jittered.
    pub fn busy_retry(mut self, busy: BusyRetry) -> ClientBuilder {
        self.busy = busy;
        self
    }

    /// The most a token is refreshed ahead of its expiry. The margin used is
    /// a tenth of the token's lifetime, capped at this value.
    ///
    /// Defaults to 300 seconds.
    pub fn expiry_margin(mut self, margin: Duration) -> ClientBuilder {
        self.expiry_margin = margin;
        self
    }

    /// How often a key's token may be fetched or refreshed from the token
    /// source: a burst, then one call per floor interval. A refresh the
    /// limit refuses fails with [`ErrorKind::RefreshLimited`], and the
    /// rejected token stays cached (WeChat may accept it again once a storm
    /// is over). [`RefreshLimit::unlimited`] turns it off.
    ///
    /// Defaults to [`RefreshLimit::default`]: 3 at once, then one per 30 s.
    pub fn refresh_limit(mut self, limit: RefreshLimit) -> ClientBuilder {
        self.refresh_limit = limit;
        self
    }

    /// Where the token cache reads the time: token expiry and the refresh
    /// limit. Tests pass a [`ManualClock`](crate::ManualClock)'s clock.
    ///
    /// Defaults to [`Clock::system`].
    pub fn clock(mut self, clock: Clock) -> ClientBuilder {
        self.clock = clock;
        self
    }

    /// Makes the cache a read-through copy of its source (a hub's store):
    /// a token is read again once it is `bound` old, and refreshes always
    /// ask the source.
    pub(crate) fn read_through(mut self, bound: Duration) -> ClientBuilder {
        self.read_through = Some(bound);
        self
    }

    /// The agent and cache a client built from these settings gets.
    pub(crate) fn parts(&self) -> (Http, Arc<TokenCache>) {
        (
            Http::new(self.connect_timeout, self.timeout),
            Arc::new(TokenCache::new(
                self.expiry_margin.as_secs(),
                self.refresh_limit,
                self.clock.clone(),
                self.read_through,
            )),
        )
    }

    pub(crate) fn shared(mut self, http: Http, cache: Arc<TokenCache>) -> ClientBuilder {
        self.shared = Some((http, cache));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error if the scheme is not `http` or `https`
    /// or the host is empty or contains a `/`.
    pub fn build(mut self) -> Result<Client> {
        if self.scheme != "https" && self.scheme != "http" {
            return Err(Error::config(format!(
                "scheme must be http or https, got {:?}",
                self.scheme
            )));
        }
        if self.host.is_empty() || self.host.contains(['/', '?', '#', '@']) {
            return Err(Error::config(format!(
                "host must be a bare host name, got {:?}",
                self.host
            )));
        }
        let port = self
            .port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 });
        let (http, cache) = match self.shared.take() {
            Some(shared) => shared,
            None => self.parts(),
        };
        Ok(Client {
            core: Arc::new(Core {
                http,
                cache,
                source: self.source,
                appid: self.appid,
                scheme: self.scheme,
                host: self.host,
                port,
                busy: self.busy,
            }),
        })
    }
}

/// How a call carries its credentials, decided from the options alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The token to append, and the query name it goes under.
    pub token: Option<(TokenKey, &'static str)>,
    /// Query pairs the SDK adds (component OAuth calls).
    pub query: Vec<(&'static str, String)>,
    /// A `component_appid` to put into the JSON body when it has none.
    pub body_component_appid: Option<String>,
}

/// What a third-party platform learns from `api_query_auth`: an
/// authorizer's tokens. Its refresh token is already stored when this is
/// returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizerTokens {
    /// The authorizer's appid.
    pub authorizer_appid: String,
    /// The authorizer's access token (also put into the client's cache).
    pub access_token: Token,
    /// The authorizer's refresh token.
    pub refresh_token: Secret,
    /// The permission sets granted, as WeChat sent them.
    pub func_info: serde_json::Value,
}

impl Client {
    /// A builder with every default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Calls a WeChat API with the right `access_token` appended.
    ///
    /// On errcode 40001, 40014 or 42001 the token that was used is refreshed
    /// (once for all concurrent callers) and the call is retried with the
    /// new one; if that one is rejected too (WeChat revoked every token of
    /// the account, and this one came from another caller's refresh), it is
    /// refreshed in turn and the call retried once more: one retry per
    /// rejected token, [`TOKEN_RETRIES`] at most. On
    /// errcode `-1` it is retried as the client's [`BusyRetry`] says.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Api`] when WeChat answers a non-zero `errcode`
    ///   (after the retries above);
    /// - [`ErrorKind::InvalidRequest`] when the URL is malformed, no appid is
    ///   given for a call that needs a token, or a form file is unreadable;
    /// - [`ErrorKind::Config`] when a token is needed and the client has no
    ///   token source;
    /// - the token source's error when no token could be had;
    /// - [`ErrorKind::HttpStatus`], [`ErrorKind::Transport`],
    ///   [`ErrorKind::Decode`] for answers that are not WeChat's;
    /// - [`ErrorKind::Decode`] for an answer larger than 64 MiB, which is
    ///   refused without reading the rest.
    pub fn request(&self, options: impl Into<RequestOptions>) -> Result<Response> {
        let mut options = options.into();
        let url = self.core.url_of(&options)?;
        let plan = self.core.plan(&options)?;
        if let Some(component_appid) = &plan.body_component_appid {
            fill_component_appid(&mut options, component_appid);
        }
        match &plan.token {
            None => self.core.send_busy(&options, &url, &plan, None),
            Some((key, _)) => self.core.with_token(key, |token| {
                self.core.send_busy(&options, &url, &plan, Some(token))
            }),
        }
    }

    /// Exchanges an authorization code (from the authorization redirect or
    /// an `authorized` push) for the authorizer's tokens through
    /// `/cgi-bin/component/api_query_auth` of platform `component_appid`
    /// (the client's appid if `None`). The refresh token is handed to the
    /// token source's [`save_refresh_token`](TokenSource::save_refresh_token)
    /// before anything else, then the access token is cached.
    ///
    /// # Errors
    ///
    /// As for [`Client::request`]; the source's error if the refresh token
    /// cannot be saved (the access token is then not cached);
    /// [`ErrorKind::Decode`] for an answer without `authorization_info`.
    pub fn query_auth(
        &self,
        component_appid: Option<&str>,
        authorization_code: &str,
    ) -> Result<AuthorizerTokens> {
        #[derive(serde::Deserialize)]
        struct Answer {
            authorization_info: Info,
        }
        #[derive(serde::Deserialize)]
        struct Info {
            authorizer_appid: String,
            authorizer_access_token: String,
            expires_in: u64,
            authorizer_refresh_token: String,
            #[serde(default)]
            func_info: serde_json::Value,
        }
        let component_appid = self.core.appid_or(component_appid)?.to_string();
        let resp = self.request(
            RequestOptions::post("/cgi-bin/component/api_query_auth")
                .appid(component_appid.as_str())
                .json(serde_json::json!({ "authorization_code": authorization_code })),
        )?;
        let info = resp.decode::<Answer>()?.authorization_info;
        if info.authorizer_refresh_token.is_empty() || info.authorizer_access_token.is_empty() {
            return Err(Error::decode("api_query_auth answer: a token is empty"));
        }
        let key = TokenKey::access_token(&component_appid).for_authorizer(&info.authorizer_appid);
        let refresh_token = Secret::new(info.authorizer_refresh_token);
        // Persist before use: a crash after this loses nothing.
        self.core
            .source()?
            .save_refresh_token(&key, &refresh_token)?;
        let access_token = Token::new(info.authorizer_access_token, info.expires_in);
        self.core.cache.insert(&key, access_token.clone());
        Ok(AuthorizerTokens {
            authorizer_appid: info.authorizer_appid,
            access_token,
            refresh_token,
            func_info: info.func_info,
        })
    }

    /// A token for `key` from the cache, fetched once if missing.
    ///
    /// # Errors
    ///
    /// The token source's error, or [`ErrorKind::Config`] without a source.
    pub fn token(&self, key: &TokenKey) -> Result<Token> {
        self.core.token(key)
    }

    /// A token for `key` other than `stale`, which WeChat rejected: if the
    /// cached token is still `stale` it is refreshed through the source
    /// (once for all concurrent callers); if it was already replaced, the
    /// replacement is returned with no call. This is the compare-and-swap a
    /// hub performs.
    ///
    /// # Errors
    ///
    /// The token source's error, or [`ErrorKind::Config`] without a source.
    pub fn refresh_token(&self, key: &TokenKey, stale: &Token) -> Result<Token> {
        self.core.refresh(key, stale)
    }

    /// Drops whatever the cache (and the source, see
    /// [`TokenSource::forget`]) holds for `key`, without fetching: for an
    /// authorizer that revoked the platform, say, whose token must not be
    /// served again. The next call for `key` fetches.
    pub fn forget_token(&self, key: &TokenKey) {
        self.core.cache.remove(key);
        if let Some(source) = &self.core.source {
            source.forget(key);
        }
    }

    /// Drops the cached token for `key` if it is `stale` (and only then), so
    /// the next call fetches another. Returns whether it was dropped.
    pub fn invalidate_token(&self, key: &TokenKey, stale: &Token) -> bool {
        self.core.cache.invalidate_if(key, stale)
    }

    /// A ticket of `appid` (the client's appid if `None`) through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::token`]; [`ErrorKind::InvalidRequest`] without appid.
    pub fn ticket(&self, appid: Option<&str>, ticket: TicketType) -> Result<Token> {
        let appid = self.core.appid_or(appid)?;
        self.core.token(&TokenKey::ticket(appid, ticket))
    }

    /// A ready `wx.config` for the page at `url` of account `appid` (the
    /// client's appid if `None`): the `jsapi` ticket is fetched through the
    /// cache and signed with a fresh noncestr and the current time.
    ///
    /// # Errors
    ///
    /// As for [`Client::ticket`].
    pub fn jssdk_config(&self, appid: Option<&str>, url: &str) -> Result<JssdkConfig> {
        let appid = self.core.appid_or(appid)?;
        self.jssdk_config_of(appid, TokenKey::ticket(appid, TicketType::Jsapi), url)
    }

    /// A ready `wx.config` for the page at `url` of an authorizer of the
    /// client's third-party platform (the client's appid is the component
    /// appid): the authorizer's `jsapi` ticket is fetched through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::ticket`].
    pub fn authorizer_jssdk_config(
        &self,
        authorizer_appid: &str,
        url: &str,
    ) -> Result<JssdkConfig> {
        let component_appid = self.core.appid_or(None)?;
        let key =
            TokenKey::ticket(component_appid, TicketType::Jsapi).for_authorizer(authorizer_appid);
        self.jssdk_config_of(authorizer_appid, key, url)
    }

    fn jssdk_config_of(&self, appid: &str, ticket_key: TokenKey, url: &str) -> Result<JssdkConfig> {
        let ticket = self.core.token(&ticket_key)?;
        let sig = sign::sign_jssdk(ticket.secret(), url);
        Ok(JssdkConfig {
            app_id: appid.to_string(),
            timestamp: sig.timestamp,
            nonce_str: sig.noncestr,
            signature: sig.signature,
        })
    }
}

impl Core {
    pub(crate) fn token(&self, key: &TokenKey) -> Result<Token> {
        let source = self.source()?;
        self.cache.get(key, source.limited_by_client(), || {
            source.fetch(key, &Context { core: self })
        })
    }

    /// Runs `call` with a token for `key`, refreshing and retrying once per
    /// token WeChat rejects, [`TOKEN_RETRIES`] times at most. The one place
    /// the token retry lives.
    pub(crate) fn with_token<T>(
        &self,
        key: &TokenKey,
        mut call: impl FnMut(&Token) -> Result<T>,
    ) -> Result<T> {
        let mut token = self.token(key)?;
        let mut retries = 0;
        loop {
            match call(&token) {
                Err(e) if e.is_token_expired() && retries < TOKEN_RETRIES => {
                    let next = self.refresh(key, &token)?;
                    if next.secret() == token.secret() {
                        // The source had nothing newer: WeChat's word stands.
                        return Err(e);
                    }
                    token = next;
                    retries += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn refresh(&self, key: &TokenKey, stale: &Token) -> Result<Token> {
        let source = self.source()?;
        self.cache
            .refresh(key, source.limited_by_client(), stale, || {
                source.refresh(key, stale, &Context { core: self })
            })
    }

    pub(crate) fn source(&self) -> Result<&Arc<dyn TokenSource>> {
        self.source
            .as_ref()
            .ok_or_else(|| Error::config("a token is needed but the client has no token source"))
    }

    fn appid_or<'a>(&'a self, appid: Option<&'a str>) -> Result<&'a str> {
        appid
            .or(self.appid.as_deref())
            .ok_or_else(|| Error::invalid("no appid: set one on the call or the client"))
    }

    /// Step 1: which token does this call need, under which name, and
    /// which parameters come with it? Pure.
    pub(crate) fn plan(&self, options: &RequestOptions) -> Result<Plan> {
        let path = path_of(&options.url);
        if options.no_token || NO_TOKEN_PATHS.contains(&path) {
            return Ok(Plan::default());
        }
        let inline = options
            .url
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(q))
            .into_iter()
            .flat_map(|q| q.split('&'))
            .map(|pair| pair.split('=').next().unwrap_or(pair));
        let names = options.query.iter().map(|(k, _)| k.as_str()).chain(inline);
        if let Some(name) = names
            .into_iter()
            .find(|k| *k == "access_token" || *k == "component_access_token")
        {
            return Err(Error::invalid(format!(
                "the query already has {name}: the client appends it"
            )));
        }
        let appid = self.appid_or(options.appid.as_deref())?;
        let component = || {
            (
                TokenKey::component_access_token(appid),
                "component_access_token",
            )
        };
        if path == "/cgi-bin/component/api_component_token" {
            return Ok(Plan {
                body_component_appid: Some(appid.to_string()),
                ..Plan::default()
            });
        }
        if path.starts_with("/cgi-bin/component/") {
            return Ok(Plan {
                token: Some(component()),
                query: Vec::new(),
                body_component_appid: Some(appid.to_string()),
            });
        }
        if path.starts_with("/sns/oauth2/component/") || path.starts_with("/sns/component/") {
            let authorizer = options.authorizer_appid.as_deref().ok_or_else(|| {
                Error::invalid(format!(
                    "{path} needs the authorizer's appid (authorizer_appid)"
                ))
            })?;
            return Ok(Plan {
                token: Some(component()),
                query: vec![
                    ("appid", authorizer.to_string()),
                    ("component_appid", appid.to_string()),
                ],
                body_component_appid: None,
            });
        }
        let key = TokenKey::access_token(appid);
        let key = match &options.authorizer_appid {
            Some(authorizer) => key.for_authorizer(authorizer),
            None => key,
        };
        Ok(Plan {
            token: Some((key, "access_token")),
            ..Plan::default()
        })
    }

    /// The URL a call goes to, without its query. Pure.
    pub(crate) fn url_of(&self, options: &RequestOptions) -> Result<String> {
        let url = options.url.as_str();
        if url.starts_with("http://") || url.starts_with("https://") {
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            if rest.is_empty() || rest.starts_with('/') {
                return Err(Error::invalid(format!(
                    "bad url {:?}",
                    crate::error::redact_url(url)
                )));
            }
            return Ok(url.to_string());
        }
        if !url.starts_with('/') {
            return Err(Error::invalid(format!(
                "url must be a path starting with / or a full http(s) url, got {:?}",
                crate::error::redact_url(url)
            )));
        }
        let scheme = options.scheme.as_deref().unwrap_or(&self.scheme);
        if scheme != "http" && scheme != "https" {
            return Err(Error::invalid(format!(
                "scheme must be http or https, got {scheme:?}"
            )));
        }
        let host = options.host.as_deref().unwrap_or(&self.host);
        let port = options.port.unwrap_or(if options.scheme.is_some() {
            if scheme == "https" {
                443
            } else {
                80
            }
        } else {
            self.port
        });
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(if port == default_port {
            format!("{scheme}://{host}{url}")
        } else {
            format!("{scheme}://{host}:{port}{url}")
        })
    }

    /// Steps 3-5 with the busy retry: build, send, parse.
    fn send_busy(
        &self,
        options: &RequestOptions,
        url: &str,
        plan: &Plan,
        token: Option<&Token>,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            match self.send_once(options, url, plan, token) {
                Err(e) if e.errcode() == Some(-1) && attempt < self.busy.retries => {
                    std::thread::sleep(backoff(&self.busy, attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn send_once(
        &self,
        options: &RequestOptions,
        url: &str,
        plan: &Plan,
        token: Option<&Token>,
    ) -> Result<Response> {
        let token_name = plan
            .token
            .as_ref()
            .map_or("access_token", |(_, name)| *name);
        let query = options
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(plan.query.iter().map(|(k, v)| (*k, v.as_str())))
            .chain(token.map(|t| (token_name, t.secret())));
        let body = match &options.body {
            Body::Empty => OutBody::Empty,
            Body::Json(value) => OutBody::Json(value.to_string().into_bytes()),
            Body::Form(parts) => OutBody::Form(parts),
        };
        let incoming = self.http.send(Outgoing {
            method: options.method,
            url: with_query(url, query),
            headers: Vec::new(),
            body,
            timeout: options.timeout,
            max_body: LARGE_BODY_CAP,
        })?;
        response::parse(incoming)
    }
}

/// Puts `component_appid` into a JSON object body that lacks it (or into a
/// new body when a POST has none), as the component APIs require.
/// Paths that authenticate by appid + secret, by a user's code or by a
/// user's own token, never by the account's `access_token`: calls to them
/// need no appid, no token source and no token fetch. The component
/// variants (`/sns/oauth2/component/*`, `/sns/component/*`) carry the
/// component token and are routed apart.
pub(crate) const NO_TOKEN_PATHS: &[&str] = &[
    "/cgi-bin/token",
    "/cgi-bin/stable_token",
    "/cgi-bin/clear_quota/v2",
    "/sns/oauth2/access_token",
    "/sns/oauth2/refresh_token",
    "/sns/jscode2session",
    "/sns/userinfo",
    "/sns/auth",
];

fn fill_component_appid(options: &mut RequestOptions, component_appid: &str) {
    match &mut options.body {
        Body::Json(serde_json::Value::Object(map)) => {
            map.entry("component_appid")
                .or_insert_with(|| component_appid.into());
        }
        Body::Empty if options.method == crate::options::Method::Post => {
            options.body = Body::Json(serde_json::json!({ "component_appid": component_appid }));
        }
        _ => {}
    }
}

/// The path of a URL or path, without query or fragment.
fn path_of(url: &str) -> &str {
    let without_origin = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    };
    let end = without_origin
        .find(['?', '#'])
        .unwrap_or(without_origin.len());
    &without_origin[..end]
}

/// A jittered exponential backoff for retry `attempt`.
fn backoff(busy: &BusyRetry, attempt: u32) -> Duration {
    let full = busy
        .base
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(busy.max);
    let mut byte = [0u8; 1];
    // ok because jitter is best effort: without randomness, no jitter
    let _ = getrandom::fill(&mut byte);
    full / 2 + full / 2 * u32::from(byte[0]) / 255
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.core;
        f.debug_struct("Client")
            .field("appid", &core.appid)
            .field("source", &core.source)
            .field(
                "origin",
                &format_args!("{}://{}:{}", core.scheme, core.host, core.port),
            )
            .field("busy", &core.busy)
            .field("cached_keys", &core.cache.len())
            .finish()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("appid", &self.appid)
            .field("source", &self.source)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn client() -> Client {
        Client::builder().appid("wxA").build().unwrap()
    }

    fn token_of(c: &Client, o: RequestOptions) -> Option<(TokenKey, &'static str)> {
        c.core.plan(&o).unwrap().token
    }

    #[test]
    fn resolves_which_token_a_call_needs() {
        let c = client();
        assert_eq!(
            c.core.plan(&RequestOptions::get("/sns/userinfo")).unwrap(),
            Plan::default()
        );
        assert_eq!(
            c.core
                .plan(&RequestOptions::get(
                    "https://api.weixin.qq.com/sns/auth?x=1"
                ))
                .unwrap(),
            Plan::default()
        );
        assert_eq!(
            token_of(&c, RequestOptions::get("/cgi-bin/user/get")),
            Some((TokenKey::access_token("wxA"), "access_token"))
        );
        assert_eq!(
            token_of(&c, RequestOptions::get("/cgi-bin/user/get").appid("wxB")),
            Some((TokenKey::access_token("wxB"), "access_token"))
        );
        let no_appid = Client::builder().build().unwrap();
        let err = no_appid
            .core
            .plan(&RequestOptions::get("/cgi-bin/x"))
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidRequest { .. }));
    }

    #[test]
    fn routes_component_calls() {
        let c = client();
        let component = Some((
            TokenKey::component_access_token("wxA"),
            "component_access_token",
        ));
        let plan = c
            .core
            .plan(&RequestOptions::post(
                "/cgi-bin/component/api_create_preauthcode",
            ))
            .unwrap();
        assert_eq!(plan.token, component);
        assert_eq!(plan.body_component_appid.as_deref(), Some("wxA"));

        let plan = c
            .core
            .plan(
                &RequestOptions::get("/sns/oauth2/component/access_token")
                    .authorizer_appid("wxAuth"),
            )
            .unwrap();
        assert_eq!(plan.token, component);
        assert_eq!(
            plan.query,
            vec![
                ("appid", "wxAuth".to_string()),
                ("component_appid", "wxA".to_string())
            ]
        );
        assert!(c
            .core
            .plan(&RequestOptions::get("/sns/component/jscode2session"))
            .is_err());

        assert_eq!(
            token_of(
                &c,
                RequestOptions::get("/cgi-bin/user/get").authorizer_appid("wxAuth")
            ),
            Some((
                TokenKey::access_token("wxA").for_authorizer("wxAuth"),
                "access_token"
            ))
        );
        let plan = c
            .core
            .plan(&RequestOptions::post(
                "/cgi-bin/component/api_component_token",
            ))
            .unwrap();
        assert_eq!(plan.token, None);
    }

    #[test]
    fn fills_component_appid_only_when_absent() {
        let mut o = RequestOptions::post("/x").json(serde_json::json!({"a": 1}));
        fill_component_appid(&mut o, "wxC");
        assert!(
            matches!(&o.body, Body::Json(v) if v == &serde_json::json!({"a": 1, "component_appid": "wxC"}))
        );
        let mut o = RequestOptions::post("/x").json(serde_json::json!({"component_appid": "mine"}));
        fill_component_appid(&mut o, "wxC");
        assert!(matches!(&o.body, Body::Json(v) if v["component_appid"] == "mine"));
        let mut o = RequestOptions::post("/x");
        fill_component_appid(&mut o, "wxC");
        assert!(
            matches!(&o.body, Body::Json(v) if v == &serde_json::json!({"component_appid": "wxC"}))
        );
    }

    #[test]
    fn builds_urls_from_path_host_scheme_port() {
        let c = client();
        let url = |o: RequestOptions| c.core.url_of(&o);
        assert_eq!(
            url(RequestOptions::get("/a")).unwrap(),
            "https://api.weixin.qq.com/a"
        );
        assert_eq!(
            url(RequestOptions::get("/a")
                .host("127.0.0.1")
                .scheme("http")
                .port(8080))
            .unwrap(),
            "http://127.0.0.1:8080/a"
        );
        assert_eq!(
            url(RequestOptions::get("/a").host("api2.weixin.qq.com")).unwrap(),
            "https://api2.weixin.qq.com/a"
        );
        assert_eq!(
            url(RequestOptions::get("http://h:1/x?y=1")).unwrap(),
            "http://h:1/x?y=1"
        );
        for bad in ["cgi-bin/x", "ftp://h/x", "http:///x", ""] {
            assert!(
                matches!(
                    url(RequestOptions::get(bad)).unwrap_err().kind(),
                    ErrorKind::InvalidRequest { .. }
                ),
                "{bad}"
            );
        }
        assert!(url(RequestOptions::get("/a").scheme("gopher")).is_err());
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let busy = BusyRetry {
            retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for attempt in 0..40 {
            let d = backoff(&busy, attempt);
            let full = Duration::from_millis(100 * 2u64.pow(attempt.min(10))).min(busy.max);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn builder_rejects_bad_origin() {
        assert!(Client::builder().scheme("ftp").build().is_err());
        assert!(Client::builder().host("a/b").build().is_err());
    }
}
