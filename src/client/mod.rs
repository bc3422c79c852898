//! `Client` and the one path every call takes:
//! resolve the token, get it from the cache, build, send, parse, and retry
//! (once on a rejected token, a bounded number of times on "system busy").
//!
//! The builder and its defaults are in `builder.rs`, routing (which token,
//! which URL) in `route.rs`, the busy retry in `retry.rs`, the authorizer
//! exchange in `authorizer.rs`, tickets and JSSDK in `jssdk.rs`.

mod authorizer;
mod builder;
mod jssdk;
mod retry;
mod route;
#[cfg(feature = "api-security")]
mod secured;
mod sends;

use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{ApiCall, Error, Result};
use crate::http::{with_query, Http, OutBody, Outgoing, LARGE_BODY_CAP};
use crate::options::{Body, RequestOptions};
use crate::response::{self, Response};
use crate::token::{Token, TokenKey, Tokens};
#[cfg(doc)]
use crate::token::{TokenSource, TOKEN_RETRIES};

use crate::origin::Origin;
pub use authorizer::AuthorizerTokens;
pub use builder::ClientBuilder;
pub use retry::{BusyRetry, Retry};
use route::{fill_component_appid, Plan};

/// Where tokens come from and where calls go; shared by clones of a
/// [`Client`].
struct Core {
    tokens: Tokens,
    http: Http,
    appid: Option<String>,
    origin: Origin,
    busy: BusyRetry,
    #[cfg(feature = "api-security")]
    api_security: Option<crate::api_security::ApiSecurity>,
    /// The token cache's clock, read for a secured call's timestamps.
    #[cfg(feature = "api-security")]
    clock: crate::clock::Clock,
}

/// A WeChat API client: one HTTP agent, one token cache, one token source.
///
/// Cheap to clone; clones share the agent (and its connection pool) and the
/// cache. Build it with [`Client::builder`].
///
/// # Example
///
/// ```no_run
/// let secret = std::env::var("WECHAT_SECRET").expect("WECHAT_SECRET");
/// let client = weixin::Client::builder()
///     .appid("wx1234")
///     .token_source(weixin::SecretSource::new("wx1234", secret))
///     .build()?;
/// let resp = client.request(
///     weixin::RequestOptions::post("/cgi-bin/material/batchget_material")
///         .json(serde_json::json!({"type": "image", "offset": 0, "count": 10})),
/// )?;
/// println!("{}", resp.json()?["total_count"]);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    core: Arc<Core>,
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
    /// errcode `-1` a read is retried as the client's [`BusyRetry`] says; a
    /// call that sends or changes something
    /// ([`Retry::for_path`](crate::Retry::for_path)) is sent again only if
    /// its request never left, unless the options say otherwise
    /// ([`RequestOptions::retry`]). A request that never left goes to the
    /// next backup host first, if the client has any
    /// ([`ClientBuilder::backup_base_urls`]).
    ///
    /// # Errors
    ///
    /// Every error names this call ([`Error::call`](crate::Error::call):
    /// method, path and account, first in its `Display`):
    ///
    /// - [`ErrorKind::Api`] when WeChat answers a non-zero `errcode`
    ///   (after the retries above);
    /// - [`ErrorKind::InvalidRequest`] when the URL is malformed, no appid is
    ///   given for a call that needs a token, a form file is unreadable, or
    ///   the call names a token source
    ///   ([`RequestOptions::source`], for [`weixin::request`](crate::request) only);
    /// - [`ErrorKind::Config`] when a token is needed and the client has no
    ///   token source;
    /// - the token source's error when no token could be had;
    /// - [`ErrorKind::HttpStatus`], [`ErrorKind::Transport`],
    ///   [`ErrorKind::Decode`] for answers that are not WeChat's;
    /// - [`ErrorKind::Decode`] for an answer larger than 64 MiB, which is
    ///   refused without reading the rest.
    pub fn request(&self, options: impl Into<RequestOptions>) -> Result<Response> {
        self.call(options.into(), Ok)
    }

    /// Makes the call and reads its answer with `read`: every error, the
    /// call's or one found reading its answer, names the call
    /// ([`Error::call`](crate::Error::call)). The helpers (OAuth, mini
    /// program, authorizer exchange) make their calls through here.
    pub(crate) fn call<T>(
        &self,
        mut options: RequestOptions,
        read: impl FnOnce(Response) -> Result<T>,
    ) -> Result<T> {
        // Named only on failure: a call that succeeds copies nothing.
        self.core
            .request(&mut options)
            .and_then(read)
            .map_err(|e| e.in_call(|| self.core.call_of(&options)))
    }

    /// A token for `key` from the cache, fetched once if missing.
    ///
    /// # Errors
    ///
    /// The token source's error, or [`ErrorKind::Config`] without a source.
    pub fn token(&self, key: &TokenKey) -> Result<Token> {
        self.core.tokens.get(key)
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
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::TokenKey;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let key = TokenKey::access_token("wx1");
    /// let stale = client.token(&key)?;
    /// let fresh = client.refreshed_token(&key, &stale)?;
    /// assert_ne!(fresh, stale);
    /// // Reported stale again: the replacement, with no second call.
    /// assert_eq!(client.refreshed_token(&key, &stale)?, fresh);
    /// assert_eq!(fake.count("/cgi-bin/token"), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refreshed_token(&self, key: &TokenKey, stale: &Token) -> Result<Token> {
        self.core.tokens.refresh(key, stale)
    }

    /// Drops whatever the cache (and the source, see
    /// [`TokenSource::forget`]) holds for `key`, without fetching: for an
    /// authorizer that revoked the platform, say, whose token must not be
    /// served again. The next call for `key` fetches.
    pub fn forget_token(&self, key: &TokenKey) {
        self.core.tokens.forget(key);
    }

    /// Drops the cached token for `key` if it is `stale` (and only then), so
    /// the next call fetches another. Returns whether it was dropped.
    pub fn invalidate_token(&self, key: &TokenKey, stale: &Token) -> bool {
        self.core.tokens.invalidate(key, stale)
    }
}

