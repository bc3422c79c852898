//! Which group of endpoints answers which path, and in which order a
//! request meets the fake's checks and a test's canned answers.

use super::state::Shared;
use super::{api, canned, component, oauth, token};
use crate::testing::server::{Req, Resp};

type Endpoint = fn(&Shared, &Req) -> Resp;

pub(super) fn handle(shared: &Shared, req: &Req) -> Resp {
    let (hold, delay) = {
        let mut st = shared.state.lock();
        *st.counts.entry(req.path.clone()).or_default() += 1;
        (
            st.holds.get(&req.path).cloned(),
            st.delays.get(&req.path).copied(),
        )
    };
    if let Some(gate) = hold {
        gate.wait();
    }
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    let path = req.path.as_str();
    // Endpoints that authenticate by appid + secret, a code or a user's own
    // token: a canned answer replaces the whole endpoint.
    let unchecked: Option<Endpoint> = match path {
        "/cgi-bin/token" => Some(token::token),
        "/cgi-bin/stable_token" => Some(token::stable_token),
        "/cgi-bin/clear_quota/v2" => Some(token::clear_quota),
        "/cgi-bin/component/api_component_token" => Some(component::component_token),
        "/cgi-bin/component/api_start_push_ticket" => Some(component::start_push_ticket),
        "/sns/oauth2/access_token" => Some(oauth::exchange),
        "/sns/oauth2/refresh_token" => Some(oauth::refresh),
        "/sns/jscode2session" => Some(oauth::jscode2session),
        "/sns/auth" => Some(oauth::auth),
        "/sns/userinfo" => Some(oauth::userinfo),
        _ => None,
    };
    if let Some(endpoint) = unchecked {
        let canned = canned::take(&mut shared.state.lock(), path);
        return canned.unwrap_or_else(|| endpoint(shared, req));
    }
    // The others check their token first, then answer canned or their own.
    if let Some(name) = path.strip_prefix("/cgi-bin/component/") {
        return component::component_api(shared, req, name);
    }
    if path.starts_with("/sns/oauth2/component/") || path.starts_with("/sns/component/") {
        return component::component_oauth(shared, req);
    }
    api::api(shared, req)
}
