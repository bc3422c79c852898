//! `ComponentSource`: a third-party platform's component access token and
//! its authorizers' access tokens, straight from WeChat, with the verify
//! ticket and refresh tokens kept by user-supplied stores.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

use crate::error::{Error, Result, SourceKind};
use crate::http::{with_query, OutBody, Outgoing, SMALL_BODY_CAP};
use crate::options::Method;
use crate::origin::OwnBaseUrl;
use crate::response;
use crate::secret::Secret;
use crate::token::secret::{base_url_or, fetch_ticket};
use crate::token::{Context, Token, TokenKey, TokenKind, TokenSource};

/// Gives the latest `component_verify_ticket` WeChat pushed to a platform.
///
/// WeChat pushes a new ticket every 10 minutes (see the `crypto` feature
/// for decrypting the push); each is valid 12 hours. Closures
/// `Fn(&str) -> Option<String>` implement it, and so does
/// [`MemoryVerifyTickets`].
pub trait VerifyTicketProvider: Send + Sync {
    /// The latest ticket for `component_appid`, or `None` if none arrived
    /// yet.
    ///
    /// # Errors
    ///
    /// When the store holding tickets fails.
    fn verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>>;
}

impl<F> VerifyTicketProvider for F
where
    F: Fn(&str) -> Option<String> + Send + Sync,
{
    fn verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        Ok(self(component_appid).map(Secret::new))
    }
}

/// Keeps authorizers' refresh tokens.
///
/// WeChat may hand out a new `authorizer_refresh_token` on every refresh;
/// losing it means the account owner must authorize the platform again. A
/// [`ComponentSource`] saves a rotated refresh token here **before** the new
/// access token is used, and
/// [`Client::exchange_auth_code`](crate::Client::exchange_auth_code) saves
/// an authorizer's first one here before its access token is cached, so a
/// crash cannot lose it: implement `save` so that it returns only once the
/// token is durable. Hand the exchange the store the platform's
/// [`ComponentSource`] (or hub) reads.
pub trait RefreshTokenStore: Send + Sync {
    /// The refresh token of `authorizer_appid`, if one is stored.
    ///
    /// # Errors
    ///
    /// When the store fails.
    fn load(&self, component_appid: &str, authorizer_appid: &str) -> Result<Option<Secret>>;

    /// Stores `refresh_token` for `authorizer_appid`, replacing the old one.
    ///
    /// # Errors
    ///
    /// When the token could not be stored durably.
    fn save(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()>;
}

impl<T: RefreshTokenStore + ?Sized> RefreshTokenStore for Arc<T> {
    fn load(&self, component_appid: &str, authorizer_appid: &str) -> Result<Option<Secret>> {
        (**self).load(component_appid, authorizer_appid)
    }

    fn save(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        (**self).save(component_appid, authorizer_appid, refresh_token)
    }
}

impl<T: VerifyTicketProvider + ?Sized> VerifyTicketProvider for Arc<T> {
    fn verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        (**self).verify_ticket(component_appid)
    }
}

/// Refresh tokens in memory: for tests and for processes that re-authorize
/// on restart. Share it with an `Arc` to keep it across clients.
#[derive(Default)]
pub struct MemoryRefreshTokens {
    tokens: Mutex<HashMap<(String, String), Secret>>,
}

impl MemoryRefreshTokens {
    /// An empty store.
    pub fn new() -> MemoryRefreshTokens {
        MemoryRefreshTokens::default()
    }
}

impl RefreshTokenStore for MemoryRefreshTokens {
    fn load(&self, component_appid: &str, authorizer_appid: &str) -> Result<Option<Secret>> {
        let key = (component_appid.to_string(), authorizer_appid.to_string());
        Ok(self.tokens.lock().get(&key).cloned())
    }

    fn save(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        let key = (component_appid.to_string(), authorizer_appid.to_string());
        self.tokens.lock().insert(key, refresh_token.clone());
        Ok(())
    }
}

impl fmt::Debug for MemoryRefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshTokens")
            .field("authorizers", &self.tokens.lock().len())
            .finish()
    }
}

/// Verify tickets in memory, set when a push arrives.
#[derive(Default)]
pub struct MemoryVerifyTickets {
    tickets: Mutex<HashMap<String, Secret>>,
}

impl MemoryVerifyTickets {
    /// An empty store.
    pub fn new() -> MemoryVerifyTickets {
        MemoryVerifyTickets::default()
    }

