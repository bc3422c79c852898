//! The token layer: one cache in front of one source, and the three things
//! callers do with it: [`get`](Tokens::get) a token, [`refresh`](Tokens::refresh)
//! one WeChat rejected, and run a call [`with_token`](Tokens::with_token)
//! (refresh and retry on a rejected token). The client and the sources'
//! [`Context`] both go through it; it knows nothing of the client.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result, TokenFetch};
use crate::http::Http;
use crate::token::cache::TokenCache;
use crate::token::{Context, Token, TokenKey, TokenKind, TokenSource};

/// How many times one call is retried with a new token after WeChat
/// rejected the one it carried: once per rejected token, since a token a
/// refresh hands back may have been revoked too when it came from another
/// caller's refresh (compare-and-swap hands out the current token without
/// asking WeChat).
///
/// ```
/// assert_eq!(weixin::TOKEN_RETRIES, 2);
/// ```
pub const TOKEN_RETRIES: usize = 2;

/// A cache and the source behind it, with the HTTP agent and base URL the
/// source is handed in its [`Context`].
pub(crate) struct Tokens {
    cache: Arc<TokenCache>,
    source: Option<Arc<dyn TokenSource>>,
    http: Http,
    base_url: String,
}

impl Tokens {
    /// `base_url` is where built-in sources not given their own send
    /// WeChat calls, as `scheme://host[:port][/path]`.
    pub fn new(
        cache: Arc<TokenCache>,
        source: Option<Arc<dyn TokenSource>>,
        http: Http,
        base_url: String,
    ) -> Tokens {
        Tokens {
            cache,
            source,
            http,
            base_url,
        }
    }

    /// A token for `key` from the cache, fetched once (for every caller
    /// missing it at the same time) if missing. A failed fetch's error
    /// names the token and the source.
    pub fn get(&self, key: &TokenKey) -> Result<Token> {
        let source = self.source()?;
        self.cache.get(key, source.limited_by_client(), || {
            source
                .fetch(key, &self.context())
                .map_err(|e| e.in_token_fetch(|| fetch_of(key, &**source, false)))
        })
    }

    /// A token for `key` other than `stale`, which the caller replaces of
    /// its own accord: compare-and-swap, see [`TokenCache::refresh`]. A
    /// failed refresh's error names the token and the source.
    pub fn refresh(&self, key: &TokenKey, stale: &Token) -> Result<Token> {
        self.replace(key, stale, false)
    }

    /// As [`refresh`](Tokens::refresh), for a `stale` token WeChat
    /// rejected (`rejected`) or not.
    fn replace(&self, key: &TokenKey, stale: &Token, rejected: bool) -> Result<Token> {
        let source = self.source()?;
        self.cache
            .refresh(key, source.limited_by_client(), stale, rejected, || {
                source
                    .refresh(key, stale, &self.context())
                    .map_err(|e| e.in_token_fetch(|| fetch_of(key, &**source, true)))
            })
    }

    /// Runs `call` with a token for `key`, refreshing and retrying once per
    /// token WeChat rejects, [`TOKEN_RETRIES`] times at most. The one place
    /// the token retry lives.
    pub fn with_token<T>(
        &self,
        key: &TokenKey,
        mut call: impl FnMut(&Token) -> Result<T>,
    ) -> Result<T> {
        let mut token = self.get(key)?;
        let mut retries = 0;
        loop {
            match call(&token) {
                Err(e) if e.is_token_expired() && retries < TOKEN_RETRIES => {
                    let next = self.replace(key, &token, true)?;
                    if next.expose() == token.expose() {
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

    /// Drops what the cache and the source hold for `key`.
    pub fn forget(&self, key: &TokenKey) {
        self.cache.remove(key);
        if let Some(source) = &self.source {
            source.forget(key);
        }
    }

    /// Drops the cached token for `key` if it is `stale`.
    pub fn invalidate(&self, key: &TokenKey, stale: &Token) -> bool {
        self.cache.invalidate_if(key, stale)
    }

    /// Caches `token` for `key`, obtained outside the source (an
    /// authorizer's first access token, from an authorization code).
    pub fn adopt(&self, key: &TokenKey, token: Token) {
        self.cache.insert(key, token);
    }

    /// The HTTP agent sources send through.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Where built-in sources send WeChat calls unless given their own.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn source(&self) -> Result<&Arc<dyn TokenSource>> {
        self.source
            .as_ref()
            .ok_or_else(|| Error::config("a token is needed but the client has no token source"))
    }

    /// The context sources are handed: this cache, agent and base URL.
    pub(crate) fn context(&self) -> Context<'_> {
        Context { tokens: self }
    }
}

/// What an error raised fetching (or refreshing) `key` from `source` says
/// it was doing.
fn fetch_of(key: &TokenKey, source: &dyn TokenSource, refresh: bool) -> TokenFetch {
    let what = match key.kind() {
        TokenKind::AccessToken => "access_token".to_string(),
        TokenKind::ComponentAccessToken => "component_access_token".to_string(),
        TokenKind::Ticket(ticket) => format!("{} ticket", ticket.as_str()),
    };
    TokenFetch::new(
        what,
        key.appid(),
        key.authorizer_appid(),
        source.source_kind(),
        refresh,
    )
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("source", &self.source)
            .field("cached_keys", &self.cache.len())
            .finish()
    }
}
