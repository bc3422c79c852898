//! The authorizer exchange of a third-party platform: an authorization
//! code for an authorizer's tokens, the refresh token saved in the
//! platform's [`RefreshTokenStore`] before the access token is used.

use super::Client;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::options::RequestOptions;
use crate::secret::Secret;
use crate::token::component::RefreshTokenStore;
use crate::token::{Token, TokenKey};

/// What a third-party platform learns from `api_query_auth`: an
/// authorizer's tokens. Its refresh token is already stored when this is
/// returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthorizerTokens {
    /// The authorizer's appid.
    pub authorizer_appid: String,
    /// The authorizer's access token (also put into the client's cache).
    pub access_token: Token,
    /// The authorizer's refresh token.
    pub refresh_token: Secret,
    /// The permission sets granted, as WeChat sent them.
    pub func_info: serde_json::Value,
}

impl Client {
    /// Exchanges an authorization code (from the authorization redirect or
    /// an `authorized` push) for the authorizer's tokens through
    /// `/cgi-bin/component/api_query_auth` of the client's platform (its
    /// appid is the component appid). The refresh token is saved in
    /// `refresh_tokens` before anything else, then the access token is
    /// cached.
    ///
    /// `refresh_tokens` is where the platform keeps them: the store its
    /// [`ComponentSource`](crate::ComponentSource) loads them from, or a
    /// hub's [`Store`](crate::store::Store) (every store is a
    /// [`RefreshTokenStore`]). A client of a hub usually leaves the
    /// exchange to the hub, which makes it on the `authorized` push to its
    /// callback ([`hub_protocol`](crate::hub_protocol)); one that exchanges a code itself
    /// (from the authorization redirect) hands it the hub's store (the same
    /// file or Redis prefix), since the hub protocol carries no refresh
    /// token, and then gets the authorizer's tokens from the hub.
    ///
    /// # Errors
    ///
    /// As for [`Client::request`]; [`ErrorKind::InvalidRequest`] if the
    /// client has no appid; the store's error if the refresh token cannot
    /// be saved (the access token is then not cached); [`ErrorKind::Decode`]
    /// for an answer without `authorization_info`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weixin::testing::FakeWechat;
    /// use weixin::{ComponentSource, MemoryRefreshTokens, MemoryVerifyTickets, RefreshTokenStore};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register_component("wxcomp", "component-secret");
    /// fake.push_verify_ticket("wxcomp", "ticket@@@1");
    /// fake.add_authorizer("wxcomp", "wxauth");
    /// let tickets = Arc::new(MemoryVerifyTickets::new());
    /// tickets.set("wxcomp", "ticket@@@1");
    /// let refresh_tokens = Arc::new(MemoryRefreshTokens::new());
    /// let client = weixin::Client::builder()
    ///     .appid("wxcomp")
    ///     .base_url(fake.url())
    ///     .token_source(ComponentSource::new("wxcomp", "component-secret", tickets, refresh_tokens.clone()))
    ///     .build()?;
    ///
    /// let code = fake.authorization_code("wxcomp", "wxauth");
    /// let tokens = client.exchange_auth_code(&code, &refresh_tokens)?;
    /// assert_eq!(tokens.authorizer_appid, "wxauth");
    /// // Saved before it was handed out, where the source will read it.
    /// assert_eq!(refresh_tokens.load("wxcomp", "wxauth")?, Some(tokens.refresh_token));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exchange_auth_code(
        &self,
        authorization_code: &str,
        refresh_tokens: &dyn RefreshTokenStore,
    ) -> Result<AuthorizerTokens> {
        let component_appid = self.core.appid_or(None)?.to_string();
        self.exchange_auth_code_for(&component_appid, authorization_code, refresh_tokens)
    }

    /// Exchanges an authorization code for the authorizer's tokens, as
    /// [`exchange_auth_code`](Client::exchange_auth_code) does, through
    /// platform `component_appid` (a client serving several platforms).
    ///
    /// # Errors
    ///
    /// As for [`Client::exchange_auth_code`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::MemoryRefreshTokens;
    ///
    /// let fake = FakeWechat::start()?;
    /// let client = weixin::Client::builder().base_url(fake.url()).build()?;
    /// // No token source: the component token cannot be had.
    /// let err = client
    ///     .exchange_auth_code_for("wxcomp", "code", &MemoryRefreshTokens::new())
    ///     .unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exchange_auth_code_for(
        &self,
        component_appid: &str,
        authorization_code: &str,
        refresh_tokens: &dyn RefreshTokenStore,
    ) -> Result<AuthorizerTokens> {
        #[derive(serde::Deserialize)]
        struct Answer {
            authorization_info: Info,
        }
        #[derive(serde::Deserialize)]
        struct Info {
            authorizer_appid: String,
            authorizer_access_token: String,
            expires_in: u64,
            authorizer_refresh_token: String,
            #[serde(default)]
            func_info: serde_json::Value,
        }
        let call = RequestOptions::post("/cgi-bin/component/api_query_auth")
            .appid(component_appid)
            .json(serde_json::json!({ "authorization_code": authorization_code }));
        let info = self.call(call, |answer| {
            let info = answer.decode::<Answer>()?.authorization_info;
            if info.authorizer_refresh_token.is_empty() || info.authorizer_access_token.is_empty() {
                return Err(Error::decode("api_query_auth answer: a token is empty"));
            }
            Ok(info)
        })?;
        let refresh_token = Secret::new(info.authorizer_refresh_token);
        let access_token = Token::new(info.authorizer_access_token, info.expires_in);
        // Persist before use: a crash after this loses nothing.
        refresh_tokens.save(component_appid, &info.authorizer_appid, &refresh_token)?;
        let key = TokenKey::access_token(component_appid).for_authorizer(&info.authorizer_appid);
        self.core.tokens.adopt(&key, access_token.clone());
        Ok(AuthorizerTokens {
            authorizer_appid: info.authorizer_appid,
            access_token,
            refresh_token,
            func_info: info.func_info,
        })
    }
}
