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

use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::http::{with_query, Http, OutBody, Outgoing, LARGE_BODY_CAP};
use crate::options::{Body, RequestOptions};
use crate::response::{self, Response};
use crate::token::cache::TokenCache;
use crate::token::{Context, Token, TokenKey, TokenSource};

pub use authorizer::AuthorizerTokens;
pub use builder::ClientBuilder;
pub use retry::BusyRetry;
use route::{fill_component_appid, Plan};

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

/// Where tokens go and how calls are made; shared by clones of a [`Client`].
pub(crate) struct Core {
    pub(crate) http: Http,
    pub(crate) cache: Arc<TokenCache>,
    pub(super) source: Option<Arc<dyn TokenSource>>,
    pub(super) appid: Option<String>,
    pub(super) scheme: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) busy: BusyRetry,
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

    pub(super) fn send_once(
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
