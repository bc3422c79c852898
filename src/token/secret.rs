//! `SecretSource`: tokens straight from WeChat with appid + secret, and
//! tickets fetched with those tokens.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result, SourceKind};
use crate::http::{with_query, OutBody, Outgoing, SMALL_BODY_CAP};
use crate::options::Method;
use crate::origin::OwnBaseUrl;
use crate::response;
use crate::secret::Secret;
use crate::token::{Context, TicketType, Token, TokenKey, TokenKind, TokenSource};

/// The WeChat API origin a client calls unless told otherwise
/// ([`ClientBuilder::base_url`](crate::ClientBuilder::base_url)).
pub(crate) const DEFAULT_BASE_URL: &str = crate::origin::WECHAT_BASE_URLS[0];

/// Gets tokens directly from WeChat with each account's appid and secret.
///
/// By default tokens come from `GET /cgi-bin/token`, where every fetch
/// starts a new token lineage. With [`stable`](SecretSource::stable) they
/// come from `POST /cgi-bin/stable_token`, which hands every caller the same
/// token while it is valid: a refresh first asks normally and only forces a
/// new token (`force_refresh: true`, allowed about 20 times a day) if WeChat
/// still returns the rejected one.
///
/// Tickets (`jsapi`, `wx_card`) are fetched from `/cgi-bin/ticket/getticket`
/// with the account's cached access token.
///
/// Use one `SecretSource` per process only if that process is the only one
/// using the account; otherwise put a hub in front (see [`HubSource`](crate::HubSource)).
///
/// # Example
///
/// ```
/// let source = weixin::SecretSource::new("wx1234", "the-secret").stable(true);
/// assert!(!format!("{source:?}").contains("the-secret"));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct SecretSource {
    accounts: HashMap<String, Secret>,
    stable: bool,
    /// Unset: the client's base URL.
    base_url: OwnBaseUrl,
    /// Asked before every forced `stable_token` refresh, with the appid:
    /// an error refuses it (a hub's store-counted limits).
    force_gate: Option<ForceGate>,
}

/// See [`SecretSource::force_gate`].
pub(crate) type ForceGate = std::sync::Arc<dyn Fn(&str) -> Result<()> + Send + Sync>;

impl SecretSource {
    /// A source for one account.
    pub fn new(appid: impl Into<String>, secret: impl Into<Secret>) -> SecretSource {
        SecretSource {
            accounts: HashMap::new(),
            stable: false,
            base_url: OwnBaseUrl::default(),
            force_gate: None,
        }
        .account(appid, secret)
    }

    /// Adds another account.
    pub fn account(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> SecretSource {
        self.accounts.insert(appid.into(), secret.into());
        self
    }

    /// Uses `POST /cgi-bin/stable_token` instead of `GET /cgi-bin/token`.
    ///
    /// Defaults to `false`.
    pub fn stable(mut self, stable: bool) -> SecretSource {
        self.stable = stable;
        self
    }

    /// The WeChat origin tokens are fetched from, such as
    /// `https://api2.weixin.qq.com`, a fake WeChat's `http://127.0.0.1:port`
    /// or a reverse proxy's `http://proxy.internal/wechat` (its path is put
    /// before WeChat's), when it is not the client's. A URL that is not
    /// `http(s)://host[:port][/path]` (one with a query, say) fails every
    /// fetch with an [`ErrorKind::Config`](crate::ErrorKind::Config) error.
    ///
    /// Defaults to the base URL of the client it serves
    /// ([`ClientBuilder::base_url`](crate::ClientBuilder::base_url), itself
    /// `https://api.weixin.qq.com` by default).
    pub fn base_url(mut self, base_url: impl Into<String>) -> SecretSource {
        self.base_url = OwnBaseUrl::new(&base_url.into());
        self
    }

    /// Asks `gate` before each forced refresh (`force_refresh: true`); its
    /// error is returned instead of forcing.
    pub(crate) fn force_gate(mut self, gate: ForceGate) -> SecretSource {
        self.force_gate = Some(gate);
        self
    }

    fn secret_of(&self, appid: &str) -> Result<&Secret> {
        self.accounts
            .get(appid)
            .ok_or_else(|| Error::config(format!("SecretSource has no secret for appid {appid}")))
    }

    fn access_token(&self, cx: &Context<'_>, appid: &str, force_refresh: bool) -> Result<Token> {
        let secret = self.secret_of(appid)?;
        let base_url = base_url_or(&self.base_url, cx)?;
        let out = if self.stable {
            let body = serde_json::json!({
                "grant_type": "client_credential",
                "appid": appid,
                "secret": secret.expose(),
                "force_refresh": force_refresh,
            });
            Outgoing {
                method: Method::Post,
                url: format!("{base_url}/cgi-bin/stable_token"),
                headers: Vec::new(),
                body: OutBody::Json(body.to_string().into_bytes()),
                timeout: None,
                max_body: SMALL_BODY_CAP,
            }
        } else {
            Outgoing {
                method: Method::Get,
                url: with_query(
                    &format!("{base_url}/cgi-bin/token"),
                    [
                        ("grant_type", "client_credential"),
                        ("appid", appid),
                        ("secret", secret.expose()),
                    ],
                ),
                headers: Vec::new(),
                body: OutBody::Empty,
                timeout: None,
                max_body: SMALL_BODY_CAP,
            }
        };
        let resp = response::parse(cx.http().send(out)?)?;
        let body: TokenBody = resp.decode()?;
        body.into_token("access_token")
    }

    fn unsupported(key: &TokenKey) -> Error {
        Error::config(format!(
            "SecretSource cannot fetch {key:?}: it serves official accounts' access tokens and tickets"
        ))
    }
}

/// A source's own base URL if it was given one, else the client's.
///
/// # Errors
///
/// Why the source's own was refused.
pub(crate) fn base_url_or<'a>(own: &'a OwnBaseUrl, cx: &'a Context<'_>) -> Result<&'a str> {
    own.or(cx.base_url())
}