impl Core {
    /// Steps 1 to 6 of [`Client::request`].
    fn request(&self, options: &mut RequestOptions) -> Result<Response> {
        if let Some(source) = &options.source {
            return Err(Error::invalid(format!(
                "the call names the token source {:?}, which only weixin::request takes: a client has its own",
                crate::origin::without_userinfo(&crate::error::redact_url(source))
            )));
        }
        let url = route::url_of(options, &self.origin)?;
        let plan = route::plan(options, self.appid.as_deref())?;
        if let Some(component_appid) = &plan.body_component_appid {
            fill_component_appid(options, component_appid);
        }
        let options = &*options;
        // Looked up only when a call fails: a call that succeeds never
        // reads the table.
        let retry = || options.retry_rule();
        match &plan.token {
            None => self
                .busy
                .run(retry, || self.send(options, &url, &plan, None)),
            Some((key, _)) => self.tokens.with_token(key, |token| {
                self.busy
                    .run(retry, || self.send(options, &url, &plan, Some(token)))
            }),
        }
    }

    /// The call `options` makes, as its errors name it: no query, no
    /// base URL.
    fn call_of(&self, options: &RequestOptions) -> ApiCall {
        ApiCall::new(
            options.method.as_str(),
            route::path_of(&options.url).to_string(),
            options.appid.as_deref().or(self.appid.as_deref()),
            options.authorizer_appid.as_deref(),
        )
    }

    /// The appid a call names, else the client's.
    fn appid_or<'a>(&'a self, appid: Option<&'a str>) -> Result<&'a str> {
        route::appid_or(appid, self.appid.as_deref())
    }

    /// Steps 3-5: build, send (through the one door), parse.
    fn send(
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
            .chain(token.map(|t| (token_name, t.expose())));
        #[cfg(feature = "api-security")]
        if let Some(keys) = self.securing(options) {
            let appid = self.appid_or(options.appid.as_deref())?;
            return secured::send(self, keys, options, url, appid, query, token_name);
        }
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

    /// The keys this call is secured with, if it is: the call's own switch,
    /// else the table; never an upload.
    #[cfg(feature = "api-security")]
    fn securing(&self, options: &RequestOptions) -> Option<&crate::api_security::ApiSecurity> {
        let keys = self.api_security.as_ref()?;
        if matches!(options.body, Body::Form(_)) {
            return None;
        }
        let on = options
            .secure
            .unwrap_or_else(|| crate::api_security::is_securable(route::path_of(&options.url)));
        on.then_some(keys)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.core;
        let mut f = f.debug_struct("Client");
        f.field("appid", &core.appid)
            .field("origin", &format_args!("{}", core.origin))
            .field("http", &core.http)
            .field("busy", &core.busy)
            .field("tokens", &core.tokens);
        #[cfg(feature = "api-security")]
        f.field("api_security", &core.api_security);
        f.finish()
    }
}
