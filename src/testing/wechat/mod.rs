//! `FakeWechat`: WeChat on 127.0.0.1. Its whole API is in this file; what
//! it remembers is in `state`, which path goes where in `route`, and each
//! group of endpoints has a file of its own (`token`, `api`, `component`,
//! `oauth`), with a test's `canned` answers and `hold`s.

mod api;
mod canned;
mod component;
mod hold;
mod oauth;
mod route;
#[cfg(feature = "api-security")]
mod secured;
mod state;
mod token;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use canned::Canned;
use hold::Gate;
pub use hold::Hold;
#[cfg(feature = "api-security")]
pub use secured::{FakeApiSecurity, Tamper};
use state::{mint, Authorizer, CodeKind, Platform, Shared, State};

use super::record::Received;
use super::server::{HttpServer, Req};
use crate::token::unix_now;

/// A fake WeChat API server on an ephemeral port of 127.0.0.1.
///
/// It implements, with WeChat's semantics:
/// - `GET /cgi-bin/token`: a new token per call (the previous one stays
///   valid for its remaining life, at most 300 s);
/// - `POST /cgi-bin/stable_token`: the same token while valid; with
///   `force_refresh: true` a new one, the old one revoked;
/// - `GET /cgi-bin/ticket/getticket`: `jsapi` and `wx_card` tickets;
/// - `POST /cgi-bin/media/upload` (multipart field `media`) and
///   `GET /cgi-bin/media/get` (bytes, `image/jpeg`);
/// - users' logins: `/sns/oauth2/access_token`, `/sns/oauth2/refresh_token`,
///   `/sns/auth`, `/sns/userinfo` and `/sns/jscode2session` (and their
///   `/sns/oauth2/component/*`, `/sns/component/*` variants), for codes a
///   test mints with [`oauth_code`](FakeWechat::oauth_code) and
///   [`js_code`](FakeWechat::js_code): a code works once (40163 when
///   reused, 40029 when unknown or another app's), a user's token is good
///   for `/sns/auth` and `/sns/userinfo` only (and no account token is),
///   `snsapi_base` tokens get 48001 from `/sns/userinfo`, and a user has
///   100 `jscode2session` logins a minute (then 45011);
/// - `POST /wxa/business/getuserphonenumber`, for codes a test mints with
///   [`phone_code`](FakeWechat::phone_code);
/// - every other path: checks `access_token` (41001 missing, 40001 unknown
///   or revoked, 42001 expired) and echoes the method, path, appid, query
///   and JSON body.
///
/// To test code that reads an answer, make any path answer what your test
/// needs with [`answer`](FakeWechat::answer) (a JSON document or bytes, for
/// every call or the next few). Tests switch tokens off with
/// [`invalidate_current`](FakeWechat::invalidate_current)
/// or [`expire_current`](FakeWechat::expire_current), make WeChat reject every
/// token or answer "busy" for a while with [`reject_tokens`](FakeWechat::reject_tokens)
/// and [`busy`](FakeWechat::busy), script errcodes with
/// [`fail_next`](FakeWechat::fail_next), read [`count`](FakeWechat::count)ers,
/// and read every request with [`received`](FakeWechat::received).
///
/// # Example
///
/// ```
/// use weixin::testing::FakeWechat;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "secret1");
/// let client = weixin::Client::builder()
///     .appid("wx1")
///     .base_url(fake.url())
///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
///     .build()?;
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// assert_eq!(fake.count("/cgi-bin/token"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FakeWechat {
    shared: Arc<Shared>,
    server: HttpServer,
}

