//! The account token endpoints: `/cgi-bin/token` and
//! `/cgi-bin/stable_token`, and the `access_token` check every other
//! account API goes through.

use serde_json::json;

use super::state::{err, issue_token, Holder, Shared, State};
use crate::testing::server::{Req, Resp};
use crate::token::unix_now;

/// How a token was issued: the two endpoints keep independent lineages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lineage {
    Plain,
    Stable,
}

fn issue(shared: &Shared, st: &mut State, appid: &str, lineage: Lineage) -> (String, u64) {
    let prefix = if lineage == Lineage::Stable {
        "STABLE"
    } else {
        "TOKEN"
    };
    let lineage_key = (appid.to_string(), lineage == Lineage::Stable);
    let overlap = st.overlap;
    if let Some(previous) = st.current.get(&lineage_key) {
        if let Some(old) = st.tokens.get_mut(previous) {
            // WeChat keeps the previous token valid for 5 more minutes.
            old.expires_at = old.expires_at.min(unix_now() + overlap);
        }
    }
    let (value, lifetime) = issue_token(shared, st, prefix, appid, Holder::Account);
    st.current.insert(lineage_key, value.clone());
    (value, lifetime)
}

pub(super) fn check_secret(
    st: &State,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<String, Resp> {
    let appid = appid.ok_or_else(|| err(41002, "appid missing"))?;
    if st.components.contains_key(appid) {
        return Err(err(61024, "component appid must use api_component_token"));
    }
    let known = st
        .secrets
        .get(appid)
        .ok_or_else(|| err(40013, "invalid appid"))?;
    if secret != Some(known.as_str()) {
        return Err(err(40125, "invalid appsecret"));
    }
    Ok(appid.to_string())
}

pub(super) fn token(shared: &Shared, req: &Req) -> Resp {
    if req.param("grant_type") != Some("client_credential") {
        return err(40002, "invalid grant_type");
    }
    let mut st = shared.state.lock();
    let appid = match check_secret(&st, req.param("appid"), req.param("secret")) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let (value, expires_in) = issue(shared, &mut st, &appid, Lineage::Plain);
    Resp::json(
        200,
        &json!({"access_token": value, "expires_in": expires_in}),
    )
}

/// `/cgi-bin/clear_quota/v2`: the appid and its secret in a JSON body.
pub(super) fn clear_quota(shared: &Shared, req: &Req) -> Resp {
    if req.method != "POST" {
        return err(43002, "require POST method");
    }
    let Some(body) = req.json() else {
        return err(47001, "data format error");
    };
    let st = shared.state.lock();
    match check_secret(&st, body["appid"].as_str(), body["appsecret"].as_str()) {
        Ok(_) => Resp::json(200, &json!({"errcode": 0, "errmsg": "ok"})),
        Err(resp) => resp,
    }
}

pub(super) fn stable_token(shared: &Shared, req: &Req) -> Resp {
    if req.method != "POST" {
        return err(43002, "require POST method");
    }
    let Some(body) = req.json() else {
        return err(47001, "data format error");
    };
    if body["grant_type"] != "client_credential" {
        return err(40002, "invalid grant_type");
    }
    let mut st = shared.state.lock();
    let appid = match check_secret(&st, body["appid"].as_str(), body["secret"].as_str()) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let force = body["force_refresh"].as_bool().unwrap_or(false);
    if force {
        *st.counts
            .entry("/cgi-bin/stable_token#force".into())
            .or_default() += 1;
    }
    let now = unix_now();
    let current = st
        .current
        .get(&(appid.clone(), true))
        .and_then(|v| st.tokens.get(v).map(|i| (v.clone(), i.clone())));
    match current {
        Some((value, issued)) if !force && !issued.revoked && issued.expires_at > now => {
            Resp::json(
                200,
                &json!({"access_token": value, "expires_in": issued.expires_at - now}),
            )
        }
        current => {
            if let Some((value, _)) = current {
                if let Some(old) = st.tokens.get_mut(&value) {
                    old.revoked = true;
                }
            }
            let (value, expires_in) = issue(shared, &mut st, &appid, Lineage::Stable);
            Resp::json(
                200,
                &json!({"access_token": value, "expires_in": expires_in}),
            )
        }
    }
}

/// Checks `access_token`; returns the account's appid.
pub(super) fn check_token(st: &State, req: &Req) -> Result<String, Resp> {
    let token = req
        .param("access_token")
        .ok_or_else(|| err(41001, "access_token missing"))?;
    if st.reject_tokens {
        return Err(err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ));
    }
    // A user's OAuth2 token is no account token.
    let issued = st
        .tokens
        .get(token)
        .filter(|i| !matches!(i.holder, Holder::User { .. }))
        .ok_or_else(|| {
            err(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )
        })?;
    if issued.revoked {
        return Err(err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ));
    }
    if issued.expires_at <= unix_now() {
        return Err(err(42001, "access_token expired"));
    }
    Ok(issued.appid.clone())
}
