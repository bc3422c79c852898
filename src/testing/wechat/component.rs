//! The third-party platform half of `FakeWechat`: component tokens,
//! authorizer tokens with rotating refresh tokens, and the component APIs,
//! each checking that `component_appid` and the right token were sent.
use serde_json::{json, Value};

use super::state::{err, issue_token, mint, Holder, Shared, State};
use super::{canned, oauth};
use crate::testing::server::{Req, Resp};
use crate::token::unix_now;

fn body_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `/cgi-bin/component/api_start_push_ticket`: the platform's appid and
/// secret in a JSON body; WeChat then pushes a ticket within minutes.
pub(super) fn start_push_ticket(shared: &Shared, req: &Req) -> Resp {
    let body = req.json().unwrap_or(Value::Null);
    let st = shared.state.lock();
    let Some(appid) = body_str(&body, "component_appid") else {
        return err(41002, "component_appid missing");
    };
    let Some(platform) = st.components.get(appid) else {
        return err(40013, "invalid appid");
    };
    if body_str(&body, "component_secret") != Some(platform.secret.as_str()) {
        return err(40125, "invalid appsecret");
    }
    Resp::json(200, &json!({"errcode": 0, "errmsg": "ok"}))
}

pub(super) fn component_token(shared: &Shared, req: &Req) -> Resp {
    let body = req.json().unwrap_or(Value::Null);
    let mut st = shared.state.lock();
    let Some(appid) = body_str(&body, "component_appid") else {
        return err(41002, "component_appid missing");
    };
    let Some(platform) = st.components.get(appid) else {
        return err(40013, "invalid appid");
    };
    if body_str(&body, "component_appsecret") != Some(platform.secret.as_str()) {
        return err(40125, "invalid appsecret");
    }
    let sent = body_str(&body, "component_verify_ticket");
    if sent.is_none() || sent != platform.verify_ticket.as_deref() {
        return err(61006, "component ticket is invalid");
    }
    if platform.ticket_expired {
        return err(61005, "component ticket is expired");
    }
    let appid = appid.to_string();
    let (value, lifetime) = issue_token(shared, &mut st, "COMPONENT", &appid, Holder::Component);
    Resp::json(
        200,
        &json!({"component_access_token": value, "expires_in": lifetime}),
    )
}

/// Checks `component_access_token` and that it belongs to `component_appid`.
fn check_component_token(
    st: &State,
    req: &Req,
    component_appid: Option<&str>,
) -> Result<String, Resp> {
    if req.param("access_token").is_some() {
        return Err(err(
            40001,
            "component APIs take component_access_token, not access_token",
        ));
    }
    let token = req
        .param("component_access_token")
        .ok_or_else(|| err(41018, "missing component_access_token"))?;
    let issued = st
        .tokens
        .get(token)
        .filter(|i| i.holder == Holder::Component)
        .ok_or_else(|| {
            err(
                40001,
                "invalid credential, component_access_token is invalid",
            )
        })?;
    if issued.revoked {
        return Err(err(
            40001,
            "invalid credential, component_access_token is invalid",
        ));
    }
    if issued.expires_at <= unix_now() {
        return Err(err(42001, "component_access_token expired"));
    }
    let Some(component_appid) = component_appid else {
        return Err(err(41002, "component_appid missing"));
    };
    if component_appid != issued.appid {
        return Err(err(
            40013,
            "invalid appid: component_appid does not match the token",
        ));
    }
    Ok(issued.appid.clone())
}

fn issue_authorizer(
    shared: &Shared,
    st: &mut State,
    component: &str,
    authorizer: &str,
) -> (String, String, u64) {
    let holder = Holder::Authorizer(component.into());
    let (access, lifetime) = issue_token(shared, st, "AUTHORIZER", authorizer, holder);
    let refresh = mint(shared, "REFRESH", authorizer);
    if let Some(a) = st
        .components
        .get_mut(component)
        .and_then(|p| p.authorizers.get_mut(authorizer))
    {
        a.refresh_token = refresh.clone();
    }
    (access, refresh, lifetime)
}

