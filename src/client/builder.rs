//! `ClientBuilder`: every setting of a [`Client`] and, in one `impl
//! Default`, every default.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{BusyRetry, Client, Core};
use crate::clock::Clock;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::http::{Failover, Http};
#[cfg(doc)]
use crate::options::RequestOptions;
use crate::origin::{Origin, WECHAT_BASE_URLS};
use crate::proxy::Proxy;
use crate::token::cache::TokenCache;
use crate::token::limit::RefreshLimit;
use crate::token::secret::DEFAULT_BASE_URL;
use crate::token::{TokenSource, Tokens};

/// Builds a [`Client`]. All defaults are in its `Default` impl.
#[derive(Clone)]
pub struct ClientBuilder {
    appid: Option<String>,
    source: Option<Arc<dyn TokenSource>>,
    scheme: String,
    host: String,
    port: Option<u16>,
    /// The base URL's path, put before every call's.
    prefix: String,
    connect_timeout: Duration,
    timeout: Duration,
    busy: BusyRetry,
    expiry_margin: Duration,
    refresh_limit: RefreshLimit,
    clock: Clock,
    read_through: Option<Duration>,
    shared: Option<(Http, Arc<TokenCache>)>,
    /// Why the last [`base_url`](ClientBuilder::base_url) was refused,
    /// reported by `build`.
    bad_base_url: Option<Error>,
    /// Base URLs a call that could not connect goes to, in order.
    backups: Vec<String>,
    /// Why a backup base URL was refused, reported by `build`.
    bad_backup: Option<Error>,
    proxy: Option<Proxy>,
    #[cfg(feature = "api-security")]
    api_security: Option<crate::api_security::ApiSecurity>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            appid: None,
            source: None,
            scheme: String::new(),
            host: String::new(),
            port: None,
            prefix: String::new(),
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
            bad_base_url: None,
            backups: Vec::new(),
            bad_backup: None,
            proxy: None,
            #[cfg(feature = "api-security")]
            api_security: None,
        }
        .base_url(DEFAULT_BASE_URL)
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

    /// Where WeChat is: the scheme, host and port calls are sent to, and
    /// where the built-in sources ([`SecretSource`](crate::SecretSource),
    /// [`ComponentSource`](crate::ComponentSource)) that were not given a
    /// base URL of their own fetch tokens and tickets. Point it at
    /// `api2.weixin.qq.com`, a proxy, or a fake WeChat in tests: this one
    /// setting moves every call. A call can still name its own host, scheme
    /// or port ([`RequestOptions::host`]).
    ///
    /// Takes `http(s)://host[:port][/path]`, with or without a trailing
    /// `/`. A path is put before every call's path and every built-in
    /// source's: with `http://proxy.internal/wechat`, a token is fetched
    /// from `http://proxy.internal/wechat/cgi-bin/token`, for a reverse
    /// proxy that serves WeChat under `/wechat`. A call that names its own
    /// scheme, host or port leaves this base URL, path included.
    /// [`scheme`](ClientBuilder::scheme), [`host`](ClientBuilder::host) and
    /// [`port`](ClientBuilder::port) set its other parts one by one.
    ///
    /// Defaults to `https://api.weixin.qq.com`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url()) // calls, tokens and tickets alike
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// client.request("/cgi-bin/get_api_domain_ip")?;
    /// assert_eq!(fake.count("/cgi-bin/token"), 1);
    /// assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 1);
    ///
    /// let err = weixin::Client::builder().base_url("127.0.0.1:8080").build().unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// // A query or fragment has no place in a base URL.
    /// let err = weixin::Client::builder().base_url("http://h/wechat?x=1").build().unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_url(mut self, base_url: impl AsRef<str>) -> ClientBuilder {
        match Origin::parse(base_url.as_ref()) {
            Ok(origin) => {
                (self.scheme, self.host, self.port, self.prefix) = origin.into_parts();
                self.bad_base_url = None;
            }
            Err(e) => self.bad_base_url = Some(e),
        }
        self
    }

    /// Hosts a call goes to, in order, when the
    /// [`base_url`](ClientBuilder::base_url) cannot be reached: a request
    /// that certainly never left ([`Error::is_unsent`]: the name was not
    /// resolved, the connection or the proxy's tunnel was refused, the
    /// connect timeout was reached) is sent to the next of them. A call
    /// that may have reached a host (a reset, a timeout after connecting,
    /// any answer) is never sent to another. Token fetches and tickets of
    /// the built-in sources go the same way as API calls; so does a call
    /// that names its own full URL under one of these hosts. Each call
    /// starts from the host its URL names. Each is
    /// `http(s)://host[:port][/path]`; replaces any list set before.
    ///
    /// Defaults to none: a call that cannot connect fails.
    /// [`wechat_backup_domains`](ClientBuilder::wechat_backup_domains) sets
    /// WeChat's own.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{refused_url, FakeWechat};
    ///
    /// let backup = FakeWechat::start()?;
    /// backup.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(refused_url()?) // a primary that cannot be reached
    ///     .backup_base_urls([backup.url()])
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// client.request("/cgi-bin/get_api_domain_ip")?;
    /// assert_eq!(backup.count("/cgi-bin/token"), 1);
    /// assert_eq!(backup.count("/cgi-bin/get_api_domain_ip"), 1);
    ///
    /// let err = weixin::Client::builder().backup_base_urls(["api2.weixin.qq.com"]).build().unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backup_base_urls<I>(mut self, base_urls: I) -> ClientBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.backups.clear();
        self.bad_backup = None;
        for url in base_urls {
            match Origin::parse(url.as_ref()) {
                Ok(origin) => self.backups.push(origin.base_url().to_string()),
                Err(e) => self.bad_backup = Some(e),
            }
        }
        self
    }

    /// Turns on WeChat's documented backup domains, in its order:
    /// `https://api2.weixin.qq.com` (disaster recovery in another city),
    /// then the Shanghai, Shenzhen and Hong Kong access points
    /// (`sh.`, `sz.`, `hk.api.weixin.qq.com`), after the base URL
    /// (`https://api.weixin.qq.com` by default). As
    /// [`backup_base_urls`](ClientBuilder::backup_base_urls) with that list.
    ///
    /// Defaults to off.
    ///
    /// # Example
    ///
    /// ```
    /// let client = weixin::Client::builder().wechat_backup_domains().build()?;
    /// assert!(format!("{client:?}").contains("https://hk.api.weixin.qq.com"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn wechat_backup_domains(self) -> ClientBuilder {
        self.backup_base_urls(&WECHAT_BASE_URLS[1..])
    }

    /// Opens every connection of the client through `proxy`, an HTTP
    /// CONNECT proxy: API calls, token fetches and tickets of the built-in
    /// sources, a [`HubSource`](crate::HubSource)'s requests (list a hub in
    /// [`Proxy::no_proxy`] to reach it directly). For an account whose API
    /// calls are allowed from a few IPs only (errcode 40164, or 61004 for a
    /// platform): run the proxy on one of them.
    ///
    /// Defaults to none: connections are made directly, whatever
    /// `HTTPS_PROXY` says. Pass [`Proxy::from_env`] to honour it.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{ConnectProxy, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let proxy = ConnectProxy::start_with_login("me", "proxy-password")?;
    /// let url = proxy.url().replace("http://", "http://me:proxy-password@");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .proxy(weixin::Proxy::new(url)?)
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// client.request("/cgi-bin/get_api_domain_ip")?;
    /// assert_eq!(proxy.tunnels().len(), 2, "the token fetch, then the call");
    /// assert!(!format!("{client:?}").contains("proxy-password"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> ClientBuilder {
        self.proxy = Some(proxy);
        self
    }

    /// The scheme calls are sent with, `https` or `http`: part of the
    /// [`base_url`](ClientBuilder::base_url).
    ///
    /// Defaults to `https`.
    pub fn scheme(mut self, scheme: impl Into<String>) -> ClientBuilder {
        self.scheme = scheme.into();
        self
    }

    /// The host calls are sent to, for example `api2.weixin.qq.com`: part
    /// of the [`base_url`](ClientBuilder::base_url).
    ///
    /// Defaults to `api.weixin.qq.com`.
    pub fn host(mut self, host: impl Into<String>) -> ClientBuilder {
        self.host = host.into();
        self
    }

    /// The port calls are sent to: part of the
    /// [`base_url`](ClientBuilder::base_url).
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

    /// Signs and encrypts the calls WeChat lets be secured
    /// ([`is_securable`](crate::is_securable)) with `keys`, and verifies and
    /// decrypts their answers: the mini program's "API security" setting.
    /// [`RequestOptions::secure`](crate::RequestOptions::secure) turns it
    /// on or off for one call. Signing happens in this process (the private
    /// key never goes to a hub).
    ///
    /// Defaults to none: no call is secured.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let client = weixin::Client::builder()
    ///     .appid("wx1234")
    ///     .api_security(weixin::ApiSecurity::from_env()?)
    ///     .build()?;
    /// # Ok::<(), weixin::Error>(())
    /// ```
    #[cfg(feature = "api-security")]
    #[cfg_attr(docsrs, doc(cfg(feature = "api-security")))]
    pub fn api_security(mut self, keys: crate::api_security::ApiSecurity) -> ClientBuilder {
        self.api_security = Some(keys);
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
    /// source: a burst, then waits from 2 s that double while WeChat keeps
    /// rejecting new tokens (see [`RefreshLimit`]). A refresh the
    /// limit refuses fails with [`ErrorKind::RefreshLimited`], and the
    /// rejected token stays cached (WeChat may accept it again once a storm
    /// is over). [`RefreshLimit::unlimited`] turns it off.
    ///
    /// Defaults to [`RefreshLimit::default`]: 3 at once, then from 2 s up
    /// to a 30 s floor.
    pub fn refresh_limit(mut self, limit: RefreshLimit) -> ClientBuilder {
        self.refresh_limit = limit;
        self
    }

    /// Where the client reads the time: token expiry and the refresh limit,
    /// and (feature `api-security`) a secured request's timestamp and the
    /// skew check of its answer. Tests pass a
    /// [`ManualClock`](crate::ManualClock)'s clock.
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
        (self.http(), self.cache())
    }

    /// An agent with these timeouts, proxy and backup hosts.
    pub(crate) fn http(&self) -> Http {
        // A base URL that does not parse fails `build`: no backups then.
        let failover = Origin::new(&self.scheme, &self.host, self.port, &self.prefix)
            .ok()
            .and_then(|origin| Failover::new(origin.base_url(), self.backups.iter().cloned()));
        Http::new(self.connect_timeout, self.timeout)
            .through(self.proxy.clone())
            .failing_over(failover)
    }

    /// A cache with these settings.
    pub(crate) fn cache(&self) -> Arc<TokenCache> {
        Arc::new(TokenCache::new(
            self.expiry_margin.as_secs(),
            self.refresh_limit,
            self.clock.clone(),
            self.read_through,
        ))
    }

    /// Whether caches made from `self` and `other` behave the same, so
    /// one can serve in place of the other.
    pub(crate) fn same_cache_settings(&self, other: &ClientBuilder) -> bool {
        self.expiry_margin == other.expiry_margin
            && self.refresh_limit == other.refresh_limit
            && self.clock.same_as(&other.clock)
            && self.read_through == other.read_through
    }

    /// These settings, with `other`'s token source if they have none.
    pub(crate) fn or_token_source_of(mut self, other: &ClientBuilder) -> ClientBuilder {
        if self.source.is_none() {
            self.source.clone_from(&other.source);
        }
        self
    }

    pub(crate) fn shared(mut self, http: Http, cache: Arc<TokenCache>) -> ClientBuilder {
        self.shared = Some((http, cache));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`] error if the base URL or a backup base URL
    /// is not `http(s)://host[:port][/path]`: the scheme is not `http` or
    /// `https`, the host is empty or contains a `/`, or the URL has a query
    /// or a fragment.
    pub fn build(mut self) -> Result<Client> {
        if let Some(e) = self.bad_base_url.take().or(self.bad_backup.take()) {
            return Err(e);
        }
        let origin = Origin::new(&self.scheme, &self.host, self.port, &self.prefix)?;
        let (http, cache) = match self.shared.take() {
            Some(shared) => shared,
            None => self.parts(),
        };
        let tokens = Tokens::new(
            cache,
            self.source,
            http.clone(),
            origin.base_url().to_string(),
        );
        Ok(Client {
            core: Arc::new(Core {
                tokens,
                http,
                appid: self.appid,
                origin,
                busy: self.busy,
                #[cfg(feature = "api-security")]
                api_security: self.api_security,
                #[cfg(feature = "api-security")]
                clock: self.clock,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("appid", &self.appid)
            .field("source", &self.source)
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("prefix", &self.prefix)
            .field("backups", &self.backups)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_bad_origin() {
        assert!(Client::builder().scheme("ftp").build().is_err());
        assert!(Client::builder().host("a/b").build().is_err());
    }
}