/// Fetches a ticket from `getticket` with the access token of the key's
/// account or authorizer, refreshing that token once if WeChat rejects it.
/// `base_url` is the source's own, if it has one.
pub(crate) fn fetch_ticket(
    base_url: &OwnBaseUrl,
    key: &TokenKey,
    ticket: TicketType,
    cx: &Context<'_>,
) -> Result<Token> {
    let url = format!("{}/cgi-bin/ticket/getticket", base_url_or(base_url, cx)?);
    cx.with_token(&key.access_token_key(), |token| {
        let out = Outgoing {
            method: Method::Get,
            url: with_query(
                &url,
                [("access_token", token.expose()), ("type", ticket.as_str())],
            ),
            headers: Vec::new(),
            body: OutBody::Empty,
            timeout: None,
            max_body: SMALL_BODY_CAP,
        };
        let resp = response::parse(cx.http().send(out)?)?;
        let body: TicketBody = resp.decode()?;
        if body.ticket.is_empty() {
            return Err(Error::decode("getticket answer: ticket is empty"));
        }
        Ok(Token::new(body.ticket, body.expires_in))
    })
}

#[derive(Deserialize)]
pub(crate) struct TokenBody {
    access_token: String,
    expires_in: u64,
}

impl TokenBody {
    pub(crate) fn into_token(self, what: &str) -> Result<Token> {
        if self.access_token.is_empty() {
            return Err(Error::decode(format!("token answer: {what} is empty")));
        }
        Ok(Token::new(self.access_token, self.expires_in))
    }
}

#[derive(Deserialize)]
struct TicketBody {
    ticket: String,
    expires_in: u64,
}

impl TokenSource for SecretSource {
    fn source_kind(&self) -> SourceKind {
        SourceKind::Direct
    }

    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        if key.authorizer_appid().is_some() {
            return Err(SecretSource::unsupported(key));
        }
        match key.kind() {
            TokenKind::AccessToken => self.access_token(cx, key.appid(), false),
            TokenKind::Ticket(ticket) => {
                self.secret_of(key.appid())?;
                fetch_ticket(&self.base_url, key, ticket, cx)
            }
            TokenKind::ComponentAccessToken => Err(SecretSource::unsupported(key)),
        }
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        if self.stable && key.kind() == TokenKind::AccessToken && key.authorizer_appid().is_none() {
            // Normal mode may already hand out a newer token (another
            // process forced one): only burn a forced refresh if not.
            let token = self.access_token(cx, key.appid(), false)?;
            if token.expose() != stale.expose() {
                return Ok(token);
            }
            if let Some(gate) = &self.force_gate {
                gate(key.appid())?;
            }
            return self.access_token(cx, key.appid(), true);
        }
        self.fetch(key, cx)
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut appids: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        appids.sort_unstable();
        f.debug_struct("SecretSource")
            .field("appids", &appids)
            .field("stable", &self.stable)
            .field("base_url", &self.base_url)
            .finish()
    }
}
