//! OAuth2 web authorization (网页授权) and website QR login: the URLs a
//! user is sent to, and the user's own token that comes back.

use serde::Deserialize;

use crate::app::App;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::http::with_query;
use crate::options::RequestOptions;
use crate::secret::Secret;
use crate::token::unix_now;

/// Where WeChat asks a user inside WeChat to authorize a page.
const AUTHORIZE: &str = "https://open.weixin.qq.com/connect/oauth2/authorize";
/// Where a website shows its QR code for login with WeChat.
const QRCONNECT: &str = "https://open.weixin.qq.com/connect/qrconnect";
/// WeChat refuses a longer `state`.
const MAX_STATE: usize = 128;

/// What a page asks a user for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// `snsapi_base`: the openid only, without asking the user.
    Base,
    /// `snsapi_userinfo`: the user's profile too, after the user agrees.
    UserInfo,
}

impl Scope {
    /// The name WeChat uses: `snsapi_base` or `snsapi_userinfo`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weixin::Scope::UserInfo.as_str(), "snsapi_userinfo");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "snsapi_base",
            Scope::UserInfo => "snsapi_userinfo",
        }
    }
}

/// The language of a user's country, province and city in [`UserInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Lang {
    /// `zh_CN`, simplified Chinese (WeChat's default).
    #[default]
    ZhCn,
    /// `zh_TW`, traditional Chinese.
    ZhTw,
    /// `en`, English.
    En,
}

impl Lang {
    /// The name WeChat uses: `zh_CN`, `zh_TW` or `en`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weixin::Lang::default().as_str(), "zh_CN");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh_CN",
            Lang::ZhTw => "zh_TW",
            Lang::En => "en",
        }
    }
}

/// A user's own token from an OAuth2 code: who the user is and what the
/// page may read. It belongs to this user only and never enters the
/// client's account token cache; keep it with the user's session.
///
/// `Debug` prints the access and refresh tokens as `[redacted]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UserToken {
    /// The user's id within the app.
    pub openid: String,
    /// The user's id across the apps of one open platform account, when the
    /// app is bound to one.
    pub unionid: Option<String>,
    /// The scopes granted, comma separated, for example `snsapi_userinfo`.
    pub scope: String,
    /// The token for [`OAuth::user_info`] and [`OAuth::check`].
    pub access_token: Secret,
    /// The token for [`OAuth::refresh`] (valid 30 days).
    pub refresh_token: Secret,
    /// When it was received, in Unix seconds.
    pub obtained_at: u64,
    /// How many seconds after `obtained_at` the access token expires.
    pub expires_in: u64,
    /// True when the user is browsing a page snapshot (朋友圈快照页) and
    /// has not really authorized it.
    pub is_snapshot_user: bool,
}

impl UserToken {
    /// When the access token expires, in Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.obtained_at.saturating_add(self.expires_in)
    }

    /// True when `scope` is among the scopes granted.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scope.split(',').any(|s| s.trim() == scope.as_str())
    }
}

/// A user's profile from `/sns/userinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's id within the app.
    pub openid: String,
    /// The user's nickname.
    #[serde(default)]
    pub nickname: String,
    /// 1 male, 2 female, 0 unknown (WeChat now sends 0).
    #[serde(default)]
    pub sex: u8,
    /// The province, in the language asked for.
    #[serde(default)]
    pub province: String,
    /// The city, in the language asked for.
    #[serde(default)]
    pub city: String,
    /// The country, in the language asked for.
    #[serde(default)]
    pub country: String,
    /// The avatar's URL (empty when the user has none).
    #[serde(default)]
    pub headimgurl: String,
    /// Privileges, such as WeChat Pay card holders'.
    #[serde(default)]
    pub privilege: Vec<String>,
    /// The user's id across the apps of one open platform account.
    #[serde(default)]
    pub unionid: Option<String>,
}

