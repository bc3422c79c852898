//! Tickets through the cache and ready JSSDK configurations.

use super::Client;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::sign::{self, JssdkConfig};
use crate::token::{TicketType, Token, TokenKey};

impl Client {
    /// A ticket of `appid` (the client's appid if `None`) through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::token`]; [`ErrorKind::InvalidRequest`] without appid.
    pub fn ticket(&self, appid: Option<&str>, ticket: TicketType) -> Result<Token> {
        let appid = self.core.appid_or(appid)?;
        self.core.tokens.get(&TokenKey::ticket(appid, ticket))
    }

    /// A ready `wx.config` for the page at `url` of account `appid` (the
    /// client's appid if `None`): the `jsapi` ticket is fetched through the
    /// cache and signed with a fresh noncestr and the current time.
    ///
    /// # Errors
    ///
    /// As for [`Client::ticket`].
    pub fn jssdk_config(&self, appid: Option<&str>, url: &str) -> Result<JssdkConfig> {
        let appid = self.core.appid_or(appid)?;
        self.jssdk_config_of(appid, TokenKey::ticket(appid, TicketType::Jsapi), url)
    }

    /// A ready `wx.config` for the page at `url` of an authorizer of the
    /// client's third-party platform (the client's appid is the component
    /// appid): the authorizer's `jsapi` ticket is fetched through the cache.
    ///
    /// # Errors
    ///
    /// As for [`Client::ticket`].
    pub fn authorizer_jssdk_config(
        &self,
        authorizer_appid: &str,
        url: &str,
    ) -> Result<JssdkConfig> {
        let component_appid = self.core.appid_or(None)?;
        let key =
            TokenKey::ticket(component_appid, TicketType::Jsapi).for_authorizer(authorizer_appid);
        self.jssdk_config_of(authorizer_appid, key, url)
    }

    fn jssdk_config_of(&self, appid: &str, ticket_key: TokenKey, url: &str) -> Result<JssdkConfig> {
        let ticket = self.core.tokens.get(&ticket_key)?;
        let sig = sign::sign_jssdk(ticket.secret(), url);
        Ok(JssdkConfig {
            app_id: appid.to_string(),
            timestamp: sig.timestamp,
            nonce_str: sig.noncestr,
            signature: sig.signature,
        })
    }
}
