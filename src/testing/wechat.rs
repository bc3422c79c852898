//! `FakeWechat`: WeChat's token, ticket, media and generic API endpoints on
//! 127.0.0.1, with switches to invalidate or expire tokens and counters of
//! every call.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::server::{HttpServer, Req, Resp};
use crate::token::unix_now;

/// How a token was issued: the two endpoints keep independent lineages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lineage {
    Plain,
    Stable,
}

/// Who a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holder {
    /// An official account (`/cgi-bin/token`, `stable_token`).
    Account,
    /// A third-party platform (`api_component_token`).
    Component,
    /// An authorizer of the named platform.
    Authorizer(String),
}

#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub appid: String,
    pub holder: Holder,
    pub expires_at: u64,
    pub revoked: bool,
}

#[derive(Default)]
pub(super) struct State {
    pub secrets: HashMap<String, String>,
    pub tokens: HashMap<String, Issued>,
    current: HashMap<(String, bool), String>,
    tickets: HashMap<(String, String), (String, u64)>,
    pub counts: HashMap<String, usize>,
    scripted: HashMap<String, VecDeque<(i64, String)>>,
    delays: HashMap<String, Duration>,
    media: HashMap<String, (String, Vec<u8>)>,
    pub lifetime: u64,
    pub components: HashMap<String, super::component::Platform>,
    pub last: HashMap<String, Req>,
    /// While set, every access token check answers 40001.
    reject_tokens: bool,
    /// While set, every call past the token check answers errcode -1.
    busy: bool,
}

pub(super) struct Shared {
    pub state: Mutex<State>,
    pub serial: AtomicU64,
}

