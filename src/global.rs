//! The free functions: one process-wide client, like elixir_wechat's
//! registry. Its settings are kept, so that setting one thing (the token
//! source) never resets another (the appid, the base URL).
//!
//! A call can name its token source (elixir_wechat's `adapter_storage`):
//! a hub URL, or a source registered under a name. Each named source gets
//! a client of its own, made from the same settings and agent, with a
//! cache of its own, on first use; every later call naming it shares it.

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::client::{Client, ClientBuilder};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::options::RequestOptions;
use crate::response::Response;
use crate::token::cache::TokenCache;
use crate::token::hub::HubSource;
use crate::token::TokenSource;

/// The most sources calls may name (registered ones and hub URLs): each
/// keeps a cache for the life of the process.
///
/// ```
/// assert_eq!(weixin::MAX_NAMED_SOURCES, 256);
/// ```
pub const MAX_NAMED_SOURCES: usize = 256;

/// The process-wide client and what it was built from.
struct Global {
    /// The settings, without a shared cache.
    settings: ClientBuilder,
    /// The agent every client built here shares.
    http: Http,
    /// The cache every client built here shares while its settings stay.
    cache: Arc<TokenCache>,
    client: Client,
    /// The sources calls name, by name or hub URL as the calls give it.
    named: HashMap<String, Named>,
}

/// A source calls name, and the client (with its own cache) that serves
/// them.
#[derive(Clone)]
struct Named {
    source: Arc<dyn TokenSource>,
    cache: Arc<TokenCache>,
    client: Client,
}

impl Global {
    /// Replaces the settings, keeping the caches if they are made the
    /// same way. Nothing changes on error.
    fn replace(&mut self, settings: ClientBuilder) -> Result<()> {
        let same = settings.same_cache_settings(&self.settings);
        let keep = |cache: &Arc<TokenCache>| {
            if same {
                cache.clone()
            } else {
                settings.cache()
            }
        };
        let http = settings.http();
        let cache = keep(&self.cache);
        let client = settings
            .clone()
            .shared(http.clone(), cache.clone())
            .build()?;
        let mut named = HashMap::with_capacity(self.named.len());
        // One hub spelled two ways is one entry under two names: made
        // again once, so that both keep sharing one cache.
        let mut made: Vec<(Arc<TokenCache>, Named)> = Vec::new();
        for (name, old) in &self.named {
            let again = match made.iter().find(|(was, _)| Arc::ptr_eq(was, &old.cache)) {
                Some((_, again)) => again.clone(),
                None => {
                    let again = Global::named_client(
                        &settings,
                        &http,
                        old.source.clone(),
                        keep(&old.cache),
                    )?;
                    made.push((old.cache.clone(), again.clone()));
                    again
                }
            };
            named.insert(name.clone(), again);
        }
        *self = Global {
            settings,
            http,
            cache,
            client,
            named,
        };
        Ok(())
    }

    /// A client of `source` with these settings and agent, and `cache`.
    fn named_client(
        settings: &ClientBuilder,
        http: &Http,
        source: Arc<dyn TokenSource>,
        cache: Arc<TokenCache>,
    ) -> Result<Named> {
        let client = settings
            .clone()
            .token_source(source.clone())
            .shared(http.clone(), cache.clone())
            .build()?;
        Ok(Named {
            source,
            cache,
            client,
        })
    }

    /// Adds `source` under `name`, with a new cache.
    fn add(&mut self, name: String, source: Arc<dyn TokenSource>) -> Result<Client> {
        if self.named.len() >= MAX_NAMED_SOURCES && !self.named.contains_key(&name) {
            return Err(Error::config(format!(
                "too many token sources named by calls (at most {MAX_NAMED_SOURCES})"
            )));
        }
        let made = Global::named_client(&self.settings, &self.http, source, self.settings.cache())?;
        let client = made.client.clone();
        self.named.insert(name, made);
        Ok(client)
    }