/// OAuth2 web authorization for one app (an official account, a website
/// app, or an official account a third-party platform acts for): the
/// authorize URL, then the user's code exchanged for a [`UserToken`].
///
/// The code exchange authenticates by the app's secret
/// ([`secret`](OAuth::secret)) or through the platform
/// ([`component`](OAuth::component)); the URLs need neither. No call
/// carries an account token, so the [`Client`] needs no token source unless
/// it goes through a platform (then its source is the platform's
/// [`ComponentSource`](crate::ComponentSource) or hub).
///
/// `Debug` prints the secret as `[redacted]`.
///
/// # Example
///
/// ```
/// use weixin::testing::FakeWechat;
/// use weixin::{OAuth, Scope};
///
/// let fake = FakeWechat::start()?; // stands in for api.weixin.qq.com
/// let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
/// fake.register("wx1234", &secret);
/// let client = weixin::Client::builder()
///     .base_url(fake.url())
///     .build()?;
/// let oauth = OAuth::new("wx1234").secret(secret);
///
/// // 1. Send the user to WeChat ...
/// let url = oauth.authorize_url("https://example.com/back", Scope::UserInfo, "xyz")?;
/// assert!(url.starts_with("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1234&"));
/// // 2. ... who sends them back to https://example.com/back?code=..&state=xyz
/// let code = fake.oauth_code("wx1234", "o_user_1");
/// let user = oauth.exchange_code(&client, &code)?;
/// assert_eq!(user.openid, "o_user_1");
/// assert_eq!(oauth.user_info(&client, &user, weixin::Lang::En)?.openid, "o_user_1");
/// // A code works once.
/// assert_eq!(oauth.exchange_code(&client, &code).unwrap_err().errcode(), Some(40163));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct OAuth {
    app: App,
}

impl OAuth {
    /// OAuth2 for app `appid`, with neither secret nor platform yet: enough
    /// for the URLs, [`check`](OAuth::check) and
    /// [`user_info`](OAuth::user_info).
    pub fn new(appid: impl Into<String>) -> OAuth {
        OAuth {
            app: App::new(appid.into()),
        }
    }

    /// The app's secret, for [`exchange_code`](OAuth::exchange_code).
    /// Replaces [`component`](OAuth::component).
    ///
    /// Defaults to none.
    pub fn secret(mut self, secret: impl Into<Secret>) -> OAuth {
        self.app.secret(secret.into());
        self
    }

    /// Goes through third-party platform `component_appid`, which the app
    /// authorized: the authorize URL names the platform, and the code
    /// exchange and refresh use `/sns/oauth2/component/*` with the
    /// platform's token instead of the app's secret. The client then needs
    /// the platform as its token source and its appid as the client's (or
    /// this) `component_appid`. Replaces [`secret`](OAuth::secret).
    ///
    /// Defaults to none.
    pub fn component(mut self, component_appid: impl Into<String>) -> OAuth {
        self.app.component(component_appid.into());
        self
    }

    /// The app's appid.
    pub fn appid(&self) -> &str {
        self.app.appid()
    }

    /// The URL that asks a user inside WeChat to authorize `scope` for this
    /// app, then sends them to `redirect_uri` (whose domain must be the
    /// app's configured authorization domain) with `code` and `state`:
    ///
    /// `https://open.weixin.qq.com/connect/oauth2/authorize?appid=..&redirect_uri=..&response_type=code&scope=..&state=..[&component_appid=..]#wechat_redirect`
    ///
    /// `redirect_uri` and `state` are percent-encoded.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) when
    /// `redirect_uri` is not an `http://` or `https://` URL or `state` is
    /// longer than 128 bytes (WeChat refuses it).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{OAuth, Scope};
    ///
    /// let url = OAuth::new("wx1234").authorize_url("https://example.com/cb?a=1", Scope::Base, "s1")?;
    /// assert_eq!(
    ///     url,
    ///     "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1234\
    ///      &redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fa%3D1&response_type=code\
    ///      &scope=snsapi_base&state=s1#wechat_redirect"
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn authorize_url(&self, redirect_uri: &str, scope: Scope, state: &str) -> Result<String> {
        self.login_url(AUTHORIZE, redirect_uri, scope.as_str(), state)
    }