    /// Records the latest ticket pushed for `component_appid`.
    pub fn set(&self, component_appid: &str, ticket: impl Into<Secret>) {
        self.tickets
            .lock()
            .insert(component_appid.to_string(), ticket.into());
    }
}

impl VerifyTicketProvider for MemoryVerifyTickets {
    fn verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        Ok(self.tickets.lock().get(component_appid).cloned())
    }
}

impl fmt::Debug for MemoryVerifyTickets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryVerifyTickets")
            .finish_non_exhaustive()
    }
}

/// Gets a third-party platform's tokens directly from WeChat:
/// `component_access_token` from `api_component_token` (with the latest
/// verify ticket) and authorizer access tokens from `api_authorizer_token`
/// (with the stored refresh token, saving a rotated one before use).
/// Authorizers' `jsapi` / `wx_card` tickets come from `getticket` with the
/// authorizer's token.
///
/// Keys: [`TokenKey::component_access_token`] for the platform,
/// `TokenKey::access_token(component_appid).for_authorizer(authorizer)` for
/// an authorizer.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use weixin::{ComponentSource, MemoryRefreshTokens, MemoryVerifyTickets};
///
/// let tickets = Arc::new(MemoryVerifyTickets::new());
/// let refresh_tokens = Arc::new(MemoryRefreshTokens::new());
/// let source = ComponentSource::new("wxcomponent", "component-secret", tickets.clone(), refresh_tokens);
/// tickets.set("wxcomponent", "ticket@@@pushed");
/// assert!(!format!("{source:?}").contains("component-secret"));
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct ComponentSource {
    component_appid: String,
    secret: Secret,
    tickets: Arc<dyn VerifyTicketProvider>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// Rotated refresh tokens whose save failed, by authorizer: used (and
    /// saved again) on the next fetch, so a store outage loses nothing
    /// while the process lives.
    unsaved: Mutex<HashMap<String, Rotation>>,
    /// Unset: the client's base URL.
    base_url: OwnBaseUrl,
}

/// A refresh token WeChat rotated, and the one it replaced.
#[derive(Clone)]
struct Rotation {
    replaced: Secret,
    rotated: Secret,
}

#[derive(Deserialize)]
struct ComponentTokenBody {
    component_access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct AuthorizerTokenBody {
    authorizer_access_token: String,
    expires_in: u64,
    #[serde(default)]
    authorizer_refresh_token: Option<String>,
}

impl ComponentSource {
    /// A source for platform `component_appid` with its secret, where
    /// verify tickets come from `tickets` and refresh tokens are kept in
    /// `refresh_tokens`.
    pub fn new(
        component_appid: impl Into<String>,
        component_appsecret: impl Into<Secret>,
        tickets: impl VerifyTicketProvider + 'static,
        refresh_tokens: impl RefreshTokenStore + 'static,
    ) -> ComponentSource {
        ComponentSource {
            component_appid: component_appid.into(),
            secret: component_appsecret.into(),
            tickets: Arc::new(tickets),
            refresh_tokens: Arc::new(refresh_tokens),
            unsaved: Mutex::new(HashMap::new()),
            base_url: OwnBaseUrl::default(),
        }
    }

    /// The WeChat origin tokens are fetched from, when it is not the
    /// client's: as for [`SecretSource::base_url`](crate::SecretSource::base_url),
    /// a path (a reverse proxy's `/wechat`) is put before WeChat's.
    ///
    /// Defaults to the base URL of the client it serves
    /// ([`ClientBuilder::base_url`](crate::ClientBuilder::base_url), itself
    /// `https://api.weixin.qq.com` by default).
    pub fn base_url(mut self, base_url: impl Into<String>) -> ComponentSource {
        self.base_url = OwnBaseUrl::new(&base_url.into());
        self
    }

    fn check_appid(&self, key: &TokenKey) -> Result<()> {
        if key.appid() != self.component_appid {
            return Err(Error::config(format!(
                "ComponentSource for {} cannot fetch {key:?}",
                self.component_appid
            )));
        }
        Ok(())
    }