    /// The client of the source `name` names: registered, or made now for
    /// a hub URL.
    fn client_of(&mut self, name: &str) -> Result<Client> {
        if let Some(named) = self.named.get(name) {
            return Ok(named.client.clone());
        }
        if !is_hub_url(name) {
            return Err(Error::config(format!(
                "no token source is registered as {name:?}: register one with \
                 weixin::register_source, or name a hub by its http(s) url"
            )));
        }
        let hub = HubSource::new(name)?;
        // The same hub spelled another way (a trailing `/`) shares its
        // tokens.
        let same = hub.urls().next().unwrap_or(name).to_string();
        if let Some(named) = self.named.get(&same).cloned() {
            let client = named.client.clone();
            if self.named.len() < MAX_NAMED_SOURCES {
                self.named.insert(name.to_string(), named);
            }
            return Ok(client);
        }
        self.add(same, Arc::new(hub))
    }
}

/// Whether a call's source names a hub by its URL rather than a
/// registered source by its name.
fn is_hub_url(name: &str) -> bool {
    name.starts_with("http://") || name.starts_with("https://")
}

static GLOBAL: Lazy<Mutex<Global>> = Lazy::new(|| {
    let settings = ClientBuilder::default();
    let http = settings.http();
    let cache = settings.cache();
    let client = settings
        .clone()
        .shared(http.clone(), cache.clone())
        .build()
        // ok because the defaults are valid
        .unwrap_or_else(|_| unreachable!());
    Mutex::new(Global {
        settings,
        http,
        cache,
        client,
        named: HashMap::new(),
    })
});

/// Sets the token source [`request`] uses, keeping every other setting
/// (appid, base URL, timeouts...) and the tokens already cached.
///
/// Defaults to none: [`request`] then works only for calls that need no
/// token.
///
/// # Example
///
/// ```
/// use weixin::testing::FakeWechat;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "secret1");
/// weixin::configure(weixin::Client::builder().appid("wx1").base_url(fake.url()))?;
/// weixin::set_token_source(weixin::SecretSource::new("wx1", "secret1"));
/// // The appid and base URL configured before still hold.
/// let resp = weixin::request("/cgi-bin/get_api_domain_ip")?;
/// assert_eq!(resp.json()?["appid"], "wx1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_token_source(source: impl TokenSource + 'static) {
    let mut global = GLOBAL.lock();
    let settings = global.settings.clone().token_source(source);
    // ok because only the source changed: settings that built before build
    // again
    let _ = global.replace(settings);
}

/// Sets everything [`request`] uses from `builder`: appid, base URL,
/// timeouts, retries, the token cache's settings, and the token source. A
/// token source set before (here or with [`set_token_source`]) is kept
/// when `builder` has none, and the tokens already cached are kept unless
/// the cache's settings (expiry margin, refresh limit, clock) changed.
/// The sources calls name ([`RequestOptions::source`]) take the same
/// settings and keep their own tokens the same way.
///
/// # Errors
///
/// As for [`ClientBuilder::build`]; the process-wide client is then left
/// as it was.
///
/// # Example
///
/// ```
/// let err = weixin::configure(weixin::Client::builder().base_url("not a url")).unwrap_err();
/// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn configure(builder: ClientBuilder) -> Result<()> {
    let mut global = GLOBAL.lock();
    let settings = builder.or_token_source_of(&global.settings);
    global.replace(settings)
}

