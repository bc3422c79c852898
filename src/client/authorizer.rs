//! The authorizer exchange of a third-party platform: an authorization
//! code for an authorizer's tokens, the refresh token saved before use.

use super::Client;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::options::RequestOptions;
use crate::secret::Secret;
#[cfg(doc)]
use crate::token::TokenSource;
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
    /// `/cgi-bin/component/api_query_auth` of platform `component_appid`
    /// (the client's appid if `None`). The refresh token is handed to the
    /// token source's [`save_refresh_token`](TokenSource::save_refresh_token)
    /// before anything else, then the access token is cached.
    ///
    /// # Errors
    ///
    /// As for [`Client::request`]; the source's error if the refresh token
    /// cannot be saved (the access token is then not cached);
    /// [`ErrorKind::Decode`] for an answer without `authorization_info`.
    pub fn query_auth(
        &self,
        component_appid: Option<&str>,
        authorization_code: &str,
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
        let component_appid = self.core.appid_or(component_appid)?.to_string();
        let resp = self.request(
            RequestOptions::post("/cgi-bin/component/api_query_auth")
                .appid(component_appid.as_str())
                .json(serde_json::json!({ "authorization_code": authorization_code })),
        )?;
        let info = resp.decode::<Answer>()?.authorization_info;
        if info.authorizer_refresh_token.is_empty() || info.authorizer_access_token.is_empty() {
            return Err(Error::decode("api_query_auth answer: a token is empty"));
        }
        let key = TokenKey::access_token(&component_appid).for_authorizer(&info.authorizer_appid);
        let refresh_token = Secret::new(info.authorizer_refresh_token);
        let access_token = Token::new(info.authorizer_access_token, info.expires_in);
        // Persist before use: a crash after this loses nothing.
        self.core
            .tokens
            .adopt_authorizer(&key, &refresh_token, access_token.clone())?;
        Ok(AuthorizerTokens {
            authorizer_appid: info.authorizer_appid,
            access_token,
            refresh_token,
            func_info: info.func_info,
        })
    }
}
