//! A durable third-party platform: after a store loss, the authorizers'
//! refresh tokens are rebuilt from WeChat's `api_get_authorizer_list`
//! through a bearer-protected endpoint.

use std::sync::Arc;

use serde_json::Value;
use weixin::hub::{HubHandler, HubRequest};
use weixin::store::{MemoryStore, Store};
use weixin::Secret;

pub(crate) const COMPONENT: &str = "wx_platform";
pub(crate) const SECRET: &str = "platform-secret";
const BEARER: &str = "ops-bearer";

fn rebuild(hub: &HubHandler, body: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req =
        HubRequest::new("POST", "/admin/rebuild_refresh_tokens").body(body.as_bytes().to_vec());
    if let Some(bearer) = bearer {
        req = req.header("Authorization", &format!("Bearer {bearer}"));
    }
    let resp = hub.handle(&req);
    (
        resp.status,
        serde_json::from_slice(&resp.body).expect("json"),
    )
}

#[test]
fn a_lost_store_gets_its_refresh_tokens_back_from_the_authorizer_list() {
    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    let refresh: Vec<(String, String)> = (0..3)
        .map(|i| {
            let appid = format!("wx_auth_{i}");
            let token = fake.add_authorizer(COMPONENT, &appid);
            (appid, token)
        })
        .collect();
    let store = Arc::new(MemoryStore::new());
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .upstream(fake.url())
        .store(store.clone())
        .bearer(BEARER)
        .refresh_ahead(None)
        .build()
        .unwrap();
    let body = format!(r#"{{"component_appid":"{COMPONENT}"}}"#);

    let (status, answer) = rebuild(&hub, &body, None);
    assert_eq!((status, &answer["reason"]), (401, &"unauthorized".into()));
    assert_eq!(fake.count("/cgi-bin/component/api_get_authorizer_list"), 0);
    let (status, answer) = rebuild(
        &hub,
        r#"{"component_appid":"wx_not_a_platform"}"#,
        Some(BEARER),
    );
    assert_eq!((status, &answer["reason"]), (404, &"unknown_appid".into()));

    let (status, answer) = rebuild(&hub, &body, Some(BEARER));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["restored"], &answer["total_count"]),
        (&3.into(), &3.into())
    );
    for (appid, token) in &refresh {
        assert_eq!(
            store.get_refresh_token(COMPONENT, appid).unwrap(),
            Some(Secret::new(token.as_str())),
            "{appid}"
        );
    }
    assert!(
        !answer.to_string().contains(&refresh[0].1),
        "no refresh token in the answer"
    );
    // The rebuilt refresh token works: the hub serves the authorizer.
    let resp = hub.handle(
        &HubRequest::new(
            "GET",
            &format!("/client/access_token?appid={COMPONENT}&authorizer_appid=wx_auth_1"),
        )
        .header("Authorization", &format!("Bearer {BEARER}")),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
}

#[cfg(feature = "crypto")]
const CALLBACK_TOKEN: &str = "callback-token";
#[cfg(feature = "crypto")]
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// `xml` encrypted as WeChat pushes it to the platform's callback: the
/// target (path and query) and the body.
#[cfg(feature = "crypto")]
pub(crate) fn encrypted_push_parts(xml: &str) -> (String, String) {
    use weixin::Message;
    let body = callback_crypto()
        .encrypt(xml, "1700000000", "nonce1")
        .unwrap();
    let signature = Message::parse(&body)
        .unwrap()
        .field("MsgSignature")
        .unwrap()
        .to_string();
    let target = format!(
        "/callback/component/{COMPONENT}?msg_signature={signature}&timestamp=1700000000&nonce=nonce1&encrypt_type=aes"
    );
    (target, body)
}

/// The platform's callback crypto, as its hubs are configured.
#[cfg(feature = "crypto")]
pub(crate) fn callback_crypto() -> weixin::MessageCrypto {
    weixin::MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, COMPONENT).unwrap()
}

