//! What `FakeWechat` remembers: accounts, platforms, users, issued tokens,
//! codes and tickets, counters and canned answers; and the small helpers
//! every group of endpoints shares.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;

use super::canned::Canned;
use super::hold::Gate;
use crate::testing::server::Resp;
use crate::token::unix_now;

/// Who a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holder {
    /// An official account (`/cgi-bin/token`, `stable_token`).
    Account,
    /// A third-party platform (`api_component_token`).
    Component,
    /// An authorizer of the named platform.
    Authorizer(String),
    /// A user who authorized a web page (OAuth2): the token is the user's,
    /// good for `/sns/userinfo` and `/sns/auth` only.
    User { openid: String, scope: String },
}

#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub(super) appid: String,
    pub(super) holder: Holder,
    pub(super) expires_at: u64,
    pub(super) revoked: bool,
}

#[derive(Default)]
pub(super) struct State {
    /// Accounts with API security on, by appid.
    #[cfg(feature = "api-security")]
    pub(super) secured: HashMap<String, super::secured::FakeApiSecurity>,
    /// How secured answers are spoiled, while set.
    #[cfg(feature = "api-security")]
    pub(super) tamper: Option<super::secured::Tamper>,
    /// Each secured request's path and decrypted fields, in order.
    #[cfg(feature = "api-security")]
    pub(super) secured_seen: Vec<(String, serde_json::Value)>,
    pub(super) secrets: HashMap<String, String>,
    pub(super) tokens: HashMap<String, Issued>,
    pub(super) current: HashMap<(String, bool), String>,
    pub(super) tickets: HashMap<(String, String), (String, u64)>,
    pub(super) counts: HashMap<String, usize>,
    pub(super) canned: HashMap<String, VecDeque<Canned>>,
    pub(super) delays: HashMap<String, Duration>,
    /// Gates answers on a path wait at, by path (see `FakeWechat::hold`).
    pub(super) holds: HashMap<String, Arc<Gate>>,
    pub(super) media: HashMap<String, (String, Vec<u8>)>,
    pub(super) lifetime: u64,
    /// Seconds a replaced token stays valid (WeChat's 300).
    pub(super) overlap: u64,
    pub(super) components: HashMap<String, Platform>,
    /// Codes a user's login gives, by value; kept once used, to answer
    /// 40163.
    pub(super) codes: HashMap<String, Code>,
    /// Users' OAuth2 refresh tokens.
    pub(super) user_refresh: HashMap<String, UserGrant>,
    /// unionid by openid.
    pub(super) unionids: HashMap<String, String>,
    /// The current mini-program session key by (appid, openid).
    pub(super) sessions: HashMap<(String, String), String>,
    /// When each (appid, openid) logged in through `jscode2session`, in the
    /// last minute.
    pub(super) logins: HashMap<(String, String), VecDeque<Instant>>,
    /// While set, every access token check answers 40001.
    pub(super) reject_tokens: bool,
    /// While set, every call past the token check answers errcode -1.
    pub(super) busy: bool,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) serial: AtomicU64,
}

/// A registered third-party platform.
#[derive(Default)]
pub(super) struct Platform {
    pub(super) secret: String,
    pub(super) verify_ticket: Option<String>,
    pub(super) ticket_expired: bool,
    pub(super) authorizers: HashMap<String, Authorizer>,
    pub(super) codes: HashMap<String, String>,
}

#[derive(Default)]
pub(super) struct Authorizer {
    pub(super) refresh_token: String,
    pub(super) delay: Option<Duration>,
    pub(super) hold: Option<Arc<Gate>>,
    pub(super) options: HashMap<String, String>,
}

/// What a code is good for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CodeKind {
    /// The OAuth2 redirect's `code`, for a user token with this scope.
    Web { scope: String },
    /// `wx.login`'s code, for `jscode2session`.
    Js,
    /// The phone-number button's code.
    Phone { number: String },
}

/// A single-use code a user's action gives.
#[derive(Debug, Clone)]
pub(super) struct Code {
    pub(super) appid: String,
    pub(super) openid: String,
    pub(super) kind: CodeKind,
    pub(super) used: bool,
}

/// What a user's refresh token stands for.
#[derive(Debug, Clone)]
pub(super) struct UserGrant {
    pub(super) appid: String,
    pub(super) openid: String,
    pub(super) scope: String,
}

pub(super) fn err(errcode: i64, errmsg: &str) -> Resp {
    Resp::json(200, &json!({"errcode": errcode, "errmsg": errmsg}))
}

/// Mints a token of `appid` for `holder`, living the current lifetime from
/// now: its value and that lifetime.
pub(super) fn issue_token(
    shared: &Shared,
    st: &mut State,
    prefix: &str,
    appid: &str,
    holder: Holder,
) -> (String, u64) {
    let value = mint(shared, prefix, appid);
    let lifetime = st.lifetime;
    st.tokens.insert(
        value.clone(),
        Issued {
            appid: appid.to_string(),
            holder,
            expires_at: unix_now() + lifetime,
            revoked: false,
        },
    );
    (value, lifetime)
}

/// A unique, unguessable token value.
pub(super) fn mint(shared: &Shared, prefix: &str, appid: &str) -> String {
    let n = shared.serial.fetch_add(1, Ordering::SeqCst);
    let mut nonce = [0u8; 8];
    // ok because the counter alone keeps tokens unique
    let _ = getrandom::fill(&mut nonce);
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{appid}_{n}_{hex}")
}
