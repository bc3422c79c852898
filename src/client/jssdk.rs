//! Tickets through the cache and ready JSSDK (`wx.config`) configurations.
//!
//! Each comes twice: for the client's own appid, and `_for` a named one.

use super::Client;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::sign::{self, JssdkConfig};
use crate::token::{TicketType, Token, TokenKey};

impl Client {
    /// The `jsapi` ticket of the client's appid, through the cache: what
    /// JSSDK page configurations are signed with.
    ///
    /// # Errors
    ///
    /// As for [`Client::token`]; [`ErrorKind::InvalidRequest`] if the client
    /// has no appid.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let ticket = client.jsapi_ticket()?;
    /// assert_eq!(client.jsapi_ticket()?, ticket);
    /// assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jsapi_ticket(&self) -> Result<Token> {
        self.ticket_for(self.core.appid_or(None)?, TicketType::Jsapi)
    }

    /// The `wx_card` ticket (card and coupon `api_ticket`) of the client's
    /// appid, through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::jsapi_ticket`].
    ///
    /// # Example
    ///
    /// ```
    /// let client = weixin::Client::builder().build()?;
    /// let err = client.card_ticket().unwrap_err(); // no appid to ask for
    /// assert!(matches!(err.kind(), weixin::ErrorKind::InvalidRequest { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn card_ticket(&self) -> Result<Token> {
        self.ticket_for(self.core.appid_or(None)?, TicketType::WxCard)
    }

    /// A ticket of account `appid`, through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::token`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::TicketType;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx2", "s2");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx2", "s2"))
    ///     .build()?;
    /// let ticket = client.ticket_for("wx2", TicketType::WxCard)?;
    /// assert!(ticket.expires_in() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ticket_for(&self, appid: &str, ticket: TicketType) -> Result<Token> {
        self.core.tokens.get(&TokenKey::ticket(appid, ticket))
    }

    /// A ready `wx.config` for the page at `url` of the client's appid:
    /// the `jsapi` ticket is fetched through the cache and signed with a
    /// fresh nonce and the current time. Everything from `#` on is left out
    /// of the signature.
    ///
    /// # Errors
    ///
    /// As for [`Client::jsapi_ticket`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let page = "https://example.com/page?id=1#top";
    /// let config = client.wx_config(page)?;
    /// let ticket = client.jsapi_ticket()?;
    /// assert_eq!(config.app_id, "wx1");
    /// assert_eq!(
    ///     config.signature,
    ///     weixin::sign_jssdk_with(ticket.expose(), page, &config.nonce_str, config.timestamp)
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wx_config(&self, url: &str) -> Result<JssdkConfig> {
        self.wx_config_for(self.core.appid_or(None)?, url)
    }

    /// A ready `wx.config` for the page at `url` of account `appid`, as
    /// [`wx_config`](Client::wx_config) makes one for the client's.
    ///
    /// # Errors
    ///
    /// As for [`Client::ticket_for`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx2", "s2");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx2", "s2"))
    ///     .build()?;
    /// assert_eq!(client.wx_config_for("wx2", "https://example.com/")?.app_id, "wx2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wx_config_for(&self, appid: &str, url: &str) -> Result<JssdkConfig> {
        self.wx_config_of(appid, TokenKey::ticket(appid, TicketType::Jsapi), url)
    }

    /// A ready `wx.config` for the page at `url` of an authorizer of the
    /// client's third-party platform (the client's appid is the component
    /// appid): the authorizer's `jsapi` ticket is fetched through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::token`]; [`ErrorKind::InvalidRequest`] if the
    /// client has no appid.
    ///
    /// # Example
    ///
    /// ```
    /// let client = weixin::Client::builder().build()?;
    /// let err = client.authorizer_wx_config("wxAuthorizer", "https://example.com/").unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::InvalidRequest { .. })); // no platform appid
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn authorizer_wx_config(&self, authorizer_appid: &str, url: &str) -> Result<JssdkConfig> {
        let component_appid = self.core.appid_or(None)?;
        let key =
            TokenKey::ticket(component_appid, TicketType::Jsapi).for_authorizer(authorizer_appid);
        self.wx_config_of(authorizer_appid, key, url)
    }

    fn wx_config_of(&self, appid: &str, ticket_key: TokenKey, url: &str) -> Result<JssdkConfig> {
        let ticket = self.core.tokens.get(&ticket_key)?;
        let sig = sign::sign_jssdk(ticket.expose(), url);
        Ok(JssdkConfig {
            app_id: appid.to_string(),
            timestamp: sig.timestamp,
            nonce_str: sig.nonce_str,
            signature: sig.signature,
        })
    }
}
