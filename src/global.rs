//! The free functions: one process-wide client, like elixir_wechat's
//! registry. Its settings are kept, so that setting one thing (the token
//! source) never resets another (the appid, the base URL).

use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::client::{Client, ClientBuilder};
use crate::error::Result;
use crate::options::RequestOptions;
use crate::response::Response;
use crate::token::cache::TokenCache;
use crate::token::TokenSource;

/// The process-wide client and what it was built from.
struct Global {
    /// The settings, without a shared cache.
    settings: ClientBuilder,
    /// The cache every client built here shares while its settings stay.
    cache: Arc<TokenCache>,
    client: Client,
}

impl Global {
    /// Replaces the settings, keeping the cache if it is made the same
    /// way. Nothing changes on error.
    fn replace(&mut self, settings: ClientBuilder) -> Result<()> {
        let cache = if settings.same_cache_settings(&self.settings) {
            self.cache.clone()
        } else {
            settings.cache()
        };
        let client = settings
            .clone()
            .shared(settings.http(), cache.clone())
            .build()?;
        *self = Global {
            settings,
            cache,
            client,
        };
        Ok(())
    }
}

static GLOBAL: Lazy<Mutex<Global>> = Lazy::new(|| {
    let settings = ClientBuilder::default();
    let cache = settings.cache();
    let client = settings
        .clone()
        .shared(settings.http(), cache.clone())
        .build()
        // ok because the defaults are valid
        .unwrap_or_else(|_| unreachable!());
    Mutex::new(Global {
        settings,
        cache,
        client,
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
/// Accepts [`RequestOptions`] or a bare path (a `GET`).
///
/// # Errors
///
/// As for [`Client::request`].
///
/// # Example
///
/// ```no_run
/// weixin::configure(weixin::Client::builder().appid("wx1234"))?;
/// weixin::set_token_source(weixin::HubSource::new("http://127.0.0.1:4000")?);
/// let ips = weixin::request("/cgi-bin/get_api_domain_ip")?;
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn request(options: impl Into<RequestOptions>) -> Result<Response> {
    global_client().request(options)
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