impl FakeWechat {
    /// Starts the server.
    ///
    /// # Errors
    ///
    /// If no port can be bound.
    pub fn start() -> std::io::Result<FakeWechat> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                lifetime: 7200,
                overlap: 300,
                ..State::default()
            }),
            serial: AtomicU64::new(0),
        });
        let handler_shared = shared.clone();
        let server = HttpServer::start(
            8,
            Arc::new(move |req: &Req| route::handle(&handler_shared, req)),
        )?;
        Ok(FakeWechat { shared, server })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Registers an account.
    pub fn register(&self, appid: &str, secret: &str) {
        self.shared
            .state
            .lock()
            .secrets
            .insert(appid.into(), secret.into());
    }

    /// The lifetime (`expires_in`) of tokens and tickets issued from now on.
    /// Defaults to 7200 seconds.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.shared.state.lock().lifetime = seconds;
    }

    /// How long a token stays valid once `/cgi-bin/token` (or a forced
    /// `stable_token`) replaced it in its lineage. Defaults to WeChat's 300
    /// seconds; 0 makes a replaced token fail at once, so a test sees who
    /// replaced whose token.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::{Client, SecretSource};
    ///
    /// let fake = FakeWechat::start().unwrap();
    /// fake.register("wx1", "secret");
    /// fake.set_replacement_overlap(0);
    /// let client = || {
    ///     Client::builder().appid("wx1").base_url(fake.url())
    ///         .token_source(SecretSource::new("wx1", "secret")).build()
    /// };
    /// let (server, other) = (client()?, client()?);
    /// server.request("/cgi-bin/p")?;
    /// other.request("/cgi-bin/p")?; // a new token: the server's fails at once
    /// server.request("/cgi-bin/p")?; // 42001, so refreshed and retried
    /// assert_eq!(fake.count("/cgi-bin/token"), 3);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn set_replacement_overlap(&self, seconds: u64) {
        self.shared.state.lock().overlap = seconds;
    }

    /// Revokes every live token of `appid` (both lineages, and its users'
    /// OAuth2 tokens): calls with them get 40001 from now on. Returns how
    /// many were revoked.
    pub fn invalidate_current(&self, appid: &str) -> usize {
        let mut st = self.shared.state.lock();
        let mut n = 0;
        for issued in st.tokens.values_mut() {
            if issued.appid == appid && !issued.revoked {
                issued.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// The last `access_token` `/cgi-bin/token` issued to `appid`: the
    /// current token of its lineage (revoked or not), or `None` before the
    /// first.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// assert_eq!(fake.current_token("wx1"), None);
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// let token = client.token(&weixin::TokenKey::access_token("wx1"))?;
    /// assert_eq!(fake.current_token("wx1").as_deref(), Some(token.expose()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn current_token(&self, appid: &str) -> Option<String> {
        self.shared
            .state
            .lock()
            .current
            .get(&(appid.to_string(), false))
            .cloned()
    }

    /// Revokes one token value.
    pub fn invalidate_token(&self, token: &str) {
        if let Some(issued) = self.shared.state.lock().tokens.get_mut(token) {
            issued.revoked = true;
        }
    }

    /// While `on`, every call that checks an `access_token` answers 40001,
    /// whatever the token: WeChat rejecting every token for a while, as it
    /// does when another process keeps fetching tokens with the same secret.
    /// `/cgi-bin/token` still issues tokens meanwhile, and they are not
    /// revoked: when the switch goes off, every token still alive works
    /// again.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// fake.reject_tokens(true);
    /// let err = client.request("/cgi-bin/get_api_domain_ip").unwrap_err();
    /// assert_eq!(err.errcode(), Some(40001));
    /// assert_eq!(fake.count("/cgi-bin/token"), 3, "fetched, then two refreshes, each rejected");
    /// fake.reject_tokens(false);
    /// client.request("/cgi-bin/get_api_domain_ip")?; // the refreshed token works
    /// assert_eq!(fake.count("/cgi-bin/token"), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reject_tokens(&self, on: bool) {
        self.shared.state.lock().reject_tokens = on;
    }

    /// While `on`, every call that is not a token endpoint answers errcode
    /// -1 (system busy) once its token passed the check. `/cgi-bin/token`
    /// and `stable_token` keep working.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .busy_retry(weixin::BusyRetry {
    ///         retries: 2,
    ///         base: std::time::Duration::from_millis(1),
    ///         max: std::time::Duration::from_millis(2),
    ///     })
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// fake.busy(true);
    /// let err = client.request("/cgi-bin/get_api_domain_ip").unwrap_err();
    /// assert_eq!(err.errcode(), Some(-1));
    /// assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 3, "the call and 2 busy retries");
    /// fake.busy(false);
    /// client.request("/cgi-bin/get_api_domain_ip")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn busy(&self, on: bool) {
        self.shared.state.lock().busy = on;
    }

    /// Makes every token of `appid` (its users' OAuth2 tokens included)
    /// expired: calls with them get 42001.
    pub fn expire_current(&self, appid: &str) {
        let now = unix_now();
        for issued in self.shared.state.lock().tokens.values_mut() {
            if issued.appid == appid {
                issued.expires_at = issued.expires_at.min(now);
            }
        }
    }

    /// The next `times` calls to `path` answer `errcode`: the same as
    /// [`answer`](FakeWechat::answer) with
    /// `Canned::error(errcode, errmsg).times(times)`. `usize::MAX` is as
    /// good as "always".
    pub fn fail_next(&self, path: &str, errcode: i64, errmsg: &str, times: usize) {
        self.answer(path, Canned::error(errcode, errmsg).times(times));
    }

    /// Makes `path` answer `canned` instead of the fake's own answer, for
    /// every call or (with [`Canned::times`]) the next few. Answers given
    /// for one path queue up in order; the fake's own answer comes back when
    /// they are used up (an answer for every call is never used up).
    ///
    /// Paths that check an account token still check it first (a call
    /// without one still gets 41001), as do the platform's paths with the
    /// component token; the token, login and user endpoints answer canned
    /// before any check.
    ///
    /// # Example
    ///
    /// Testing code of your own that reads a follower list:
    ///
    /// ```
    /// use weixin::testing::{Canned, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// fake.answer(
    ///     "/cgi-bin/user/get",
    ///     Canned::json(serde_json::json!({"total": 2, "count": 2, "data": {"openid": ["o1", "o2"]}})),
    /// );
    /// fake.answer("/cgi-bin/user/get", Canned::error(45009, "reach max api daily quota limit").times(1));
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// let followers = client.request("/cgi-bin/user/get")?;
    /// assert_eq!(followers.json()?["data"]["openid"][1], "o2");
    /// assert_eq!(client.request("/cgi-bin/user/get")?.json()?["total"], 2, "still the first answer");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn answer(&self, path: &str, canned: Canned) {
        canned::push(&mut self.shared.state.lock(), path, canned);
    }

    /// Drops the answers [`answer`](FakeWechat::answer) queued for `path`:
    /// the fake answers on its own again.
    pub fn clear_answers(&self, path: &str) {
        self.shared.state.lock().canned.remove(path);
    }

    /// Delays every answer on `path` by `delay`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.shared.state.lock().delays.insert(path.into(), delay);
    }

    /// Holds every answer on `path` (token and ticket endpoints included)
    /// until the returned [`Hold`] is released or dropped (or 30 s pass, so
    /// a forgotten hold cannot hang a test); a later hold on the same path
    /// replaces it. Lets a test keep a call in flight for as long as it
    /// needs, and know when it is ([`Hold::wait_held`]), with no timing in
    /// the assertion.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let hold = fake.hold("/cgi-bin/token");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let key = weixin::TokenKey::access_token("wx1");
    /// let fetch = std::thread::spawn(move || client.token(&key).map(|t| t.expose().to_string()));
    /// assert!(hold.wait_held(1, Duration::from_secs(10)), "the fetch is in flight");
    /// hold.release();
    /// assert!(fetch.join().unwrap()?.starts_with("TOKEN_wx1_"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hold(&self, path: &str) -> Hold {
        let gate = Arc::new(Gate::default());
        self.shared
            .state
            .lock()
            .holds
            .insert(path.into(), gate.clone());
        Hold { gate }
    }

    /// How many requests `path` received (token and ticket endpoints
    /// included). `"/cgi-bin/stable_token#force"` counts forced stable
    /// refreshes only.
    pub fn count(&self, path: &str) -> usize {
        self.shared
            .state
            .lock()
            .counts
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every path's request count.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.shared.state.lock().counts.clone()
    }

    /// The last request `path` received: its decoded query pairs (token
    /// values included) and its body. Lets a test assert what the server
    /// received.
    pub fn last_request(&self, path: &str) -> Option<Received> {
        self.server.recorder().last(path)
    }

    /// Every request received, oldest first: method, path, query, headers
    /// and body (the latest 10,000).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "secret1"))
    ///     .build()?;
    /// client.request(weixin::RequestOptions::post("/cgi-bin/message/custom/send")
    ///     .json(serde_json::json!({"touser": "o1", "msgtype": "text"})))?;
    /// client.request(weixin::RequestOptions::post("/cgi-bin/message/custom/send")
    ///     .json(serde_json::json!({"touser": "o2", "msgtype": "text"})))?;
    ///
    /// let paths: Vec<String> = fake.received().into_iter().map(|r| r.path).collect();
    /// assert_eq!(paths, ["/cgi-bin/token", "/cgi-bin/message/custom/send", "/cgi-bin/message/custom/send"]);
    /// let sent = fake.received_on("/cgi-bin/message/custom/send");
    /// assert_eq!(sent[0].json.as_ref().unwrap()["touser"], "o1");
    /// assert_eq!(sent[1].json.as_ref().unwrap()["touser"], "o2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn received(&self) -> Vec<Received> {
        self.server.recorder().all()
    }

    /// Every request `path` received, oldest first (among the latest
    /// 10,000 of all paths).
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.server.recorder().to(path)
    }

    /// Uploaded media: `(file name, bytes)` by media id.
    pub fn media(&self, media_id: &str) -> Option<(String, Vec<u8>)> {
        self.shared.state.lock().media.get(media_id).cloned()
    }
}

