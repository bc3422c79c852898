//! Users' logins: the OAuth2 web authorization endpoints
//! (`/sns/oauth2/access_token`, `refresh_token`, `/sns/auth`,
//! `/sns/userinfo`) and the mini-program's `/sns/jscode2session`, with
//! WeChat's rules: a code works once (40163 when reused, 40029 when
//! unknown), and a user's token is good for the user's endpoints only.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::state::{err, issue_token, mint, Code, CodeKind, Holder, Shared, State, UserGrant};
use super::token::check_secret;
use crate::testing::server::{Req, Resp};
use crate::token::unix_now;

/// `jscode2session` logins allowed per user per minute (45011 past it).
pub(super) const LOGINS_PER_MINUTE: usize = 100;

/// `/sns/oauth2/access_token`: the app's secret and the redirect's code.
pub(super) fn exchange(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    match check_secret(&st, req.param("appid"), req.param("secret")) {
        Ok(appid) => exchange_code(shared, &mut st, req, &appid),
        Err(resp) => resp,
    }
}

/// `/sns/oauth2/refresh_token`: no secret, the refresh token is enough.
pub(super) fn refresh(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    match req.param("appid") {
        Some(appid) => refresh_for(shared, &mut st, req, appid),
        None => err(41002, "appid missing"),
    }
}

/// `/sns/jscode2session`: the mini program's secret and `wx.login`'s code.
pub(super) fn jscode2session(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    match check_secret(&st, req.param("appid"), req.param("secret")) {
        Ok(appid) => session_for(shared, &mut st, req, &appid),
        Err(resp) => resp,
    }
}

/// Exchanges a web code of `appid`, already authenticated (by its secret or
/// its platform's token), for a user token.
pub(super) fn exchange_code(shared: &Shared, st: &mut State, req: &Req, appid: &str) -> Resp {
    if req.param("grant_type") != Some("authorization_code") {
        return err(40002, "invalid grant_type");
    }
    let (openid, scope) = match find_code(st, appid, req.param("code"), |k| {
        matches!(k, CodeKind::Web { .. })
    }) {
        Ok(Code {
            openid,
            kind: CodeKind::Web { scope },
            ..
        }) => (openid, scope),
        Ok(_) => return BadCode::Unknown.resp(),
        Err(bad) => return bad.resp(),
    };
    use_code(st, req.param("code"));
    let refresh_token = mint(shared, "USER_REFRESH", appid);
    st.user_refresh.insert(
        refresh_token.clone(),
        UserGrant {
            appid: appid.to_string(),
            openid: openid.clone(),
            scope: scope.clone(),
        },
    );
    user_token(shared, st, appid, &openid, &scope, &refresh_token)
}

/// Gives `appid`'s user a new access token for a refresh token.
pub(super) fn refresh_for(shared: &Shared, st: &mut State, req: &Req, appid: &str) -> Resp {
    if req.param("grant_type") != Some("refresh_token") {
        return err(40002, "invalid grant_type");
    }
    let Some(refresh_token) = req.param("refresh_token") else {
        return err(41003, "refresh_token missing");
    };
    let Some(grant) = st
        .user_refresh
        .get(refresh_token)
        .filter(|g| g.appid == appid)
        .cloned()
    else {
        return err(40030, "invalid refresh_token");
    };
    user_token(
        shared,
        st,
        appid,
        &grant.openid,
        &grant.scope,
        refresh_token,
    )
}

/// Opens a mini-program session of `appid` for `wx.login`'s code: a new
/// session key per login.
pub(super) fn session_for(shared: &Shared, st: &mut State, req: &Req, appid: &str) -> Resp {
    if req.param("grant_type") != Some("authorization_code") {
        return err(40002, "invalid grant_type");
    }
    let code = match find_code(st, appid, req.param("js_code"), |k| *k == CodeKind::Js) {
        Ok(code) => code,
        Err(bad) => return bad.resp(),
    };
    let user = (appid.to_string(), code.openid.clone());
    let now = Instant::now();
    let logins = st.logins.entry(user.clone()).or_default();
    while logins
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        logins.pop_front();
    }
    if logins.len() >= LOGINS_PER_MINUTE {
        return err(
            45011,
            "api minute-quota reach limit mustslower retry next minute",
        );
    }
    logins.push_back(now);
    use_code(st, req.param("js_code"));
    let session_key = session_key(shared);
    st.sessions.insert(user, session_key.clone());
    let mut answer = json!({"openid": code.openid, "session_key": session_key});
    if let Some(unionid) = st.unionids.get(&code.openid) {
        answer["unionid"] = Value::String(unionid.clone());
    }
    Resp::json(200, &answer)
}

/// `/sns/auth`: whether a user token is valid for `openid`.
pub(super) fn auth(shared: &Shared, req: &Req) -> Resp {
    let st = shared.state.lock();
    match check_user_token(&st, req) {
        Ok(_) => Resp::json(200, &json!({"errcode": 0, "errmsg": "ok"})),
        Err(resp) => resp,
    }
}