/// `unauthorized` for `authorizer`, as WeChat pushes it.
#[cfg(feature = "crypto")]
pub(crate) fn unauthorized_xml(authorizer: &str) -> String {
    format!(
        "<xml><AppId>{COMPONENT}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>unauthorized</InfoType><AuthorizerAppid>{authorizer}</AuthorizerAppid></xml>"
    )
}

/// `xml` encrypted as WeChat pushes it to the platform's callback.
#[cfg(feature = "crypto")]
fn encrypted_push(xml: &str) -> HubRequest {
    let (target, body) = encrypted_push_parts(xml);
    HubRequest::new("POST", &target).body(body.into_bytes())
}

#[cfg(feature = "crypto")]
#[test]
fn pushes_arriving_out_of_order_keep_the_newest_ticket() {
    let store = Arc::new(MemoryStore::new());
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .component_callback(callback_crypto())
        .store(store.clone())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let ticket = |created: u64, value: &str| {
        encrypted_push(&format!(
            "<xml><AppId>{COMPONENT}</AppId><CreateTime>{created}</CreateTime>\
             <InfoType>component_verify_ticket</InfoType>\
             <ComponentVerifyTicket>{value}</ComponentVerifyTicket></xml>"
        ))
    };
    assert_eq!(
        hub.handle(&ticket(1_700_000_600, "ticket@@@new")).status,
        200
    );
    assert_eq!(
        hub.handle(&ticket(1_700_000_000, "ticket@@@old")).status,
        200,
        "still answered success"
    );
    assert_eq!(
        store.get_verify_ticket(COMPONENT).unwrap(),
        Some(Secret::new("ticket@@@new"))
    );
}

/// A fake WeChat serving the platform, and a store, both holding its
/// verify ticket.
#[cfg(feature = "crypto")]
fn platform_with_a_ticket() -> (weixin::testing::FakeWechat, Arc<MemoryStore>) {
    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    let store = Arc::new(MemoryStore::new());
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    (fake, store)
}