    fn component_token(&self, cx: &Context<'_>) -> Result<Token> {
        let ticket = self.tickets.verify_ticket(&self.component_appid)?.ok_or_else(|| {
            Error::config(format!(
                "no component_verify_ticket for {} yet: WeChat pushes one every 10 minutes to the authorization event URL",
                self.component_appid
            ))
        })?;
        let body = serde_json::json!({
            "component_appid": self.component_appid,
            "component_appsecret": self.secret.expose(),
            "component_verify_ticket": ticket.expose(),
        });
        let out = Outgoing {
            method: Method::Post,
            url: format!(
                "{}/cgi-bin/component/api_component_token",
                base_url_or(&self.base_url, cx)?
            ),
            headers: Vec::new(),
            body: OutBody::Json(body.to_string().into_bytes()),
            timeout: None,
            max_body: SMALL_BODY_CAP,
        };
        let resp = response::parse(cx.http().send(out)?)?;
        let body: ComponentTokenBody = resp.decode()?;
        if body.component_access_token.is_empty() {
            return Err(Error::decode(
                "api_component_token answer: component_access_token is empty",
            ));
        }
        Ok(Token::new(body.component_access_token, body.expires_in))
    }

    /// The refresh token to call `api_authorizer_token` with: the stored
    /// one, or a rotation whose save failed last time, saved now, while the
    /// store still holds the token it replaced. Anything else in the store
    /// (an authorization since, [`Client::exchange_auth_code`]'s, or
    /// another process's rotation) is newer than the pending rotation, and
    /// an empty store means the authorizer left: the rotation is dropped.
    ///
    /// [`Client::exchange_auth_code`]: crate::Client::exchange_auth_code
    fn refresh_token(&self, authorizer: &str) -> Result<Secret> {
        let stored = self
            .refresh_tokens
            .load(&self.component_appid, authorizer)?;
        let pending = self.unsaved.lock().get(authorizer).cloned();
        if let Some(pending) = pending {
            if stored.as_ref() == Some(&pending.replaced) {
                self.refresh_tokens
                    .save(&self.component_appid, authorizer, &pending.rotated)?;
                self.unsaved.lock().remove(authorizer);
                return Ok(pending.rotated);
            }
            self.unsaved.lock().remove(authorizer);
        }
        stored.ok_or_else(|| {
            Error::invalid(format!(
                "no authorizer_refresh_token stored for authorizer {authorizer}: the account must authorize the platform"
            ))
        })
    }

    fn authorizer_token(&self, authorizer: &str, cx: &Context<'_>) -> Result<Token> {
        let refresh_token = self.refresh_token(authorizer)?;
        let url = format!(
            "{}/cgi-bin/component/api_authorizer_token",
            base_url_or(&self.base_url, cx)?
        );
        let body = serde_json::json!({
            "component_appid": self.component_appid,
            "authorizer_appid": authorizer,
            "authorizer_refresh_token": refresh_token.expose(),
        })
        .to_string()
        .into_bytes();
        let answer: AuthorizerTokenBody = cx.with_token(
            &TokenKey::component_access_token(&self.component_appid),
            |ct| {
                let out = Outgoing {
                    method: Method::Post,
                    url: with_query(&url, [("component_access_token", ct.expose())]),
                    headers: Vec::new(),
                    body: OutBody::Json(body.clone()),
                    timeout: None,
                    max_body: SMALL_BODY_CAP,
                };
                response::parse(cx.http().send(out)?)?.decode()
            },
        )?;
        if let Some(rotated) = answer.authorizer_refresh_token.filter(|t| !t.is_empty()) {
            if rotated != refresh_token.expose() {
                let rotated = Secret::new(rotated);
                // Persist before the new access token is handed out.
                if let Err(e) =
                    self.refresh_tokens
                        .save(&self.component_appid, authorizer, &rotated)
                {
                    let rotation = Rotation {
                        replaced: refresh_token,
                        rotated,
                    };
                    self.unsaved.lock().insert(authorizer.to_string(), rotation);
                    return Err(e);
                }
            }
        }
        if answer.authorizer_access_token.is_empty() {
            return Err(Error::decode(
                "api_authorizer_token answer: authorizer_access_token is empty",
            ));
        }
        Ok(Token::new(
            answer.authorizer_access_token,
            answer.expires_in,
        ))
    }
}

impl TokenSource for ComponentSource {
    fn source_kind(&self) -> SourceKind {
        SourceKind::Component
    }

    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        self.check_appid(key)?;
        match (key.kind(), key.authorizer_appid()) {
            (TokenKind::ComponentAccessToken, None) => self.component_token(cx),
            (TokenKind::AccessToken, Some(authorizer)) => self.authorizer_token(authorizer, cx),
            (TokenKind::Ticket(ticket), Some(_)) => fetch_ticket(&self.base_url, key, ticket, cx),
            _ => Err(Error::config(format!(
                "ComponentSource serves the component token and authorizers' tokens and tickets, not {key:?}"
            ))),
        }
    }
}

impl fmt::Debug for ComponentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentSource")
            .field("component_appid", &self.component_appid)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}