pub(super) fn component_api(shared: &Shared, req: &Req, api: &str) -> Resp {
    let body = req.json().unwrap_or(Value::Null);
    let mut st = shared.state.lock();
    let component = match check_component_token(&st, req, body_str(&body, "component_appid")) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if let Some(resp) = canned::take(&mut st, &req.path) {
        return resp;
    }
    let authorizer = body_str(&body, "authorizer_appid").map(str::to_string);
    let known = |st: &State, a: &Option<String>| {
        a.as_ref()
            .is_some_and(|a| st.components[&component].authorizers.contains_key(a))
    };
    match api {
        "api_create_preauthcode" => {
            let code = mint(shared, "PREAUTH", &component);
            Resp::json(200, &json!({"pre_auth_code": code, "expires_in": 1800}))
        }
        "api_query_auth" => {
            let code = body_str(&body, "authorization_code").unwrap_or("");
            let Some(authorizer) = st
                .components
                .get_mut(&component)
                .and_then(|p| p.codes.remove(code))
            else {
                return err(61010, "code is expired or invalid");
            };
            let (access, refresh, lifetime) =
                issue_authorizer(shared, &mut st, &component, &authorizer);
            Resp::json(
                200,
                &json!({"authorization_info": {
                    "authorizer_appid": authorizer,
                    "authorizer_access_token": access,
                    "expires_in": lifetime,
                    "authorizer_refresh_token": refresh,
                    "func_info": [{"funcscope_category": {"id": 1}}],
                }}),
            )
        }
        "api_authorizer_token" => {
            if !known(&st, &authorizer) {
                return err(61003, "component is not authorized by this account");
            }
            let authorizer = authorizer.unwrap_or_default();
            *st.counts
                .entry(format!(
                    "/cgi-bin/component/api_authorizer_token#{authorizer}"
                ))
                .or_default() += 1;
            let entry = &st.components[&component].authorizers[&authorizer];
            if body_str(&body, "authorizer_refresh_token") != Some(entry.refresh_token.as_str()) {
                return err(61023, "refresh_token is invalid");
            }
            let delay = entry.delay;
            let hold = entry.hold.clone();
            let (access, refresh, lifetime) =
                issue_authorizer(shared, &mut st, &component, &authorizer);
            drop(st);
            if let Some(gate) = hold {
                gate.wait();
            }
            if let Some(delay) = delay {
                std::thread::sleep(delay);
            }
            Resp::json(
                200,
                &json!({
                    "authorizer_access_token": access,
                    "expires_in": lifetime,
                    "authorizer_refresh_token": refresh,
                }),
            )
        }
        "api_get_authorizer_info" => {
            if !known(&st, &authorizer) {
                return err(61003, "component is not authorized by this account");
            }
            Resp::json(
                200,
                &json!({
                    "authorizer_info": {"nick_name": "fake", "user_name": "gh_fake"},
                    "authorization_info": {"authorizer_appid": authorizer},
                }),
            )
        }
        "api_get_authorizer_option" | "api_set_authorizer_option" => {
            if !known(&st, &authorizer) {
                return err(61003, "component is not authorized by this account");
            }
            let Some(name) = body_str(&body, "option_name") else {
                return err(61011, "invalid option_name");
            };
            let authorizer = authorizer.unwrap_or_default();
            let Some(a) = st
                .components
                .get_mut(&component)
                .and_then(|p| p.authorizers.get_mut(&authorizer))
            else {
                return err(61003, "component is not authorized by this account");
            };
            if api == "api_set_authorizer_option" {
                let value = body_str(&body, "option_value").unwrap_or("");
                a.options.insert(name.into(), value.into());
                return Resp::json(200, &json!({"errcode": 0, "errmsg": "ok"}));
            }
            let value = a.options.get(name).cloned().unwrap_or_else(|| "0".into());
            Resp::json(
                200,
                &json!({"authorizer_appid": authorizer, "option_name": name, "option_value": value}),
            )
        }
        "api_get_authorizer_list" => {
            let mut list: Vec<&String> = st.components[&component].authorizers.keys().collect();
            list.sort();
            let offset = body["offset"].as_u64().unwrap_or(0) as usize;
            let count = body["count"].as_u64().unwrap_or(100) as usize;
            let page: Vec<Value> = list
                .iter()
                .skip(offset)
                .take(count)
                .map(|a| {
                    let refresh_token = &st.components[&component].authorizers[*a].refresh_token;
                    json!({"authorizer_appid": a, "refresh_token": refresh_token, "auth_time": 0})
                })
                .collect();
            Resp::json(200, &json!({"total_count": list.len(), "list": page}))
        }
        _ => err(48001, "api unauthorized"),
    }
}

pub(super) fn component_oauth(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    let component = match check_component_token(&st, req, req.param("component_appid")) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if let Some(resp) = canned::take(&mut st, &req.path) {
        return resp;
    }
    let Some(authorizer) = req.param("appid") else {
        return err(41002, "appid missing");
    };
    if !st.components[&component]
        .authorizers
        .contains_key(authorizer)
    {
        return err(61003, "component is not authorized by this account");
    }
    let authorizer = authorizer.to_string();
    match req.path.as_str() {
        "/sns/oauth2/component/access_token" => {
            oauth::exchange_code(shared, &mut st, req, &authorizer)
        }
        "/sns/oauth2/component/refresh_token" => {
            oauth::refresh_for(shared, &mut st, req, &authorizer)
        }
        "/sns/component/jscode2session" => oauth::session_for(shared, &mut st, req, &authorizer),
        _ => err(48001, "api unauthorized"),
    }
}