#[cfg(feature = "crypto")]
#[test]
fn unauthorized_pushed_to_one_hub_stops_another_sharing_its_store_object_at_once() {
    use std::time::Duration;
    use weixin::ManualClock;
    let (fake, store) = platform_with_a_ticket();
    fake.add_authorizer(COMPONENT, "wx_leaving");
    let clock = ManualClock::starting_now();
    let replica = || {
        HubHandler::builder()
            .component(COMPONENT, SECRET)
            .component_callback(callback_crypto())
            .upstream(fake.url())
            .store(store.clone())
            .clock(clock.clock())
            // Only being told can explain b's refusal, not re-reading.
            .max_staleness(Duration::from_secs(3600))
            .refresh_ahead(None)
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    rebuild(&a, &format!(r#"{{"component_appid":"{COMPONENT}"}}"#), None);
    let target = format!("/client/access_token?appid={COMPONENT}&authorizer_appid=wx_leaving");
    for hub in [&a, &b] {
        let resp = hub.handle(&HubRequest::new("GET", &target));
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    }
    let calls = fake.authorizer_token_calls("wx_leaving");

    // WeChat tells replica a that the authorizer left: b, sharing the
    // store object, is told by it at once, with no time passing.
    assert_eq!(
        a.handle(&encrypted_push(&unauthorized_xml("wx_leaving")))
            .status,
        200
    );
    for (name, hub) in [("a", &a), ("b", &b)] {
        let resp = hub.handle(&HubRequest::new("GET", &target));
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(
            (resp.status, &body["reason"]),
            (400, &"invalid_request".into()),
            "{name}: {body}"
        );
    }
    // Neither replica fetches it again or refreshes it ahead.
    clock.advance(Duration::from_secs(7_200 - 300));
    assert_eq!(a.refresh_due() + b.refresh_due(), 0);
    assert_eq!(fake.authorizer_token_calls("wx_leaving"), calls);
}

#[test]
fn a_stale_verify_ticket_makes_one_start_push_ticket_per_staleness_across_replicas() {
    use std::time::Duration;
    use weixin::ManualClock;

    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::starting_now();
    let replica = || {
        HubHandler::builder()
            .component(COMPONENT, SECRET)
            .upstream(fake.url())
            .store(store.clone())
            .clock(clock.clock())
            .refresh_ahead(None)
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    let asked = || fake.count("/cgi-bin/component/api_start_push_ticket");
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    clock.advance(Duration::from_secs(19 * 60));
    assert_eq!(a.resume_ticket_pushes() + b.resume_ticket_pushes(), 0);
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(a.resume_ticket_pushes() + b.resume_ticket_pushes(), 1);
    assert_eq!(asked(), 1);
    let sent = fake
        .last_request("/cgi-bin/component/api_start_push_ticket")
        .unwrap();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        (&sent["component_appid"], &sent["component_secret"]),
        (&COMPONENT.into(), &SECRET.into())
    );
    // Still stale a minute later: not asked again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(a.resume_ticket_pushes() + b.resume_ticket_pushes(), 0);
    // The component token is still served meanwhile (the ticket lives 12 h).
    let resp = b.handle(&HubRequest::new(
        "GET",
        &format!("/client/component_access_token?appid={COMPONENT}"),
    ));
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(asked(), 1);
}

#[cfg(feature = "redis")]
#[test]
fn redis_tells_when_a_verify_ticket_arrived() {
    crate::common::cluster::each(tells_when_a_verify_ticket_arrived);
}

#[cfg(feature = "redis")]
fn tells_when_a_verify_ticket_arrived(topology: crate::common::cluster::Topology) {
    let store = topology.open(&crate::common::process::unique_prefix("ticket_at"));
    assert_eq!(store.verify_ticket_received_at(COMPONENT).unwrap(), None);
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = store.verify_ticket_received_at(COMPONENT).unwrap().unwrap();
    assert!(at.abs_diff(now) <= 1, "{at} vs {now}");
}

/// The newest verify ticket is kept whatever order pushes arrive in.
fn the_newest_ticket_wins(store: &dyn Store) {
    assert!(store
        .put_newer_verify_ticket(COMPONENT, &Secret::new("T2"), 2_000)
        .unwrap());
    assert!(
        !store
            .put_newer_verify_ticket(COMPONENT, &Secret::new("T1"), 1_000)
            .unwrap(),
        "late push of an older one"
    );
    assert_eq!(
        store.get_verify_ticket(COMPONENT).unwrap(),
        Some(Secret::new("T2"))
    );
    assert!(store
        .put_newer_verify_ticket(COMPONENT, &Secret::new("T3"), 3_000)
        .unwrap());
    assert_eq!(
        store.get_verify_ticket(COMPONENT).unwrap(),
        Some(Secret::new("T3"))
    );
}

#[test]
fn the_newest_verify_ticket_wins_in_memory_and_file_stores() {
    the_newest_ticket_wins(&MemoryStore::new());
    let dir = crate::common::process::temp_dir("newest_ticket");
    the_newest_ticket_wins(&weixin::store::FileStore::open(dir.join("store.json")).unwrap());
}

#[cfg(feature = "redis")]
#[test]
fn the_newest_verify_ticket_wins_across_replicas_on_redis() {
    crate::common::cluster::each(the_newest_verify_ticket_wins_across_replicas);
}

#[cfg(feature = "redis")]
fn the_newest_verify_ticket_wins_across_replicas(topology: crate::common::cluster::Topology) {
    let open = |prefix: &str| topology.open(prefix);
    let prefix = crate::common::process::unique_prefix("newest_ticket");
    the_newest_ticket_wins(&open(&prefix));
    // A second replica's push of an older ticket does not replace it.
    let other = open(&prefix);
    assert!(!other
        .put_newer_verify_ticket(COMPONENT, &Secret::new("T0"), 500)
        .unwrap());
    assert_eq!(
        other.get_verify_ticket(COMPONENT).unwrap(),
        Some(Secret::new("T3"))
    );
}

/// The hub's callback answers in its own error body whatever refuses a
/// push (the library's `CallbackHandler` checks it): a refused push is an
/// `invalid_request` (400), a code WeChat refuses is WeChat's error (502),
/// and only an acted-on push is `success`.
#[cfg(feature = "crypto")]
#[test]
fn refused_pushes_are_answered_in_the_hub_error_body() {
    use weixin::MessageCrypto;
    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    let store = Arc::new(MemoryStore::new());
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .component_callback(MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, COMPONENT).unwrap())
        .upstream(fake.url())
        .store(store.clone())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let error = |req: &HubRequest| {
        let resp = hub.handle(req);
        let body: Value = serde_json::from_slice(&resp.body).expect("json");
        (
            resp.status,
            body["reason"].clone(),
            body["errcode"].clone(),
            body["http_status"].clone(),
        )
    };
    let invalid = (
        400,
        Value::from("invalid_request"),
        Value::from(400),
        Value::from(400),
    );
    let ticket = format!(
        "<xml><AppId>{COMPONENT}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>component_verify_ticket</InfoType>\
         <ComponentVerifyTicket>ticket-1</ComponentVerifyTicket></xml>"
    );
    let good = encrypted_push(&ticket);

    // A wrong msg_signature, a push without one, a body that is not the
    // ciphertext: refused, nothing stored.
    let mut tampered = good.clone();
    for (name, value) in &mut tampered.query {
        if name == "msg_signature" {
            value.replace_range(0..1, if value.starts_with('0') { "1" } else { "0" });
        }
    }
    assert_eq!(error(&tampered), invalid);
    let mut unsigned = good.clone();
    unsigned
        .query
        .retain(|(name, _)| name != "msg_signature" && name != "encrypt_type");
    assert_eq!(error(&unsigned), invalid);
    assert_eq!(error(&good.clone().body("<xml>no</xml>")), invalid);
    assert_eq!(error(&good.clone().body(vec![0xff, 0xfe])), invalid);
    assert_eq!(store.get_verify_ticket(COMPONENT).unwrap(), None);

    // Another platform's path: 404.
    let mut elsewhere = good.clone();
    elsewhere.path = "/callback/component/wx_elsewhere".into();
    assert_eq!(
        error(&elsewhere),
        (
            404,
            Value::from("unknown_appid"),
            Value::from(404),
            Value::from(404)
        )
    );

    // The ticket: success, stored.
    let resp = hub.handle(&good);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"success"[..]));
    assert!(resp
        .headers
        .iter()
        .any(|(k, v)| k == "Content-Type" && v.starts_with("text/plain")));
    assert_eq!(
        store.get_verify_ticket(COMPONENT).unwrap(),
        Some(Secret::new("ticket-1"))
    );

    // A code WeChat refuses: WeChat's errcode, so that WeChat pushes again.
    let used = encrypted_push(&format!(
        "<xml><AppId>{COMPONENT}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>authorized</InfoType><AuthorizerAppid>wx_a</AuthorizerAppid>\
         <AuthorizationCode>used@@@</AuthorizationCode></xml>"
    ));
    assert_eq!(
        error(&used),
        (
            502,
            Value::from("wechat_error"),
            Value::from(61010),
            Value::from(502)
        )
    );
    assert_eq!(store.get_refresh_token(COMPONENT, "wx_a").unwrap(), None);
}

