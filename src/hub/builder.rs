//! `HubHandlerBuilder`: what a hub serves (accounts, platforms, or any
//! token source), where it keeps state, and how it calls upstream. All
//! defaults are in its `Default` impl.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::ahead::{listener, Ahead, AheadThread};
use super::door::{stable_force_gate, HubUpstream, DEFAULT_DAILY_QUOTA};
use super::handler::HubHandler;
use super::metrics::{CountedStore, Counts};
use super::upstream::Upstream;
use crate::client::Client;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::origin::{without_userinfo, Origin};
use crate::secret::Secret;
use crate::store::lifetime::Lifetimes;
use crate::store::Rotations;
use crate::store::{MemoryStore, Store};
use crate::store::{StoreSource, DEFAULT_LOCK_TTL, DEFAULT_LOCK_WAIT};
use crate::token::component::ComponentSource;
use crate::token::limit::RefreshLimit;
use crate::token::secret::DEFAULT_BASE_URL;
use crate::token::{Context, TokenKey, TokenSource, Tokens};
#[cfg(feature = "crypto")]
use crate::MessageCrypto;
use crate::SecretSource;

/// The upstream timeout per call a hub has unless told otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`HubHandler`]. All defaults are in its `Default` impl.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::hub::HubHandler;
///
/// let hub = HubHandler::builder()
///     .account("wx1", "s1")
///     .bearer("hub-secret")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert!(!format!("{hub:?}").contains("hub-secret"));
/// assert!(HubHandler::builder().build().is_err(), "no account, no source");
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct HubHandlerBuilder {
    accounts: Vec<(String, Secret)>,
    components: Vec<(String, Secret)>,
    #[cfg(feature = "crypto")]
    callbacks: HashMap<String, MessageCrypto>,
    source: Option<Arc<dyn TokenSource>>,
    store: Arc<dyn Store>,
    upstream: String,
    /// Base URLs upstream calls that could not connect go to, in order.
    upstream_backups: Vec<String>,
    proxy: Option<crate::proxy::Proxy>,
    stable: bool,
    stable_accounts: HashMap<String, bool>,
    bearer: Option<Secret>,
    #[cfg(feature = "crypto")]
    status_password: Option<Secret>,
    lock_ttl: Duration,
    lock_wait: Duration,
    timeout: Duration,
    errors_with_200: bool,
    refresh_limit: RefreshLimit,
    max_staleness: Duration,
    lifetimes: Lifetimes,
    refresh_ahead: Option<Duration>,
    daily_quota: u64,
    clear_quota: bool,
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
            upstream_backups: Vec::new(),
            proxy: None,
            stable: false,
            stable_accounts: HashMap::new(),
            bearer: None,
            #[cfg(feature = "crypto")]
            status_password: None,
            lock_ttl: DEFAULT_LOCK_TTL,
            lock_wait: DEFAULT_LOCK_WAIT,
            timeout: DEFAULT_TIMEOUT,
            errors_with_200: false,
            refresh_limit: RefreshLimit::default(),
            max_staleness: Duration::from_secs(1),
            lifetimes: Lifetimes::default(),
            refresh_ahead: Some(Duration::from_secs(1)),
            daily_quota: DEFAULT_DAILY_QUOTA,
            clear_quota: false,
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
    /// [`component_callback`].
    ///
    /// Defaults to no platforms.
    ///
    // A link to an item behind a feature that is off goes to docs.rs, which
    // documents every feature.
    #[cfg_attr(
        feature = "crypto",
        doc = "[`component_callback`]: HubHandlerBuilder::component_callback"
    )]
    #[cfg_attr(
        not(feature = "crypto"),
        doc = "[`component_callback`]: https://docs.rs/weixin/latest/weixin/hub/struct.HubHandlerBuilder.html#method.component_callback"
    )]
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
    #[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
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
    /// a fake WeChat's `http://127.0.0.1:port`, or a reverse proxy's
    /// `http://proxy.internal/wechat` (its path goes before WeChat's).
    ///
    /// Defaults to `https://api.weixin.qq.com`.
    pub fn upstream(mut self, base_url: impl Into<String>) -> Self {
        self.upstream = base_url.into();
        self
    }

    /// Where an upstream call goes, in order, when the
    /// [`upstream`](HubHandlerBuilder::upstream) cannot be reached (the
    /// request never left): as
    /// [`ClientBuilder::backup_base_urls`](crate::ClientBuilder::backup_base_urls).
    ///
    /// Defaults to none.
    pub fn upstream_backups<I>(mut self, base_urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.upstream_backups = base_urls.into_iter().map(Into::into).collect();
        self
    }

    /// WeChat's documented backup domains for upstream calls: as
    /// [`ClientBuilder::wechat_backup_domains`](crate::ClientBuilder::wechat_backup_domains)
    /// (`wechat_backup_domains = true` in hub.toml).
    ///
    /// Defaults to off.
    pub fn wechat_backup_domains(self) -> Self {
        self.upstream_backups(crate::origin::WECHAT_BASE_URLS[1..].iter().copied())
    }

    /// Opens every upstream connection through `proxy`, an HTTP CONNECT
    /// proxy on an IP the accounts' allow-lists name: as
    /// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) (`proxy` in
    /// hub.toml).
    ///
    /// Defaults to none: upstream connections are made directly, whatever
    /// `HTTPS_PROXY` says.
    ///
    /// # Example
    ///
    /// ```
    /// let proxy = weixin::Proxy::new("http://10.0.0.7:3128")?;
    /// let handler = weixin::hub::HubHandler::builder()
    ///     .account("wx1", "secret1")
    ///     .proxy(proxy)
    ///     .build()?;
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: crate::proxy::Proxy) -> Self {
        self.proxy = Some(proxy);
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

    /// As [`stable`](HubHandlerBuilder::stable), for one official account
    /// (WeChat recommends `stable_token` for them). A third-party platform
    /// cannot use `stable_token`: `build` refuses it, as it refuses an
    /// appid the hub does not serve.
    ///
    /// ```
    /// use weixin::hub::HubHandler;
    ///
    /// let hub = HubHandler::builder().account("wx1", "s1").account("wx2", "s2");
    /// assert!(hub.account_stable("wx2", true).build().is_ok());
    /// let platform = HubHandler::builder()
    ///     .component("wxc", "cs")
    ///     .account_stable("wxc", true)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(platform.to_string().contains("cannot use /cgi-bin/stable_token"));
    /// ```
    ///
    /// Defaults to the hub's [`stable`](HubHandlerBuilder::stable).
    pub fn account_stable(mut self, appid: impl Into<String>, stable: bool) -> Self {
        self.stable_accounts.insert(appid.into(), stable);
        self
    }

    /// Requires `Authorization: Bearer <secret>` on every endpoint but
    /// `/healthz`; other requests get 401 and no token. `/status` also
    /// takes it as an HTTP Basic password (feature `crypto`), unless a
    /// `status_password` is set.
    ///
    /// Defaults to none: anyone who can reach the hub gets tokens.
    pub fn bearer(mut self, secret: impl Into<Secret>) -> Self {
        self.bearer = Some(secret.into());
        self
    }

    /// The password `GET /status` takes with HTTP Basic (any user name),
    /// so that an operator's browser, which cannot send a bearer, opens the
    /// page: it asks for the password on the hub's
    /// `WWW-Authenticate: Basic realm="wechat-hub", charset="UTF-8"`.
    /// Basic is accepted on `/status` only; the bearer still opens it too.
    ///
    /// Defaults to none: the Basic password is the [`bearer`](Self::bearer)
    /// (and without either, `/status` is open like every endpoint).
    ///
    /// ```
    /// use weixin::hub::{HubHandler, HubRequest};
    ///
    /// let hub = HubHandler::builder()
    ///     .account("wx1", "s1")
    ///     .bearer("for-programs")
    ///     .status_password("for-people")
    ///     .refresh_ahead(None)
    ///     .build()?;
    /// // base64("ops:for-people")
    /// let basic = HubRequest::new("GET", "/status").header("Authorization", "Basic b3BzOmZvci1wZW9wbGU=");
    /// assert_eq!(hub.handle(&basic).status, 200);
    /// let anonymous = hub.handle(&HubRequest::new("GET", "/status"));
    /// assert_eq!(anonymous.status, 401);
    /// assert!(anonymous.headers.iter().any(|(_, v)| v.starts_with("Basic realm=")));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    #[cfg(feature = "crypto")]
    #[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
    pub fn status_password(mut self, password: impl Into<Secret>) -> Self {
        self.status_password = Some(password.into());
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
    /// sharing the store together: a burst, then waits from 2 s that double
    /// while WeChat keeps rejecting young tokens (see [`RefreshLimit`]; a
    /// refresh ahead spends the burst but never lengthens the wait). A
    /// refused refresh is answered with reason `refresh_limited` (HTTP 429)
    /// and `retry_after` seconds.
    ///
    /// Defaults to [`RefreshLimit::default`]: 3 at once, then from 2 s up
    /// to a 30 s floor.
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
    /// it meanwhile). An authorizer that revoked (`unauthorized`, pushed to
    /// any replica) leaves every replica's cache at once when the store
    /// can tell them ([`Store::watch`]: `RedisStore`, and replicas in one
    /// process sharing a store object); this bound is the fallback while
    /// it cannot.
    ///
    /// Defaults to 1 second.
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// How long the hub keeps and hands out every token and ticket it
    /// fetches (the seed's `expires_in` of elixir_wechat, e.g. 7,000 s):
    /// clients are told this lifetime, and the store forgets the token
    /// after it. Never longer than WeChat's own `expires_in`. An
    /// [`account_expires_in`](HubHandlerBuilder::account_expires_in) wins
    /// for its account. Under a second is refused by `build`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::hub::HubHandler;
    ///
    /// let hub = HubHandler::builder()
    ///     .account("wx1", "s1")
    ///     .expires_in(Duration::from_secs(7000));
    /// assert!(hub.build().is_ok());
    /// let zero = HubHandler::builder().account("wx1", "s1").expires_in(Duration::ZERO);
    /// assert!(zero.build().is_err());
    /// ```
    ///
    /// Defaults to none: WeChat's `expires_in` (7,200 s).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.lifetimes.hub = Some(lifetime);
        self
    }

    /// As [`expires_in`](HubHandlerBuilder::expires_in), for one account
    /// or one platform (its component token and all its authorizers'
    /// tokens and tickets). `build` refuses an appid the hub does not
    /// serve.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::hub::HubHandler;
    ///
    /// let hub = HubHandler::builder()
    ///     .account("wx1", "s1")
    ///     .account_expires_in("wx1", Duration::from_secs(3600));
    /// assert!(hub.build().is_ok());
    /// let typo = HubHandler::builder()
    ///     .account("wx1", "s1")
    ///     .account_expires_in("wx2", Duration::from_secs(3600));
    /// assert!(typo.build().is_err());
    /// ```
    ///
    /// Defaults to the hub's.
    pub fn account_expires_in(mut self, appid: impl Into<String>, lifetime: Duration) -> Self {
        self.lifetimes.accounts.insert(appid.into(), lifetime);
        self
    }

    /// The daily quota of upstream calls per account and kind (token,
    /// ticket, component, authorizer) that the hub warns about: it counts
    /// them per WeChat day (UTC+8) in the store, shared by every replica,
    /// logs a warning when half and nine tenths are used, and shows the
    /// counts in `/metrics` (`upstream_calls_today`). When WeChat answers
    /// 45009 (quota used up), clients get reason `quota_exhausted`
    /// (HTTP 429, `Retry-After` the seconds to midnight UTC+8), and the
    /// hub remembers it in the store: no replica calls WeChat for that
    /// account and kind again before midnight UTC+8 (or a
    /// [`clear_quota`](HubHandlerBuilder::clear_quota)); `/status` and
    /// `/metrics` (`quota_exhausted`) show it.
    ///
    /// Defaults to 2,000 (an official account's `/cgi-bin/token` quota).
    pub fn daily_quota(mut self, calls: u64) -> Self {
        self.daily_quota = calls;
        self
    }

    /// When WeChat answers 45009 (daily quota used up) for an account's
    /// token or ticket, or a call is needed while a replica's 45009 is
    /// remembered, calls `/cgi-bin/clear_quota/v2` with the account's
    /// appid and secret, then asks: at most once per account per WeChat
    /// day and 10 times in 31 days (WeChat allows 10 clears a month),
    /// counted in the store so replicas share the budget. A clear lifts
    /// the remembered 45009 for every replica; a failed one is logged and
    /// shown on `/status`, and clients get `quota_exhausted`. Third-party
    /// platforms' quotas are not cleared.
    ///
    /// Defaults to `false`: 45009 is answered as `quota_exhausted`.
    pub fn clear_quota(mut self, yes: bool) -> Self {
        self.clear_quota = yes;
        self
    }

    /// How often the hub's own thread looks for tokens and tickets due to
    /// be refreshed ahead of expiry (see [`HubHandler::refresh_due`]);
    /// `None` starts no thread. The thread stops when the handler drops.
    ///
    /// Defaults to every second.
    pub fn refresh_ahead(mut self, every: Option<Duration>) -> Self {
        self.refresh_ahead = every;
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
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if there are neither accounts nor a
    /// source, if an appid is empty or given twice, if an `expires_in` is
    /// under a second or names an appid not served, or if the upstream is
    /// not an http(s) URL.
    pub fn build(self) -> Result<HubHandler> {
        let component_appids: Vec<String> =
            self.components.iter().map(|(a, _)| a.clone()).collect();
        let watched_components = self.components.clone();
        // Every store call and upstream call of the hub passes these two
        // doors, which count them for `/metrics`.
        let counts = Arc::new(Counts::default());
        let store: Arc<dyn Store> = Arc::new(CountedStore {
            inner: self.store,
            counts: counts.clone(),
            clock: self.clock.clone(),
        });
        let started_at = self.clock.unix_secs();
        let clear = if self.clear_quota {
            self.accounts.iter().cloned().collect()
        } else {
            HashMap::new()
        };
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
                for (appid, stable) in &self.stable_accounts {
                    if *stable && self.components.iter().any(|(c, _)| c == appid) {
                        return Err(Error::config(format!(
                            "{appid} is a third-party platform: it cannot use /cgi-bin/stable_token \
                             (WeChat offers it to official accounts and mini programs only)"
                        )));
                    }
                    if !appids.contains(appid) {
                        return Err(Error::config(format!(
                            "stable is set for {appid:?}, which the hub does not serve"
                        )));
                    }
                }
                let is_stable =
                    |appid: &str| *self.stable_accounts.get(appid).unwrap_or(&self.stable);
                let (stable, plain): (Vec<_>, Vec<_>) =
                    self.accounts.into_iter().partition(|(a, _)| is_stable(a));
                let stable_appids = stable.iter().map(|(a, _)| a.clone()).collect();
                let secret_source = |accounts: Vec<(String, Secret)>, stable: bool| {
                    let mut accounts = accounts.into_iter();
                    accounts.next().map(|(appid, secret)| {
                        accounts
                            .fold(SecretSource::new(appid, secret), |s, (a, k)| {
                                s.account(a, k)
                            })
                            .base_url(self.upstream.clone())
                            .stable(stable)
                    })
                };
                let gate = stable_force_gate(store.clone(), self.clock.clone());
                let stable_accounts = secret_source(stable, true).map(|s| s.force_gate(gate));
                let accounts = secret_source(plain, false);
                let components = self
                    .components
                    .into_iter()
                    .map(|(appid, secret)| {
                        let source = ComponentSource::new(
                            appid.clone(),
                            secret,
                            store.clone(),
                            Rotations(store.clone()),
                        )
                        .base_url(self.upstream.clone());
                        (appid, source)
                    })
                    .collect();
                let upstream = Upstream {
                    accounts,
                    stable_accounts,
                    stable_appids,
                    components,
                };
                (Arc::new(upstream), Some(appids))
            }
        };
        self.lifetimes.check(appids.as_deref())?;
        // Every upstream call passes this one door: counted for the
        // metrics and the quota, its token stamped by the hub's clock.
        let upstream = Arc::new(HubUpstream {
            inner: upstream,
            store: store.clone(),
            clock: self.clock.clone(),
            quota: self.daily_quota,
            counts: counts.clone(),
            labelled: appids.is_some(),
            clear,
        });
        let origin = Origin::parse(&self.upstream).map_err(|_| {
            Error::config(format!(
                "hub upstream must be http(s)://host[:port][/path], got {:?}",
                without_userinfo(&crate::error::redact_url(&self.upstream))
            ))
        })?;
        let door = upstream.clone();
        let source = Arc::new(
            StoreSource::from_arcs(store.clone(), upstream)
                .gate(Arc::new(move |key: &TokenKey, cx: &Context<'_>| {
                    door.admit(key, cx)
                }))
                .lock_ttl(self.lock_ttl)
                .lock_wait(self.lock_wait)
                .refresh_limit(self.refresh_limit)
                .clock(self.clock.clone())
                .lifetimes(self.lifetimes)
                .replaced_ahead(self.refresh_ahead.is_some())
                .authorizers_in_store(appids.is_some()),
        );
        // The store is the truth: this replica's cache only reads through
        // it (the source limits upstream calls, through the store). The
        // hub's own calls (api_query_auth) go upstream too.
        let mut client = Client::builder()
            .token_source(source.clone())
            .read_through(self.max_staleness)
            .clock(self.clock.clone())
            .timeout(self.timeout)
            .base_url(origin.base_url())
            .backup_base_urls(&self.upstream_backups);
        if let Some(proxy) = self.proxy {
            client = client.proxy(proxy);
        }
        // The handler reads the cache without I/O to answer hits at once.
        let (http, cache) = client.parts();
        let client = client.shared(http.clone(), cache.clone()).build()?;
        // Refreshing ahead fetches through the same cache (a ticket's
        // access token) and store as clients' requests.
        let tokens = Tokens::new(
            cache.clone(),
            Some(source.clone()),
            http,
            origin.base_url().to_string(),
        );
        let ahead = Arc::new(
            Ahead::new(
                source,
                tokens,
                store.clone(),
                self.clock,
                counts.clone(),
                watched_components,
                appids.clone(),
            )
            .upstream_timeout(self.timeout),
        );
        // Removals on other replicas leave this one's cache at once.
        let watch = store.watch(listener(&ahead))?;
        let ahead_thread = match self.refresh_ahead {
            Some(every) => Some(
                AheadThread::start(ahead.clone(), every)
                    .map_err(|e| Error::config(format!("cannot start the refresh thread: {e}")))?,
            ),
            None => None,
        };
        Ok(HubHandler {
            client,
            cache,
            store,
            counts,
            appids,
            components: component_appids,
            bearer: self.bearer,
            #[cfg(feature = "crypto")]
            status_password: self.status_password,
            errors_with_200: self.errors_with_200,
            #[cfg(feature = "crypto")]
            callbacks: self.callbacks,
            ahead,
            daily_quota: self.daily_quota,
            started_at,
            _ahead_thread: ahead_thread,
            _watch: watch,
        })
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
