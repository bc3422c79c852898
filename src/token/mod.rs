//! Tokens, the keys they are cached under, and the [`TokenSource`] trait that
//! produces them.

pub(crate) mod cache;
pub(crate) mod component;
mod context;
pub(crate) mod hub;
pub(crate) mod key;
pub(crate) mod limit;
pub(crate) mod secret;
mod shards;
mod tokens;

pub use context::Context;
pub(crate) use tokens::Tokens;
pub use tokens::TOKEN_RETRIES;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, SourceKind};
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

    /// The token's value, as [`Secret::expose`] gives a secret's.
    ///
    /// # Security
    ///
    /// This is a live credential for the account: send it only to WeChat and
    /// never log it.
    ///
    /// # Example
    ///
    /// ```
    /// let token = wechat::Token::new("ACCESS_TOKEN", 7200);
    /// assert_eq!(token.expose(), "ACCESS_TOKEN");
    /// assert!(!format!("{token:?}").contains("ACCESS_TOKEN"));
    /// ```
    pub fn expose(&self) -> &str {
        self.value.expose()
    }

    /// The token's value.
    ///
    /// # Security
    ///
    /// As for [`expose`](Token::expose).
    #[deprecated(note = "use `Token::expose`, the name `Secret` uses for the same thing")]
    pub fn secret(&self) -> &str {
        self.expose()
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
/// assert_eq!(client.token(&TokenKey::access_token("wx1"))?.expose(), "token-for-wx1");
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

    /// The kind of source this is, as errors raised while fetching from it
    /// name it ([`Error::token_fetch`](crate::Error::token_fetch)).
    ///
    /// Defaults to [`SourceKind::Custom`].
    fn source_kind(&self) -> SourceKind {
        SourceKind::Custom
    }

    /// Forgets whatever the source keeps of `key`'s token, when the
    /// client is told to forget it ([`Client::forget_token`](crate::Client::forget_token)).
    ///
    /// Defaults to doing nothing: most sources keep no copy.
    fn forget(&self, key: &TokenKey) {
        let _ = key;
    }
}

impl<S: TokenSource + ?Sized> TokenSource for Arc<S> {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        (**self).fetch(key, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        (**self).refresh(key, stale, cx)
    }

    fn limited_by_client(&self) -> bool {
        (**self).limited_by_client()
    }

    fn source_kind(&self) -> SourceKind {
        (**self).source_kind()
    }

    fn forget(&self, key: &TokenKey) {
        (**self).forget(key)
    }
}