const START_PUSH: &str = "/cgi-bin/component/api_start_push_ticket";

/// A fake whose `api_start_push_ticket` fails `times` before it succeeds.
fn start_push_failing(times: usize) -> weixin::testing::FakeWechat {
    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    fake.fail_next(START_PUSH, -1, "system error", times);
    fake
}

#[test]
fn a_failed_start_push_ticket_is_retried_after_a_backoff_not_a_staleness_window() {
    use std::time::Duration;
    use weixin::ManualClock;

    let fake = start_push_failing(1);
    let path = START_PUSH;
    let store = Arc::new(MemoryStore::new());
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    let clock = ManualClock::starting_now();
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .upstream(fake.url())
        .store(store)
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    clock.advance(Duration::from_secs(21 * 60));
    assert_eq!(hub.resume_ticket_pushes(), 1, "asked, and WeChat failed");
    assert_eq!(fake.count(path), 1);
    assert_eq!(hub.resume_ticket_pushes(), 0, "within the backoff");
    // The failure is on the status page, with WeChat's errcode.
    let status =
        hub.handle(&HubRequest::new("GET", "/status").header("Accept", "application/json"));
    let status: Value = serde_json::from_slice(&status.body).unwrap();
    let error = &status["last_upstream_errors"][0];
    assert_eq!(error["appid"], COMPONENT);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("api_start_push_ticket: ") && message.contains("-1"),
        "{message}"
    );
    assert!(!message.contains(SECRET));

    clock.advance(Duration::from_secs(1));
    assert_eq!(hub.resume_ticket_pushes(), 1, "the retry, a second later");
    assert_eq!(fake.count(path), 2);
    clock.advance(Duration::from_secs(60));
    assert_eq!(hub.resume_ticket_pushes(), 0, "done in this window");
    // Still no ticket 20 minutes later: asked once more.
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(hub.resume_ticket_pushes(), 1);
    assert_eq!(fake.count(path), 3);
}