/// Calls a WeChat API through the process-wide client, without building a
/// [`Client`]: repeated calls reuse one agent and one token cache.
///
/// Accepts [`RequestOptions`] or a bare path (a `GET`). A call that names
/// its token source ([`RequestOptions::source`]: a hub URL, or a name
/// given to [`register_source`]) takes its token from that source's own
/// cache, made on the first call naming it and shared by every later one:
/// many threads naming one hub cause one fetch per key, and two hubs
/// never share a token.
///
/// # Errors
///
/// As for [`Client::request`]; an [`ErrorKind::Config`](crate::ErrorKind::Config)
/// error if the call names a source that is neither registered nor a hub
/// URL (`http://` or `https://`), names a hub URL that is not valid, or
/// would name more than [`MAX_NAMED_SOURCES`] sources.
///
/// # Example
///
/// ```
/// use weixin::testing::{FakeHub, FakeWechat};
/// use weixin::RequestOptions;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let hub = FakeHub::start(weixin::SecretSource::new("wx1", "s1").base_url(fake.url()))?;
/// weixin::configure(weixin::Client::builder().base_url(fake.url()))?;
/// for _ in 0..3 {
///     let call = RequestOptions::get("/cgi-bin/get_api_domain_ip").appid("wx1").source(hub.url());
///     weixin::request(call)?;
/// }
/// assert_eq!(hub.count("/client/access_token"), 1);
///
/// let err = weixin::request(RequestOptions::get("/cgi-bin/x").appid("wx1").source("nowhere"))
///     .unwrap_err();
/// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With the process-wide source:
///
/// ```no_run
/// weixin::configure(weixin::Client::builder().appid("wx1234"))?;
/// weixin::set_token_source(weixin::HubSource::new("http://127.0.0.1:4000")?);
/// let ips = weixin::request("/cgi-bin/get_api_domain_ip")?;
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn request(options: impl Into<RequestOptions>) -> Result<Response> {
    let mut options = options.into();
    let client = match options.source.take() {
        None => global_client(),
        Some(name) => GLOBAL.lock().client_of(&name)?,
    };
    client.request(options)
}

/// Registers `source` under `name`, for calls of [`request`] that name it
/// with [`RequestOptions::source`]: a hub with a bearer secret or a
/// private CA, a store, your own [`TokenSource`]. Its tokens are cached
/// apart from every other source's. Registering a name again replaces its
/// source and starts its cache afresh.
///
/// # Errors
///
/// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `name` is
/// empty or starts with `http://` or `https://` (calls naming that would
/// name a hub by its URL), or if [`MAX_NAMED_SOURCES`] sources are named
/// already.
///
/// # Example
///
/// ```
/// use weixin::testing::{FakeHub, FakeWechat};
/// use weixin::RequestOptions;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let hub = FakeHub::start_with_bearer(
///     weixin::SecretSource::new("wx1", "s1").base_url(fake.url()),
///     "hub-secret",
/// )?;
/// weixin::configure(weixin::Client::builder().base_url(fake.url()))?;
/// weixin::register_source("vault", weixin::HubSource::new(hub.url())?.bearer("hub-secret"))?;
/// let resp = weixin::request(
///     RequestOptions::get("/cgi-bin/get_api_domain_ip").appid("wx1").source("vault"),
/// )?;
/// assert_eq!(resp.json()?["appid"], "wx1");
/// assert!(!format!("{:?}", weixin::source_client("vault")?).contains("hub-secret"));
/// assert!(weixin::register_source("http://hub:4000", weixin::HubSource::new(hub.url())?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register_source(name: impl Into<String>, source: impl TokenSource + 'static) -> Result<()> {
    let name = name.into();
    if name.is_empty() || is_hub_url(&name) {
        return Err(Error::config(format!(
            "a registered token source needs a name that is not empty and not an http(s) url, got {:?}",
            crate::origin::without_userinfo(&crate::error::redact_url(&name))
        )));
    }
    GLOBAL.lock().add(name, Arc::new(source)).map(drop)
}

/// The client [`request`] uses for calls naming `source`
/// ([`RequestOptions::source`]): for its tokens, tickets and JSSDK
/// configurations ([`Client::wx_config`] and friends) from the same cache.
///
/// # Errors
///
/// As for a [`request`] naming `source`.
///
/// # Example
///
/// ```
/// let client = weixin::source_client("http://127.0.0.1:4000")?;
/// assert!(format!("{client:?}").contains("127.0.0.1:4000"));
/// assert!(weixin::source_client("never-registered").is_err());
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn source_client(source: &str) -> Result<Client> {
    GLOBAL.lock().client_of(source)
}

/// The process-wide client [`request`] uses.
///
/// # Example
///
/// ```
/// let client = weixin::global_client();
/// assert!(format!("{client:?}").starts_with("Client"));
/// ```
pub fn global_client() -> Client {
    GLOBAL.lock().client.clone()
}
