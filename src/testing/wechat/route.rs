//! Which group of endpoints answers which path.

use serde_json::json;

use super::state::Shared;
use super::{api, component, token};
use crate::testing::server::{Req, Resp};

pub(super) fn handle(shared: &Shared, req: &Req) -> Resp {
    let delay = {
        let mut st = shared.state.lock();
        *st.counts.entry(req.path.clone()).or_default() += 1;
        st.last.insert(req.path.clone(), req.clone());
        st.delays.get(&req.path).copied()
    };
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    if let Some(resp) = component::handle(shared, req) {
        return resp;
    }
    match req.path.as_str() {
        "/cgi-bin/token" => token::token(shared, req),
        "/cgi-bin/stable_token" => token::stable_token(shared, req),
        "/sns/userinfo" | "/sns/auth" => {
            let n = req
                .query
                .iter()
                .filter(|(k, _)| k == "access_token")
                .count();
            Resp::json(200, &json!({"openid": "OPENID", "access_token_params": n}))
        }
        _ => api::api(shared, req),
    }
}
