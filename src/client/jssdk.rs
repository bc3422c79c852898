//! Tickets through the cache, ready JSSDK (`wx.config`) configurations and
//! card signatures (`wx.addCard`).
//!
//! Each comes for the client's own appid, `_for` a named one, and for an
//! authorizer of the client's platform.

use super::Client;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::sign::{self, CardSignature, JssdkConfig};
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

    /// A card signature for `wx.addCard` of card `card_id` of the
    /// client's appid: the `wx_card` ticket is fetched through the cache
    /// and signed with a fresh nonce and the current time, for any user,
    /// or for `openid` alone when given.
    ///
    /// # Errors
    ///
    /// As for [`Client::card_ticket`].
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
    /// let sig = client.add_card_signature("p_card", Some("o_user"))?;
    /// let ticket = client.card_ticket()?;
    /// assert_eq!(
    ///     sig,
    ///     weixin::sign_add_card_with(ticket.expose(), "p_card", None, Some("o_user"), &sig.nonce_str, sig.timestamp)
    /// );
    /// assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_card_signature(&self, card_id: &str, openid: Option<&str>) -> Result<CardSignature> {
        self.add_card_signature_for(self.core.appid_or(None)?, card_id, openid)
    }

    /// A card signature for `wx.addCard` of card `card_id` of account
    /// `appid`, as [`add_card_signature`](Client::add_card_signature)
    /// makes one for the client's.
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
    /// let sig = client.add_card_signature_for("wx2", "p_card", None)?;
    /// assert!(sig.card_ext.ends_with(&format!(r#""signature":"{}"}}"#, sig.signature)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_card_signature_for(
        &self,
        appid: &str,
        card_id: &str,
        openid: Option<&str>,
    ) -> Result<CardSignature> {
        self.card_signature_of(TokenKey::ticket(appid, TicketType::WxCard), card_id, openid)
    }

    /// A card signature for `wx.addCard` of card `card_id` of an
    /// authorizer of the client's third-party platform (the client's
    /// appid is the component appid): the authorizer's `wx_card` ticket is
    /// fetched through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::authorizer_wx_config`].
    ///
    /// # Example
    ///
    /// ```
    /// let client = weixin::Client::builder().build()?;
    /// let err = client.authorizer_add_card_signature("wxAuthorizer", "p_card", None).unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::InvalidRequest { .. })); // no platform appid
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn authorizer_add_card_signature(
        &self,
        authorizer_appid: &str,
        card_id: &str,
        openid: Option<&str>,
    ) -> Result<CardSignature> {
        let component_appid = self.core.appid_or(None)?;
        let key =
            TokenKey::ticket(component_appid, TicketType::WxCard).for_authorizer(authorizer_appid);
        self.card_signature_of(key, card_id, openid)
    }

    fn card_signature_of(
        &self,
        ticket_key: TokenKey,
        card_id: &str,
        openid: Option<&str>,
    ) -> Result<CardSignature> {
        let ticket = self.core.tokens.get(&ticket_key)?;
        Ok(match openid {
            Some(openid) => sign::sign_add_card_for(ticket.expose(), card_id, openid),
            None => sign::sign_add_card(ticket.expose(), card_id),
        })
    }
}