#[test]
fn retries_of_start_push_ticket_are_bounded() {
    use std::time::Duration;
    use weixin::ManualClock;

    let fake = start_push_failing(100);
    let clock = ManualClock::starting_now();
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .upstream(fake.url())
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    clock.advance(Duration::from_secs(20 * 60));
    let mut asked = 0;
    // Ten minutes, a second at a time: backoffs of 1, 2, 4 ... 60 s.
    for _ in 0..600 {
        asked += hub.resume_ticket_pushes();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(asked, 8, "the first try and 7 retries");
    assert_eq!(fake.count(START_PUSH), 8);
}

#[cfg(feature = "crypto")]
#[test]
fn an_authorized_push_keeps_the_token_for_the_configured_lifetime() {
    use std::time::Duration;
    use weixin::{ManualClock, TokenKey};
    let (fake, store) = platform_with_a_ticket();
    // The hubs' clock is not the fake's: a token is stamped by the hub.
    let clock = ManualClock::starting_now();
    clock.advance(Duration::from_secs(1_000));
    let replica = || {
        HubHandler::builder()
            .component(COMPONENT, SECRET)
            .component_callback(callback_crypto())
            .account_expires_in(COMPONENT, Duration::from_secs(5_000))
            .upstream(fake.url())
            .store(store.clone())
            .clock(clock.clock())
            .refresh_ahead(None)
            .build()
            .unwrap()
    };
    let (pushed_to, other) = (replica(), replica());
    let code = fake.authorization_code(COMPONENT, "wx_new");
    let authorized = encrypted_push(&format!(
        "<xml><AppId>{COMPONENT}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>authorized</InfoType><AuthorizerAppid>wx_new</AuthorizerAppid>\
         <AuthorizationCode>{code}</AuthorizationCode></xml>"
    ));
    assert_eq!(pushed_to.handle(&authorized).status, 200);
    assert_eq!(fake.count("/cgi-bin/component/api_query_auth"), 1);

    let now = clock.clock().unix_secs();
    let key = TokenKey::access_token(COMPONENT).for_authorizer("wx_new");
    let stored = store.get_token(&key).unwrap().expect("stored");
    assert_eq!((stored.expires_in(), stored.timestamp()), (5_000, now));
    let target = format!("/client/access_token?appid={COMPONENT}&authorizer_appid=wx_new");
    for (name, hub) in [("pushed to", &pushed_to), ("other", &other)] {
        let resp = hub.handle(&HubRequest::new("GET", &target));
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(resp.status, 200, "{name}: {body}");
        assert_eq!(
            (&body["expires_in"], &body["timestamp"]),
            (&Value::from(5_000), &Value::from(now)),
            "{name}: {body}"
        );
        assert_eq!(body["access_token"].as_str(), Some(stored.expose()));
    }
    assert_eq!(fake.authorizer_token_calls("wx_new"), 0, "from the push");
}
