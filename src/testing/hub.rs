//! `FakeHub`: the hub handler over any token source and a memory store, on
//! the fakes' test server, with request counters.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::server::{HttpServer, Req};
use crate::hub::HubHandler;
use crate::token::TokenSource;
use crate::RefreshLimit;

/// A hub on an ephemeral port of 127.0.0.1 that serves
/// the hub protocol ([`hub_protocol`](crate::hub_protocol)) over a token source (usually a
/// [`SecretSource`](crate::SecretSource) pointed at a
/// [`FakeWechat`](super::FakeWechat)).
///
/// It is a [`HubHandler`] with a memory store: refresh is compare-and-swap
/// (a stale token that is no longer the hub's current one gets the current
/// one back with no upstream call). Errors are answered the Elixir way:
/// HTTP 200 with `{"errcode", "message", "reason", "http_status"}`.
///
/// # Example
///
/// ```
/// use weixin::testing::{FakeHub, FakeWechat};
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let hub = FakeHub::start(weixin::SecretSource::new("wx1", "s1").base_url(fake.url()))?;
/// let client = weixin::Client::builder()
///     .appid("wx1")
///     .token_source(weixin::HubSource::new(hub.url())?)
///     .build()?;
/// let token = client.token(&weixin::TokenKey::access_token("wx1"))?;
/// assert!(token.expose().starts_with("TOKEN_wx1_"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FakeHub {
    /// `None` once [`kill`](FakeHub::kill)ed.
    server: Option<HttpServer>,
    addr: std::net::SocketAddr,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeHub {
    /// Starts a hub without authentication.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start(source: impl TokenSource + 'static) -> std::io::Result<FakeHub> {
        FakeHub::start_inner(source, None, RefreshLimit::default())
    }

    /// Starts a hub without authentication whose upstream calls are
    /// limited by `limit` instead of the default.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start_with_limit(
        source: impl TokenSource + 'static,
        limit: RefreshLimit,
    ) -> std::io::Result<FakeHub> {
        FakeHub::start_inner(source, None, limit)
    }

    /// Starts a hub that requires `Authorization: Bearer <secret>`.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start_with_bearer(
        source: impl TokenSource + 'static,
        secret: &str,
    ) -> std::io::Result<FakeHub> {
        FakeHub::start_inner(source, Some(secret.to_string()), RefreshLimit::default())
    }

    fn start_inner(
        source: impl TokenSource + 'static,
        bearer: Option<String>,
        limit: RefreshLimit,
    ) -> std::io::Result<FakeHub> {
        let mut builder = HubHandler::builder()
            .source(source)
            .errors_with_200(true)
            .refresh_limit(limit);
        if let Some(secret) = bearer {
            builder = builder.bearer(secret);
        }
        let handler = builder
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let handler_counts = counts.clone();
        let server = HttpServer::start(
            8,
            Arc::new(move |req: &Req| {
                *handler_counts.lock().entry(req.path.clone()).or_default() += 1;
                handler.handle(req)
            }),
        )?;
        Ok(FakeHub {
            addr: server.addr(),
            server: Some(server),
            counts,
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Shuts the hub down for good: it stops accepting, answers what it
    /// was already handling, and closes its port, so that a client then
    /// gets its connection refused, as from a hub whose process was
    /// killed. Its counts stay readable; [`received`](FakeHub::received)
    /// is empty from then on.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{FakeHub, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let mut hub = FakeHub::start(weixin::SecretSource::new("wx1", "s1").base_url(fake.url()))?;
    /// let client = weixin::Client::builder()
    ///     .token_source(weixin::HubSource::new(hub.url())?)
    ///     .build()?;
    /// let key = weixin::TokenKey::access_token("wx1");
    /// client.token(&key)?;
    /// hub.kill();
    /// client.forget_token(&key);
    /// let err = client.token(&key).unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Transport { .. }), "{err}");
    /// assert_eq!(hub.count("/client/access_token"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill(&mut self) {
        self.server = None;
    }

    /// Every request it received, oldest first: method, path, query,
    /// headers and body (the latest 10,000).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{FakeHub, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let hub = FakeHub::start(weixin::SecretSource::new("wx1", "s1").base_url(fake.url()))?;
    /// let source = weixin::HubSource::new(hub.url())?;
    /// let client = weixin::Client::builder().token_source(source).build()?;
    /// client.token(&weixin::TokenKey::access_token("wx1"))?;
    /// let got = &hub.received()[0];
    /// assert_eq!(got.path, "/client/access_token");
    /// assert_eq!(got.param("appid"), Some("wx1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn received(&self) -> Vec<super::Received> {
        self.server
            .as_ref()
            .map(|server| server.recorder().all())
            .unwrap_or_default()
    }

    /// How many requests `path` received.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().get(path).copied().unwrap_or(0)
    }
}

impl std::fmt::Debug for FakeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHub")
            .field("addr", &self.addr)
            .field("killed", &self.server.is_none())
            .finish_non_exhaustive()
    }
}