/// `/sns/userinfo`: the user's profile, for a token with the
/// `snsapi_userinfo` scope.
pub(super) fn userinfo(shared: &Shared, req: &Req) -> Resp {
    let st = shared.state.lock();
    let (openid, scope) = match check_user_token(&st, req) {
        Ok(user) => user,
        Err(resp) => return resp,
    };
    if !scope.split(',').any(|s| s == "snsapi_userinfo") {
        return err(48001, "api unauthorized");
    }
    let mut answer = json!({
        "openid": openid,
        "nickname": format!("nickname of {openid}"),
        "sex": 0,
        "province": "",
        "city": "",
        "country": "",
        "headimgurl": "",
        "privilege": [],
    });
    if let Some(unionid) = st.unionids.get(&openid) {
        answer["unionid"] = Value::String(unionid.clone());
    }
    Resp::json(200, &answer)
}

/// Mints a code for `openid` of `appid`.
pub(super) fn new_code(shared: &Shared, appid: &str, openid: &str, kind: CodeKind) -> String {
    let code = mint(shared, "CODE", appid);
    shared.state.lock().codes.insert(
        code.clone(),
        Code {
            appid: appid.to_string(),
            openid: openid.to_string(),
            kind,
            used: false,
        },
    );
    code
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadCode {
    /// None sent: 41008.
    Missing,
    /// Unknown, another app's or another kind's: 40029.
    Unknown,
    /// Used already: 40163.
    Used,
}

impl BadCode {
    pub(super) fn resp(self) -> Resp {
        match self {
            BadCode::Missing => err(41008, "missing code"),
            BadCode::Unknown => err(40029, "invalid code"),
            BadCode::Used => err(40163, "code been used"),
        }
    }
}

/// Finds an unused code of `appid` of the right kind.
pub(super) fn find_code(
    st: &State,
    appid: &str,
    code: Option<&str>,
    kind: impl Fn(&CodeKind) -> bool,
) -> Result<Code, BadCode> {
    let code = code.filter(|c| !c.is_empty()).ok_or(BadCode::Missing)?;
    let found = st
        .codes
        .get(code)
        .filter(|c| c.appid == appid && kind(&c.kind))
        .ok_or(BadCode::Unknown)?;
    if found.used {
        return Err(BadCode::Used);
    }
    Ok(found.clone())
}

/// Marks a code used.
pub(super) fn use_code(st: &mut State, code: Option<&str>) {
    if let Some(found) = code.and_then(|c| st.codes.get_mut(c)) {
        found.used = true;
    }
}

fn user_token(
    shared: &Shared,
    st: &mut State,
    appid: &str,
    openid: &str,
    scope: &str,
    refresh_token: &str,
) -> Resp {
    let holder = Holder::User {
        openid: openid.to_string(),
        scope: scope.to_string(),
    };
    let (access_token, lifetime) = issue_token(shared, st, "USER", appid, holder);
    let mut answer = json!({
        "access_token": access_token,
        "expires_in": lifetime,
        "refresh_token": refresh_token,
        "openid": openid,
        "scope": scope,
    });
    if let Some(unionid) = st.unionids.get(openid) {
        answer["unionid"] = Value::String(unionid.clone());
    }
    Resp::json(200, &answer)
}

/// Checks a user token and the `openid` sent with it; returns the user's
/// openid and scope.
fn check_user_token(st: &State, req: &Req) -> Result<(String, String), Resp> {
    let token = req
        .param("access_token")
        .ok_or_else(|| err(41001, "access_token missing"))?;
    let invalid = || {
        err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )
    };
    let issued = st.tokens.get(token).ok_or_else(invalid)?;
    let Holder::User { openid, scope } = &issued.holder else {
        return Err(invalid());
    };
    if issued.revoked {
        return Err(invalid());
    }
    if issued.expires_at <= unix_now() {
        return Err(err(42001, "access_token expired"));
    }
    if req.param("openid") != Some(openid.as_str()) {
        return Err(err(40003, "invalid openid"));
    }
    Ok((openid.clone(), scope.clone()))
}

/// A session key as WeChat's look: 16 random bytes in base64. Written
/// without an encoder: 21 random characters, one whose low 4 bits are zero
/// (the 128th bit ends there), and the padding.
fn session_key(shared: &Shared) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut random = [0u8; 22];
    if getrandom::fill(&mut random).is_err() {
        // ok because uniqueness is what a test needs, and the counter gives it
        let n = shared
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        random[..8].copy_from_slice(&n.to_le_bytes());
    }
    let mut key: String = random[..21]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect();
    key.push(char::from(b"AQgw"[usize::from(random[21] % 4)]));
    key.push_str("==");
    key
}
