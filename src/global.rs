//! The free functions: one process-wide client sharing one agent and one
//! token cache, like elixir_wechat's registry.

use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::RwLock;

use crate::client::{Client, ClientBuilder};
use crate::error::Result;
use crate::http::Http;
use crate::options::RequestOptions;
use crate::response::Response;
use crate::token::cache::TokenCache;
use crate::token::TokenSource;

/// The agent and cache every process-wide client shares, so tokens survive
/// [`set_token_source`] being called again.
static SHARED: Lazy<(Http, Arc<TokenCache>)> = Lazy::new(|| ClientBuilder::default().parts());

static GLOBAL: Lazy<RwLock<Client>> =
    Lazy::new(|| RwLock::new(shared_builder().build().unwrap_or_else(|_| unreachable!())));

fn shared_builder() -> ClientBuilder {
    let (http, cache) = &*SHARED;
    Client::builder().shared(http.clone(), cache.clone())
}

/// Sets the token source used by [`request`]; its tokens go to the
/// process-wide cache.
///
/// Defaults to none: [`request`] then works only for calls that need no
/// token.
pub fn set_token_source(source: impl TokenSource + 'static) {
    set_global(shared_builder().token_source(source));
}

/// Replaces the process-wide client's settings (default appid, host,
/// retries...) while keeping the shared agent and token cache. Timeouts and
/// the cache's settings (expiry margin, refresh limit, clock) are those of
/// [`ClientBuilder`]'s defaults.
///
/// # Errors
///
/// As for [`ClientBuilder::build`].
pub fn configure(builder: ClientBuilder) -> Result<()> {
    let (http, cache) = &*SHARED;
    let client = builder.shared(http.clone(), cache.clone()).build()?;
    *GLOBAL.write() = client;
    Ok(())
}

fn set_global(builder: ClientBuilder) {
    // ok because the shared builder has only valid defaults plus a source
    if let Ok(client) = builder.build() {
        *GLOBAL.write() = client;
    }
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
/// wechat::set_token_source(wechat::HubSource::new("http://127.0.0.1:4000")?);
/// let ips = wechat::request(wechat::RequestOptions::get("/cgi-bin/get_api_domain_ip").appid("wx1234"))?;
/// # Ok::<(), wechat::Error>(())
/// ```
pub fn request(options: impl Into<RequestOptions>) -> Result<Response> {
    let client = GLOBAL.read().clone();
    client.request(options)
}

/// The process-wide client [`request`] uses.
pub fn global_client() -> Client {
    GLOBAL.read().clone()
}