impl std::fmt::Debug for FakeWechat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWechat")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl FakeWechat {
    /// Registers a third-party platform. `/cgi-bin/token` answers 61024 for
    /// its appid.
    pub fn register_component(&self, component_appid: &str, component_appsecret: &str) {
        self.shared.state.lock().components.insert(
            component_appid.into(),
            Platform {
                secret: component_appsecret.into(),
                ..Platform::default()
            },
        );
    }

    /// The verify ticket `api_component_token` accepts from now on, as if
    /// WeChat had just pushed it.
    pub fn push_verify_ticket(&self, component_appid: &str, ticket: &str) {
        if let Some(p) = self.shared.state.lock().components.get_mut(component_appid) {
            p.verify_ticket = Some(ticket.into());
            p.ticket_expired = false;
        }
    }

    /// Makes the current verify ticket expired (61005).
    pub fn expire_verify_ticket(&self, component_appid: &str) {
        if let Some(p) = self.shared.state.lock().components.get_mut(component_appid) {
            p.ticket_expired = true;
        }
    }

    /// Adds an authorizer of the platform and returns its first refresh
    /// token.
    pub fn add_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> String {
        let token = mint(&self.shared, "REFRESH", authorizer_appid);
        if let Some(p) = self.shared.state.lock().components.get_mut(component_appid) {
            p.authorizers.insert(
                authorizer_appid.into(),
                Authorizer {
                    refresh_token: token.clone(),
                    ..Authorizer::default()
                },
            );
        }
        token
    }

    /// An authorization code for `api_query_auth`, as the authorization
    /// redirect would give (adds the authorizer if needed). Single use.
    pub fn authorization_code(&self, component_appid: &str, authorizer_appid: &str) -> String {
        let code = mint(&self.shared, "AUTHCODE", authorizer_appid);
        let mut st = self.shared.state.lock();
        if let Some(p) = st.components.get_mut(component_appid) {
            p.authorizers.entry(authorizer_appid.into()).or_default();
            p.codes.insert(code.clone(), authorizer_appid.into());
        }
        code
    }

    /// The refresh token `api_authorizer_token` accepts now for the
    /// authorizer (each use rotates it).
    pub fn current_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Option<String> {
        let st = self.shared.state.lock();
        let a = st
            .components
            .get(component_appid)?
            .authorizers
            .get(authorizer_appid)?;
        Some(a.refresh_token.clone())
    }

    /// Delays `api_authorizer_token` for this authorizer only.
    pub fn delay_authorizer(&self, component_appid: &str, authorizer_appid: &str, delay: Duration) {
        let mut st = self.shared.state.lock();
        if let Some(a) = st
            .components
            .get_mut(component_appid)
            .and_then(|p| p.authorizers.get_mut(authorizer_appid))
        {
            a.delay = Some(delay);
        }
    }

    /// Holds every `api_authorizer_token` answer for this authorizer until
    /// the returned [`Hold`] is released or dropped (or 30 s pass, so a
    /// forgotten hold cannot hang a test). Lets a test keep one refresh in
    /// flight for as long as it needs, with no timing in the assertion.
    pub fn hold_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Hold {
        let gate = Arc::new(Gate::default());
        let mut st = self.shared.state.lock();
        if let Some(a) = st
            .components
            .get_mut(component_appid)
            .and_then(|p| p.authorizers.get_mut(authorizer_appid))
        {
            a.hold = Some(gate.clone());
        }
        Hold { gate }
    }

    /// How many `api_authorizer_token` calls were made for this authorizer.
    pub fn authorizer_token_calls(&self, authorizer_appid: &str) -> usize {
        self.count(&format!(
            "/cgi-bin/component/api_authorizer_token#{authorizer_appid}"
        ))
    }

    /// The `code` WeChat's OAuth2 redirect brings when user `openid`
    /// authorizes app `appid` with scope `snsapi_userinfo`. Works once,
    /// through `/sns/oauth2/access_token` (or the platform's variant).
    pub fn oauth_code(&self, appid: &str, openid: &str) -> String {
        self.oauth_code_with_scope(appid, openid, "snsapi_userinfo")
    }

    /// As [`oauth_code`](FakeWechat::oauth_code), for `scope`
    /// (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    pub fn oauth_code_with_scope(&self, appid: &str, openid: &str, scope: &str) -> String {
        let kind = CodeKind::Web {
            scope: scope.to_string(),
        };
        oauth::new_code(&self.shared, appid, openid, kind)
    }

    /// The code `wx.login()` gives user `openid` of mini program `appid`.
    /// Works once, through `/sns/jscode2session` (or the platform's
    /// variant).
    pub fn js_code(&self, appid: &str, openid: &str) -> String {
        oauth::new_code(&self.shared, appid, openid, CodeKind::Js)
    }

    /// The code the phone-number button of mini program `appid` gives for
    /// a user with phone `number`. Works once, through
    /// `/wxa/business/getuserphonenumber` (40029 after that, as WeChat).
    pub fn phone_code(&self, appid: &str, number: &str) -> String {
        let kind = CodeKind::Phone {
            number: number.to_string(),
        };
        oauth::new_code(&self.shared, appid, "", kind)
    }

    /// Binds user `openid` to `unionid`: the login and user info answers
    /// carry it from now on.
    pub fn set_unionid(&self, openid: &str, unionid: &str) {
        self.shared
            .state
            .lock()
            .unionids
            .insert(openid.into(), unionid.into());
    }

    /// The session key the latest `jscode2session` gave user `openid` of
    /// mini program `appid`.
    pub fn session_key(&self, appid: &str, openid: &str) -> Option<String> {
        let key = (appid.to_string(), openid.to_string());
        self.shared.state.lock().sessions.get(&key).cloned()
    }

    /// `value` encrypted the way WeChat hands data to mini program `appid`
    /// for user `openid` (`wx.getUserInfo`'s `encryptedData` and `iv`), under
    /// the user's latest session key, with a `watermark` naming `appid`.
    /// `None` before the user's first `jscode2session`. Feature `crypto`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx_mini", "demo-secret");
    /// let client = weixin::Client::builder().base_url(fake.url()).build()?;
    /// let mini = weixin::MiniProgram::new("wx_mini").secret("demo-secret");
    /// let session = mini.code2session(&client, &fake.js_code("wx_mini", "o1"))?;
    ///
    /// let (data, iv) = fake
    ///     .encrypted_data("wx_mini", "o1", serde_json::json!({"nickName": "Band"}))
    ///     .unwrap();
    /// let user = mini.decrypt_data(&session.session_key, &data, &iv)?;
    /// assert_eq!(user["nickName"], "Band");
    /// assert_eq!(user["watermark"]["appid"], "wx_mini");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "crypto")]
    #[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
    pub fn encrypted_data(
        &self,
        appid: &str,
        openid: &str,
        value: serde_json::Value,
    ) -> Option<(String, String)> {
        let session_key = self.session_key(appid, openid)?;
        let mut value = value;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "watermark".into(),
                serde_json::json!({"appid": appid, "timestamp": unix_now()}),
            );
        }
        let mut iv = [0u8; 16];
        // ok because any IV decrypts; a fixed one only makes the data repeat
        let _ = getrandom::fill(&mut iv);
        crate::open_data::encrypt(&session_key, iv, &value).ok()
    }
}