    /// The URL of a website's "log in with WeChat" QR code page
    /// (`snsapi_login`), for a website app of the open platform; the user
    /// scans it and is sent to `redirect_uri` with `code` and `state`:
    ///
    /// `https://open.weixin.qq.com/connect/qrconnect?appid=..&redirect_uri=..&response_type=code&scope=snsapi_login&state=..#wechat_redirect`
    ///
    /// # Errors
    ///
    /// As for [`authorize_url`](OAuth::authorize_url), and
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) when
    /// the app goes through a platform: website login has no platform
    /// variant.
    ///
    /// # Example
    ///
    /// ```
    /// let url = weixin::OAuth::new("wx_web").qrconnect_url("https://example.com/login", "s2")?;
    /// assert_eq!(
    ///     url,
    ///     "https://open.weixin.qq.com/connect/qrconnect?appid=wx_web\
    ///      &redirect_uri=https%3A%2F%2Fexample.com%2Flogin&response_type=code\
    ///      &scope=snsapi_login&state=s2#wechat_redirect"
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn qrconnect_url(&self, redirect_uri: &str, state: &str) -> Result<String> {
        if self.app.component_appid().is_some() {
            return Err(Error::invalid(
                "website QR login (qrconnect) has no third-party platform variant",
            ));
        }
        self.login_url(QRCONNECT, redirect_uri, "snsapi_login", state)
    }

    fn login_url(
        &self,
        base: &str,
        redirect_uri: &str,
        scope: &str,
        state: &str,
    ) -> Result<String> {
        let origin = redirect_uri
            .strip_prefix("https://")
            .or_else(|| redirect_uri.strip_prefix("http://"));
        if origin.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
            return Err(Error::invalid(format!(
                "redirect_uri must be an http(s) url, got {:?}",
                crate::error::redact_url(redirect_uri)
            )));
        }
        if state.len() > MAX_STATE {
            return Err(Error::invalid(format!(
                "state is {} bytes; WeChat takes at most {MAX_STATE}",
                state.len()
            )));
        }
        let pairs = [
            ("appid", self.app.appid()),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", scope),
            ("state", state),
        ];
        let component = self.app.component_appid().map(|c| ("component_appid", c));
        let url = with_query(base, pairs.into_iter().chain(component));
        Ok(url + "#wechat_redirect")
    }

    /// Exchanges the `code` the authorization redirect brought for the
    /// user's token (`/sns/oauth2/access_token`, or
    /// `/sns/oauth2/component/access_token` through a platform). A code
    /// works once, for 5 minutes.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Config`](crate::ErrorKind::Config) when the app has
    ///   neither secret nor platform;
    /// - [`ErrorKind::Api`](crate::ErrorKind::Api) with WeChat's errcode:
    ///   40029 (unknown or expired code), 40163 (code already used), 40125
    ///   (wrong secret), ...;
    /// - [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an answer
    ///   without the tokens or openid;
    /// - otherwise as for [`Client::request`].
    pub fn exchange_code(&self, client: &Client, code: &str) -> Result<UserToken> {
        let call = self.app.login_call(
            "/sns/oauth2/access_token",
            "/sns/oauth2/component/access_token",
            true,
            "exchanging an OAuth2 code",
        )?;
        user_token(
            client,
            call.query("code", code)
                .query("grant_type", "authorization_code"),
        )
    }

    /// A new access token for the user, from the refresh token
    /// (`/sns/oauth2/refresh_token`, or `/sns/oauth2/component/refresh_token`
    /// through a platform). The refresh token stays the same; it lives 30
    /// days.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) 40030 for an invalid
    /// refresh token, 42002 for an expired one (the user must authorize
    /// again); otherwise as for [`exchange_code`](OAuth::exchange_code).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1234", "demo-secret");
    /// let client = weixin::Client::builder().base_url(fake.url()).build()?;
    /// let oauth = weixin::OAuth::new("wx1234").secret("demo-secret");
    /// let user = oauth.exchange_code(&client, &fake.oauth_code("wx1234", "o1"))?;
    ///
    /// let renewed = oauth.refresh(&client, &user.refresh_token)?;
    /// assert_eq!(renewed.openid, "o1");
    /// assert_ne!(renewed.access_token, user.access_token);
    /// assert!(oauth.check(&client, &renewed)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refresh(&self, client: &Client, refresh_token: &Secret) -> Result<UserToken> {
        let call = self.app.login_call(
            "/sns/oauth2/refresh_token",
            "/sns/oauth2/component/refresh_token",
            false,
            "refreshing a user token",
        )?;
        user_token(
            client,
            call.query("grant_type", "refresh_token")
                .query("refresh_token", refresh_token.expose()),
        )
    }

    /// Whether the user's access token is still valid for the user
    /// (`/sns/auth`).
    ///
    /// # Errors
    ///
    /// As for [`Client::request`], except that WeChat's answers for a
    /// rejected token (40001, 40014, 42001) or another user's openid
    /// (40003) are `Ok(false)`.
    pub fn check(&self, client: &Client, token: &UserToken) -> Result<bool> {
        let call = RequestOptions::get("/sns/auth")
            .no_token()
            .query("access_token", token.access_token.expose())
            .query("openid", token.openid.as_str());
        match client.request(call) {
            Ok(_) => Ok(true),
            Err(e) if e.is_token_expired() || e.errcode() == Some(40003) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user's profile (`/sns/userinfo`), with places in `lang`. The
    /// token needs the [`Scope::UserInfo`] scope.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) 48001 when the token was
    /// granted [`Scope::Base`] only, 40001/42001 for an invalid or expired
    /// token; [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an answer
    /// without `openid`; otherwise as for [`Client::request`].
    pub fn user_info(&self, client: &Client, token: &UserToken, lang: Lang) -> Result<UserInfo> {
        let call = RequestOptions::get("/sns/userinfo")
            .no_token()
            .query("access_token", token.access_token.expose())
            .query("openid", token.openid.as_str())
            .query("lang", lang.as_str());
        client.call(call, |answer| answer.decode())
    }
}

/// Sends a code exchange or refresh and reads the user token it answers.
fn user_token(client: &Client, call: RequestOptions) -> Result<UserToken> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        expires_in: u64,
        refresh_token: String,
        openid: String,
        #[serde(default)]
        scope: String,
        #[serde(default)]
        unionid: Option<String>,
        #[serde(default)]
        is_snapshotuser: u8,
    }
    client.call(call, |answer| {
        let answer: Answer = answer.decode()?;
        if answer.access_token.is_empty()
            || answer.refresh_token.is_empty()
            || answer.openid.is_empty()
        {
            return Err(Error::decode(
                "user token answer: a token or the openid is empty",
            ));
        }
        Ok(UserToken {
            openid: answer.openid,
            unionid: answer.unionid.filter(|u| !u.is_empty()),
            scope: answer.scope,
            access_token: Secret::new(answer.access_token),
            refresh_token: Secret::new(answer.refresh_token),
            obtained_at: unix_now(),
            expires_in: answer.expires_in,
            is_snapshot_user: answer.is_snapshotuser == 1,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn authorize_urls_are_exact() {
        let oauth = OAuth::new("wxA");
        assert_eq!(
            oauth
                .authorize_url("https://a.example/p?x=1&y=é", Scope::UserInfo, "s-1_2")
                .unwrap(),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxA\
             &redirect_uri=https%3A%2F%2Fa.example%2Fp%3Fx%3D1%26y%3D%C3%A9\
             &response_type=code&scope=snsapi_userinfo&state=s-1_2#wechat_redirect"
        );
        let via = OAuth::new("wxA").component("wxC");
        assert_eq!(
            via.authorize_url("http://a.example", Scope::Base, "")
                .unwrap(),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxA\
             &redirect_uri=http%3A%2F%2Fa.example&response_type=code&scope=snsapi_base\
             &state=&component_appid=wxC#wechat_redirect"
        );
        assert!(via.qrconnect_url("https://a.example", "s").is_err());
    }

    #[test]
    fn bad_redirects_and_long_states_are_refused() {
        let oauth = OAuth::new("wxA");
        for bad in [
            "",
            "/cb",
            "a.example/cb",
            "https://",
            "https:///x",
            "ftp://a",
        ] {
            let err = oauth.authorize_url(bad, Scope::Base, "s").unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
                "{bad}"
            );
        }
        let err = oauth
            .authorize_url("https://a.example", Scope::Base, &"s".repeat(129))
            .unwrap_err();
        assert!(err.to_string().contains("at most 128"), "{err}");
        assert!(oauth
            .authorize_url("https://a.example", Scope::Base, &"s".repeat(128))
            .is_ok());
    }

    #[test]
    fn user_tokens_know_their_scope_and_expiry_and_hide_their_tokens() {
        let token = UserToken {
            openid: "o".into(),
            unionid: None,
            scope: "snsapi_base,snsapi_userinfo".into(),
            access_token: Secret::new("USER_ACCESS"),
            refresh_token: Secret::new("USER_REFRESH"),
            obtained_at: 1_000,
            expires_in: 7200,
            is_snapshot_user: false,
        };
        assert!(token.has_scope(Scope::UserInfo) && token.has_scope(Scope::Base));
        assert_eq!(token.expires_at(), 8_200);
        let shown = format!("{token:?}");
        assert!(!shown.contains("USER_ACCESS") && !shown.contains("USER_REFRESH"));
        let oauth = OAuth::new("wxA").secret("S3CRET");
        assert!(!format!("{oauth:?}").contains("S3CRET"));
    }
}
