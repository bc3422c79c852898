//! `Context`: what a [`TokenSource`](crate::TokenSource) is handed while it
//! fetches: other tokens through the same cache, the HTTP agent and the
//! base URL WeChat calls go to. Not the client: sources sit below it.

use std::fmt;

use crate::error::Result;
use crate::http::Http;
use crate::token::{Token, TokenKey, Tokens};

/// What a [`TokenSource`](crate::TokenSource) may use while fetching:
/// other tokens through the same cache (a ticket needs an access token),
/// the client's HTTP agent, and the client's base URL.
pub struct Context<'a> {
    pub(crate) tokens: &'a Tokens,
}

impl Context<'_> {
    /// A token for `key` through the client's cache (fetching it once if
    /// missing), for example the access token a ticket is fetched with.
    ///
    /// # Errors
    ///
    /// The error of the fetch, if one was needed and failed.
    pub fn token(&self, key: &TokenKey) -> Result<Token> {
        self.tokens.get(key)
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
        self.tokens.with_token(key, call)
    }

    /// Where WeChat is for this client, `scheme://host[:port][/path]` (no
    /// trailing `/`: append WeChat's path, `/cgi-bin/token`, as it is), as
    /// set by
    /// [`ClientBuilder::base_url`](crate::ClientBuilder::base_url): the
    /// built-in sources send their WeChat calls there unless they were
    /// given a base URL of their own.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Context, Token, TokenKey, TokenSource};
    ///
    /// /// Mints tokens that say where WeChat is.
    /// #[derive(Debug)]
    /// struct Echo;
    ///
    /// impl TokenSource for Echo {
    ///     fn fetch(&self, _: &TokenKey, cx: &Context<'_>) -> weixin::Result<Token> {
    ///         Ok(Token::new(cx.base_url(), 7200))
    ///     }
    /// }
    ///
    /// let client = weixin::Client::builder()
    ///     .base_url("http://127.0.0.1:8080/wechat/")
    ///     .token_source(Echo)
    ///     .build()?;
    /// let token = client.token(&TokenKey::access_token("wx1"))?;
    /// assert_eq!(token.expose(), "http://127.0.0.1:8080/wechat");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        self.tokens.base_url()
    }

    pub(crate) fn http(&self) -> &Http {
        self.tokens.http()
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
