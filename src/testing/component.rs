//! The third-party platform half of `FakeWechat`: component tokens,
//! authorizer tokens with rotating refresh tokens, and the component APIs,
//! each checking that `component_appid` and the right token were sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use serde_json::{json, Value};

use super::server::{Req, Resp};
use super::wechat::{err, mint, scripted, FakeWechat, Holder, Issued, Shared, State};
use crate::token::unix_now;

/// A registered third-party platform.
#[derive(Default)]
pub(super) struct Platform {
    secret: String,
    verify_ticket: Option<String>,
    ticket_expired: bool,
    authorizers: HashMap<String, Authorizer>,
    codes: HashMap<String, String>,
}

#[derive(Default)]
struct Authorizer {
    refresh_token: String,
    delay: Option<Duration>,
    hold: Option<Arc<Gate>>,
    options: HashMap<String, String>,
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
}

/// A gate requests wait at until it opens.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !*open {
            if self.opened.wait_until(&mut open, deadline).timed_out() {
                return;
            }
        }
    }
}

/// Keeps an authorizer's token answers waiting; see
/// [`FakeWechat::hold_authorizer`]. Releases them when dropped.
pub struct Hold {
    gate: Arc<Gate>,
}

impl Hold {
    /// Lets the held answers go.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        *self.gate.open.lock() = true;
        self.gate.opened.notify_all();
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("open", &*self.gate.open.lock())
            .finish()
    }
}

/// Answers the component paths; `None` for every other path.
pub(super) fn handle(shared: &Shared, req: &Req) -> Option<Resp> {
    let path = req.path.as_str();
    if path == "/cgi-bin/component/api_component_token" {
        return Some(component_token(shared, req));
    }
    if let Some(api) = path.strip_prefix("/cgi-bin/component/") {
        return Some(component_api(shared, req, api));
    }
    if path.starts_with("/sns/oauth2/component/") || path.starts_with("/sns/component/") {
        return Some(component_oauth(shared, req));
    }
    None
}

fn body_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn component_token(shared: &Shared, req: &Req) -> Resp {
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
    let value = mint(shared, "COMPONENT", &appid);
    let lifetime = st.lifetime;
    st.tokens.insert(
        value.clone(),
        Issued {
            appid,
            holder: Holder::Component,
            expires_at: unix_now() + lifetime,
            revoked: false,
        },
    );
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
    let access = mint(shared, "AUTHORIZER", authorizer);
    let refresh = mint(shared, "REFRESH", authorizer);
    let lifetime = st.lifetime;
    st.tokens.insert(
        access.clone(),
        Issued {
            appid: authorizer.into(),
            holder: Holder::Authorizer(component.into()),
            expires_at: unix_now() + lifetime,
            revoked: false,
        },
    );
    if let Some(a) = st
        .components
        .get_mut(component)
        .and_then(|p| p.authorizers.get_mut(authorizer))
    {
        a.refresh_token = refresh.clone();
    }
    (access, refresh, lifetime)
}

fn component_api(shared: &Shared, req: &Req, api: &str) -> Resp {
    let body = req.json().unwrap_or(Value::Null);
    let mut st = shared.state.lock();
    let component = match check_component_token(&st, req, body_str(&body, "component_appid")) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if let Some(resp) = scripted(&mut st, &req.path) {
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
                .map(|a| json!({"authorizer_appid": a, "auth_time": 0}))
                .collect();
            Resp::json(200, &json!({"total_count": list.len(), "list": page}))
        }
        _ => err(48001, "api unauthorized"),
    }
}

fn component_oauth(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    let component = match check_component_token(&st, req, req.param("component_appid")) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if let Some(resp) = scripted(&mut st, &req.path) {
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
    Resp::json(
        200,
        &json!({
            "access_token": mint(shared, "OAUTH", authorizer),
            "expires_in": 7200,
            "openid": "OPENID",
            "session_key": "SESSION",
            "appid": authorizer,
        }),
    )
}
