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
/// Cloning is cheap (one reference count). `Debug` never prints the value.
#[derive(Clone)]
pub struct Token(Arc<Held>);

/// A token's one allocation: what the source reported and, once the token
/// cache holds it, the key it is held under. A cache hit compares that key,
/// checks the lifetime and counts one more reference, all in this
/// allocation, and never reads the value: a hit among 100,000 keys touches
/// one line of memory the lookup did not already have (benches/scale.rs).
struct Held {
    /// `None` only in the cache's placeholder for a key that holds no
    /// token (its first fetch under way or refused, or its token dropped;
    /// see [`Token::vacant`]); never handed out.
    value: Option<Box<str>>,
    timestamp: u64,
    expires_in: u64,
    /// The key the cache holds this copy under; `None` outside the cache.
    key: Option<TokenKey>,
}

impl Token {
    /// A token obtained now that lives `expires_in` seconds.
    pub fn new(value: impl Into<Secret>, expires_in: u64) -> Token {
        Token::with_timestamp(value, unix_now(), expires_in)
    }

    /// A token obtained at `timestamp` (Unix seconds) that lives
    /// `expires_in` seconds from then, as a hub reports it.
    pub fn with_timestamp(value: impl Into<Secret>, timestamp: u64, expires_in: u64) -> Token {
        Token(Arc::new(Held {
            value: Some(value.into().expose().into()),
            timestamp,
            expires_in,
            key: None,
        }))
    }

    /// The same value and lifetime, obtained at `timestamp`: a hub stamps
    /// what it obtains from WeChat by its own clock.
    pub(crate) fn obtained_at(&self, timestamp: u64) -> Token {
        Token::with_timestamp(self.expose(), timestamp, self.0.expires_in)
    }

    /// The same token, as the cache holds it under `key`.
    pub(crate) fn held_under(&self, key: &TokenKey) -> Token {
        Token(Arc::new(Held {
            value: self.0.value.clone(),
            timestamp: self.0.timestamp,
            expires_in: self.0.expires_in,
            key: Some(key.clone()),
        }))
    }

    /// The cache's placeholder for `key` when it holds no token for it (it
    /// keeps the key's place and refresh schedule): no value, expired
    /// since the epoch.
    pub(crate) fn vacant(key: TokenKey) -> Token {
        Token(Arc::new(Held {
            value: None,
            timestamp: 0,
            expires_in: 0,
            key: Some(key),
        }))
    }

    /// Whether this is a token, not the cache's [`vacant`](Token::vacant)
    /// placeholder.
    pub(crate) fn is_held(&self) -> bool {
        self.0.value.is_some()
    }

    /// The key the cache holds this copy under.
    pub(crate) fn cache_key(&self) -> Option<&TokenKey> {
        self.0.key.as_ref()
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
    /// let token = weixin::Token::new("ACCESS_TOKEN", 7200);
    /// assert_eq!(token.expose(), "ACCESS_TOKEN");
    /// assert!(!format!("{token:?}").contains("ACCESS_TOKEN"));
    /// ```
    pub fn expose(&self) -> &str {
        self.0.value.as_deref().unwrap_or_default()
    }

    /// When the token was obtained, in Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.0.timestamp
    }

    /// How many seconds after [`timestamp`](Token::timestamp) it expires.
    pub fn expires_in(&self) -> u64 {
        self.0.expires_in
    }

    /// When it expires, in Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.timestamp().saturating_add(self.expires_in())
    }
}

/// Tokens are equal when their values and lifetimes are: the cache's copy
/// of a token equals the one its source handed out.
impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        (&self.0.value, self.0.timestamp, self.0.expires_in)
            == (&other.0.value, other.0.timestamp, other.0.expires_in)
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &format_args!("[redacted]"))
            .field("timestamp", &self.timestamp())
            .field("expires_in", &self.expires_in())
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
/// use weixin::{Context, Token, TokenKey, TokenSource};
///
/// /// Tokens minted by some service of your own.
/// #[derive(Debug)]
/// struct MyVault;
///
/// impl TokenSource for MyVault {
///     fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
///         Ok(Token::new(format!("token-for-{}", key.appid()), 7200))
///     }
/// }
///
/// let client = weixin::Client::builder().appid("wx1").token_source(MyVault).build()?;
/// assert_eq!(client.token(&TokenKey::access_token("wx1"))?.expose(), "token-for-wx1");
/// # Ok::<(), weixin::Error>(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_one_pointer_to_one_allocation_of_88_bytes() {
        assert_eq!(std::mem::size_of::<Token>(), 8);
        // With the reference counts: a 96-byte malloc chunk, the key
        // included (see benches/scale.rs for the bytes per cached key).
        assert_eq!(std::mem::size_of::<Held>() + 16, 88);
    }

    #[test]
    fn the_cache_copy_equals_the_token_and_a_vacant_one_is_no_token() {
        let key = TokenKey::access_token("wx1");
        let token = Token::with_timestamp("T", 1_700_000_000, 7200);
        let held = token.held_under(&key);
        assert_eq!(held, token);
        assert_eq!(held.expose(), "T");
        assert_eq!(held.cache_key(), Some(&key));
        assert_eq!(token.cache_key(), None);
        assert!(held.is_held());
        let vacant = Token::vacant(key.clone());
        assert!(!vacant.is_held());
        assert_eq!((vacant.expose(), vacant.expires_at()), ("", 0));
        assert_eq!(vacant.cache_key(), Some(&key));
        assert_ne!(vacant, Token::with_timestamp("", 0, 0));
        assert_eq!(
            format!("{held:?}"),
            "Token { value: [redacted], timestamp: 1700000000, expires_in: 7200 }"
        );
    }
}