/// A request as a fake server received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Received {
    /// The method, upper case.
    pub method: String,
    /// The decoded query pairs in order, token values included.
    pub query: Vec<(String, String)>,
    /// The body, if it was JSON.
    pub json: Option<Value>,
}

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
/// - `/sns/userinfo` and `/sns/auth`, which echo how many `access_token`
///   parameters they received;
/// - every other path: checks `access_token` (41001 missing, 40001 unknown
///   or revoked, 42001 expired) and echoes the method, path, appid, query
///   and JSON body.
///
/// Tests switch tokens off with [`invalidate_current`](FakeWechat::invalidate_current)
/// or [`expire_current`](FakeWechat::expire_current), make WeChat reject every
/// token or answer "busy" for a while with [`reject_tokens`](FakeWechat::reject_tokens)
/// and [`busy`](FakeWechat::busy), script errcodes with
/// [`fail_next`](FakeWechat::fail_next), and read [`count`](FakeWechat::count)ers.
///
/// # Example
///
/// ```
/// use wechat::testing::FakeWechat;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "secret1");
/// let client = wechat::Client::builder()
///     .appid("wx1")
///     .scheme("http").host("127.0.0.1").port(fake.port())
///     .token_source(wechat::SecretSource::new("wx1", "secret1").base_url(fake.url()))
///     .build()?;
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// assert_eq!(fake.count("/cgi-bin/token"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FakeWechat {
    pub(super) shared: Arc<Shared>,
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
                ..State::default()
            }),
            serial: AtomicU64::new(0),
        });
        let handler_shared = shared.clone();
        let server = HttpServer::start(8, Arc::new(move |req: &Req| handle(&handler_shared, req)))?;
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

    /// Revokes every live token of `appid` (both lineages): calls with them
    /// get 40001 from now on. Returns how many were revoked.
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
    /// use wechat::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = wechat::Client::builder()
    ///     .appid("wx1")
    ///     .scheme("http").host("127.0.0.1").port(fake.port())
    ///     .token_source(wechat::SecretSource::new("wx1", "secret1").base_url(fake.url()))
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
    /// use wechat::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "secret1");
    /// let client = wechat::Client::builder()
    ///     .appid("wx1")
    ///     .scheme("http").host("127.0.0.1").port(fake.port())
    ///     .busy_retry(wechat::BusyRetry {
    ///         retries: 2,
    ///         base: std::time::Duration::from_millis(1),
    ///         max: std::time::Duration::from_millis(2),
    ///     })
    ///     .token_source(wechat::SecretSource::new("wx1", "secret1").base_url(fake.url()))
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

    /// Makes every token of `appid` expired: calls with them get 42001.
    pub fn expire_current(&self, appid: &str) {
        let now = unix_now();
        for issued in self.shared.state.lock().tokens.values_mut() {
            if issued.appid == appid {
                issued.expires_at = issued.expires_at.min(now);
            }
        }
    }

    /// The next `times` calls to `path` answer `errcode` (after the token
    /// check). Use `usize::MAX` for "always".
    pub fn fail_next(&self, path: &str, errcode: i64, errmsg: &str, times: usize) {
        let mut st = self.shared.state.lock();
        let queue = st.scripted.entry(path.to_string()).or_default();
        let times = times.min(1_000_000);
        queue.extend(std::iter::repeat_n((errcode, errmsg.to_string()), times));
    }

    /// Delays every answer on `path` by `delay`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.shared.state.lock().delays.insert(path.into(), delay);
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
    /// values included) and its JSON body, if any. Lets a test assert what
    /// the server received.
    pub fn last_request(&self, path: &str) -> Option<Received> {
        let st = self.shared.state.lock();
        let req = st.last.get(path)?;
        Some(Received {
            method: req.method.clone(),
            query: req.query.clone(),
            json: req.json(),
        })
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

pub(super) fn err(errcode: i64, errmsg: &str) -> Resp {
    Resp::json(200, &json!({"errcode": errcode, "errmsg": errmsg}))
}

fn handle(shared: &Shared, req: &Req) -> Resp {
    let delay = {
        let mut st = shared.state.lock();
        *st.counts.entry(req.path.clone()).or_default() += 1;
        st.last.insert(req.path.clone(), req.clone());
        st.delays.get(&req.path).copied()
    };
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    if let Some(resp) = super::component::handle(shared, req) {
        return resp;
    }
    match req.path.as_str() {
        "/cgi-bin/token" => token(shared, req),
        "/cgi-bin/stable_token" => stable_token(shared, req),
        "/sns/userinfo" | "/sns/auth" => {
            let n = req
                .query
                .iter()
                .filter(|(k, _)| k == "access_token")
                .count();
            Resp::json(200, &json!({"openid": "OPENID", "access_token_params": n}))
        }
        _ => api(shared, req),
    }
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

fn issue(shared: &Shared, st: &mut State, appid: &str, lineage: Lineage) -> (String, u64) {
    let prefix = if lineage == Lineage::Stable {
        "STABLE"
    } else {
        "TOKEN"
    };
    let value = mint(shared, prefix, appid);
    let now = unix_now();
    let lifetime = st.lifetime;
    if let Some(previous) = st
        .current
        .get(&(appid.to_string(), lineage == Lineage::Stable))
    {
        if let Some(old) = st.tokens.get_mut(previous) {
            // WeChat keeps the previous token valid for 5 more minutes.
            old.expires_at = old.expires_at.min(now + 300);
        }
    }
    st.tokens.insert(
        value.clone(),
        Issued {
            appid: appid.into(),
            holder: Holder::Account,
            expires_at: now + lifetime,
            revoked: false,
        },
    );
    st.current.insert(
        (appid.to_string(), lineage == Lineage::Stable),
        value.clone(),
    );
    (value, lifetime)
}

fn check_secret(st: &State, appid: Option<&str>, secret: Option<&str>) -> Result<String, Resp> {
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

fn token(shared: &Shared, req: &Req) -> Resp {
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

fn stable_token(shared: &Shared, req: &Req) -> Resp {
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
fn check_token(st: &State, req: &Req) -> Result<String, Resp> {
    let token = req
        .param("access_token")
        .ok_or_else(|| err(41001, "access_token missing"))?;
    if st.reject_tokens {
        return Err(err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ));
    }
    let issued = st.tokens.get(token).ok_or_else(|| {
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

fn api(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    let appid = match check_token(&st, req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if st.busy {
        return err(-1, "system error");
    }
    if let Some(resp) = scripted(&mut st, &req.path) {
        return resp;
    }
    match req.path.as_str() {
        "/cgi-bin/ticket/getticket" => ticket(&mut st, req, &appid),
        "/cgi-bin/media/upload" => upload(&mut st, req),
        "/cgi-bin/media/get" => match req.param("media_id").and_then(|id| st.media.get(id)) {
            Some((file_name, bytes)) => Resp::new(200, "image/jpeg", bytes.clone()).with_header(
                "Content-disposition",
                format!("attachment; filename=\"{file_name}\""),
            ),
            None => err(40007, "invalid media_id"),
        },
        _ => {
            let query: serde_json::Map<String, Value> = req
                .query
                .iter()
                .filter(|(k, _)| k != "access_token")
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Resp::json(
                200,
                &json!({
                    "errcode": 0,
                    "errmsg": "ok",
                    "method": req.method,
                    "path": req.path,
                    "appid": appid,
                    "query": query,
                    "json": req.json(),
                }),
            )
        }
    }
}

/// The next scripted failure for `path`, if any.
pub(super) fn scripted(st: &mut State, path: &str) -> Option<Resp> {
    let (errcode, errmsg) = st.scripted.get_mut(path)?.pop_front()?;
    Some(err(errcode, &errmsg))
}

fn ticket(st: &mut State, req: &Req, appid: &str) -> Resp {
    let ty = req.param("type").unwrap_or("");
    if ty != "jsapi" && ty != "wx_card" {
        return err(40097, "invalid args");
    }
    let now = unix_now();
    let key = (appid.to_string(), ty.to_string());
    let lifetime = st.lifetime;
    let (ticket, expires_at) = match st.tickets.get(&key) {
        Some((t, at)) if *at > now => (t.clone(), *at),
        _ => {
            let t = format!("TICKET_{ty}_{appid}_{now}");
            st.tickets.insert(key, (t.clone(), now + lifetime));
            (t, now + lifetime)
        }
    };
    Resp::json(
        200,
        &json!({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": expires_at - now}),
    )
}

/// Reads the `media` part of a multipart body.
fn upload(st: &mut State, req: &Req) -> Resp {
    let Some(boundary) = req
        .header_value("content-type")
        .and_then(|ct| ct.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return err(41005, "media data missing");
    };
    let delimiter = format!("--{boundary}");
    let body = &req.body;
    let mut found = None;
    for part in split_bytes(body, delimiter.as_bytes()) {
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        if !head.contains("name=\"media\"") {
            continue;
        }
        let Some(file_name) = head
            .split("filename=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            return err(41005, "media data missing: no filename");
        };
        let mut data = &part[split + 4..];
        if data.ends_with(b"\r\n") {
            data = &data[..data.len() - 2];
        }
        found = Some((file_name.to_string(), data.to_vec()));
    }
    let Some((file_name, bytes)) = found else {
        return err(41005, "media data missing");
    };
    let media_id = format!(
        "MEDIA_{}",
        &sha1_smol::Sha1::from(&bytes).digest().to_string()[..16]
    );
    st.media.insert(media_id.clone(), (file_name, bytes));
    Resp::json(
        200,
        &json!({"type": req.param("type").unwrap_or("image"), "media_id": media_id, "created_at": unix_now()}),
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut haystack: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(i) = find(haystack, delimiter) {
        parts.push(&haystack[..i]);
        haystack = &haystack[i + delimiter.len()..];
    }
    parts.push(haystack);
    parts
}
