//! Tokens, the keys they are cached under, and the [`TokenSource`] trait that
//! produces them.

pub(crate) mod cache;
pub(crate) mod component;
pub(crate) mod hub;
pub(crate) mod key;
pub(crate) mod limit;
pub(crate) mod secret;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::client::Core;
use crate::error::Result;
use crate::http::Http;
use crate::secret::Secret;

pub use key::{TokenKey, TokenKind};

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token or ticket together with when it was obtained and how long it
/// lives, as the source reported them.
///
/// Cloning is cheap (the value is reference counted). `Debug` never prints
/// the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: Secret,
    timestamp: u64,
    expires_in: u64,
}

impl Token {
    /// A token obtained now that lives `expires_in` seconds.
    pub fn new(value: impl Into<Secret>, expires_in: u64) -> Token {
        Token::with_timestamp(value, unix_now(), expires_in)
    }

    /// A token obtained at `timestamp` (Unix seconds) that lives
    /// `expires_in` seconds from then, as a hub reports it.
    pub fn with_timestamp(value: impl Into<Secret>, timestamp: u64, expires_in: u64) -> Token {
        Token {
            value: value.into(),
            timestamp,
            expires_in,
        }
    }

    /// The token's value.
    ///
    /// # Security
    ///
    /// This is a live credential for the account: send it only to WeChat and
    /// never log it.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// When the token was obtained, in Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// How many seconds after [`timestamp`](Token::timestamp) it expires.
    pub fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// When it expires, in Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.timestamp.saturating_add(self.expires_in)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field("timestamp", &self.timestamp)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A ticket type served by `/cgi-bin/ticket/getticket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TicketType {
    /// `jsapi`: signs JSSDK page configurations.
    Jsapi,
    /// `wx_card`: signs card and coupon calls.
    WxCard,
}

impl TicketType {
    /// The name WeChat and hubs use: `jsapi` or `wx_card`.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketType::Jsapi => "jsapi",
            TicketType::WxCard => "wx_card",
        }
    }
}

/// Where tokens come from: WeChat directly, a hub, or your own store.
///
/// The client calls a source only on a cache miss or after WeChat rejected a
/// token, and never twice at once for the same key: the cache in front of
/// every source makes concurrent misses wait for one fetch. A source
/// therefore does not need its own cache or locking.
///
/// Implement it to plug in your own token service (as elixir_wechat's
/// storage adapters allow). `refresh` has a default that fetches again.
///
/// # Example
///
/// ```
/// use wechat::{Context, Token, TokenKey, TokenSource};
///
/// /// Tokens minted by some service of your own.
/// #[derive(Debug)]
/// struct MyVault;
///
/// impl TokenSource for MyVault {
///     fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> wechat::Result<Token> {
///         Ok(Token::new(format!("token-for-{}", key.appid()), 7200))
///     }
/// }
///
/// let client = wechat::Client::builder().appid("wx1").token_source(MyVault).build()?;
/// assert_eq!(client.token(&TokenKey::access_token("wx1"))?.secret(), "token-for-wx1");
/// # Ok::<(), wechat::Error>(())
/// ```
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Fetches a valid token for `key`.
    ///
    /// # Errors
    ///
    /// Whatever prevented getting a token; the error is handed to every
    /// caller that waited for this fetch.
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token>;

    /// Gets a token other than `stale`, which WeChat just rejected.
    ///
    /// Defaults to [`fetch`](TokenSource::fetch).
    ///
    /// # Errors
    ///
    /// As for [`fetch`](TokenSource::fetch).
    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        let _ = stale;
        self.fetch(key, cx)
    }

    /// Whether the client's [`RefreshLimit`](crate::RefreshLimit) applies
    /// to this source's fetches and refreshes.
    ///
    /// Defaults to `true`: a source that calls WeChat must not turn a storm
    /// of rejected tokens into a storm of token calls. A source that asks a
    /// service which limits its own calls to WeChat (a hub) returns `false`.
    fn limited_by_client(&self) -> bool {
        true
    }

    /// Forgets whatever the source keeps of `key`'s token, when the
    /// client is told to forget it ([`Client::forget_token`](crate::Client::forget_token)).
    ///
    /// Defaults to doing nothing: most sources keep no copy.
    fn forget(&self, key: &TokenKey) {
        let _ = key;
    }

    /// Keeps `refresh_token` for the authorizer named by `key`, durably,
    /// before anything uses the tokens it came with. Called by
    /// [`Client::query_auth`](crate::Client::query_auth).
    ///
    /// Defaults to an [`ErrorKind::Config`](crate::ErrorKind::Config) error:
    /// only sources that manage authorizers keep refresh tokens.
    ///
    /// # Errors
    ///
    /// When the token could not be stored.
    fn save_refresh_token(&self, key: &TokenKey, refresh_token: &Secret) -> Result<()> {
        let _ = refresh_token;
        Err(crate::error::Error::config(format!(
            "{self:?} does not keep authorizer refresh tokens (key {key:?})"
        )))
    }
}

impl<S: TokenSource + ?Sized> TokenSource for Arc<S> {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        (**self).fetch(key, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        (**self).refresh(key, stale, cx)
    }

    fn save_refresh_token(&self, key: &TokenKey, refresh_token: &Secret) -> Result<()> {
        (**self).save_refresh_token(key, refresh_token)
    }

    fn limited_by_client(&self) -> bool {
        (**self).limited_by_client()
    }

    fn forget(&self, key: &TokenKey) {
        (**self).forget(key)
    }
}

/// What a [`TokenSource`] may use while fetching: other tokens through the
/// same cache (a ticket needs an access token) and the client's HTTP agent.
pub struct Context<'a> {
    pub(crate) core: &'a Core,
}

impl Context<'_> {
    /// A token for `key` through the client's cache (fetching it once if
    /// missing), for example the access token a ticket is fetched with.
    ///
    /// # Errors
    ///
    /// The error of the fetch, if one was needed and failed.
    pub fn token(&self, key: &TokenKey) -> Result<Token> {
        self.core.token(key)
    }

    /// Runs `call` with a token for `key`; if it fails with 40001, 40014 or
    /// 42001, refreshes that token (once, shared with concurrent callers)
    /// and runs `call` again, as [`Client::request`](crate::Client::request)
    /// does.
    ///
    /// # Errors
    ///
    /// The error of `call` (or of getting a token), after at most
    /// [`TOKEN_RETRIES`](crate::TOKEN_RETRIES) retries.
    pub fn with_token<T>(
        &self,
        key: &TokenKey,
        call: impl FnMut(&Token) -> Result<T>,
    ) -> Result<T> {
        self.core.with_token(key, call)
    }

    pub(crate) fn http(&self) -> &Http {
        &self.core.http
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
