//! Quota protection: upstream token calls counted per account per WeChat
//! day in the store (shared by replicas), warnings at 50 % and 90 %, and
//! 45009 answered as `quota_exhausted` without a retry.

use std::sync::Arc;

use serde_json::Value;
use wechat::hub::{HubHandler, HubRequest, MemoryStore, Store};
use wechat::testing::FakeWechat;
use wechat::TokenKey;

use crate::common::process::{self, HubProcess, SECRET_ENV};
use crate::common::{self, APPID, SECRET};

/// Today's store counter of `kind` calls for `appid` (WeChat's day, UTC+8).
fn today(kind: &str, appid: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("calls:{}:{kind}:{appid}", (now + 8 * 3600) / 86_400)
}

/// A hub over `store` for the test account, refreshing nothing ahead.
fn replica(fake: &FakeWechat, store: impl Store + 'static, clear_quota: bool) -> HubHandler {
    HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .store(store)
        .clear_quota(clear_quota)
        .refresh_ahead(None)
        .build()
        .unwrap()
}

/// The body of a refresh request reporting `answer`'s token stale.
fn stale(answer: &Value) -> String {
    format!(
        r#"{{"appid":"{APPID}","access_token":{}}}"#,
        answer["access_token"]
    )
}

fn answer(hub: &HubHandler, method: &str, target: &str, body: &str) -> (u16, Value) {
    let resp = hub.handle(&HubRequest::new(method, target).body(body.as_bytes().to_vec()));
    (
        resp.status,
        serde_json::from_slice(&resp.body).expect("json"),
    )
}

#[test]
fn two_hubs_share_the_daily_count_in_their_store() {
    let fake = common::fake();
    let store = Arc::new(MemoryStore::new());
    let (a, b) = (
        replica(&fake, store.clone(), false),
        replica(&fake, store.clone(), false),
    );
    let target = format!("/client/access_token?appid={APPID}");
    let (_, first) = answer(&a, "GET", &target, "");
    assert_eq!(answer(&b, "GET", &target, "").1, first, "b reads a's token");
    assert_eq!(store.counter(&today("token", APPID)).unwrap(), 1);
    // b refreshes the stale token: the second call of the day, whichever
    // replica made it.
    let stale = stale(&first);
    let (status, _) = answer(&b, "POST", "/refresh/access_token", &stale);
    assert_eq!(status, 200);
    assert_eq!(store.counter(&today("token", APPID)).unwrap(), 2);
    answer(
        &a,
        "GET",
        &format!("/client/ticket?appid={APPID}&type=jsapi"),
        "",
    );
    assert_eq!(store.counter(&today("ticket", APPID)).unwrap(), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[cfg(feature = "redis")]
#[test]
fn the_daily_count_is_shared_through_redis() {
    let fake = common::fake();
    let prefix = process::unique_prefix("quota");
    let open = || {
        wechat::hub::RedisStore::open("redis://127.0.0.1:6379/")
            .unwrap()
            .prefix(prefix.clone())
    };
    let (a, b) = (replica(&fake, open(), false), replica(&fake, open(), false));
    let target = format!("/client/access_token?appid={APPID}");
    let (_, first) = answer(&a, "GET", &target, "");
    let stale = stale(&first);
    assert_eq!(answer(&b, "POST", "/refresh/access_token", &stale).0, 200);
    assert_eq!(open().counter(&today("token", APPID)).unwrap(), 2);
    assert_eq!(open().counter("never-counted").unwrap(), 0);
}

#[test]
fn quota_used_up_is_its_own_error_and_is_not_retried() {
    let fake = common::fake();
    let hub = replica(&fake, MemoryStore::new(), false);
    fake.fail_next(
        "/cgi-bin/token",
        45009,
        "reach max api daily quota limit",
        1,
    );
    let (status, body) = answer(
        &hub,
        "GET",
        &format!("/client/access_token?appid={APPID}"),
        "",
    );
    assert_eq!(
        (status, &body["reason"], &body["errcode"]),
        (429, &"quota_exhausted".into(), &45009.into())
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("daily quota of token calls is used up"),
        "{message}"
    );
    assert_eq!(fake.count("/cgi-bin/token"), 1, "not retried");
    assert!(hub
        .store()
        .get_token(&TokenKey::access_token(APPID))
        .unwrap()
        .is_none());
}

#[test]
fn the_binary_warns_at_half_and_nine_tenths_of_its_quota() {
    let fake = common::fake();
    let dir = process::temp_dir("quota");
    let extra = "daily_quota = 4\nrefresh_burst = 10";
    let config = process::config(&fake.url(), "[store]\nkind = \"memory\"", extra);
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let half = format!("2 of the 4 daily token calls for {APPID} used today (UTC+8): 50 %");
    let most = format!("4 of the 4 daily token calls for {APPID} used today (UTC+8): 90 %");
    let url = format!("{}/client/access_token?appid={APPID}", hub.url);
    let mut token = crate::hub_life::http_get(&url)["access_token"].clone();
    for call in 2..=4 {
        // A stale token reported: one more upstream call each time.
        let body = format!(r#"{{"appid":"{APPID}","access_token":{token}}}"#);
        let text = ureq::post(format!("{}/refresh/access_token", hub.url))
            .header("Content-Type", "application/json")
            .send(&body)
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let fresh = serde_json::from_str::<Value>(&text).unwrap()["access_token"].clone();
        assert_ne!(fresh, token, "call {call}");
        token = fresh;
        if call == 2 {
            hub.wait_for_log(&half);
        }
        if call < 4 {
            assert!(!hub.logs().contains(&most));
        }
    }
    let logs = hub.wait_for_log(&most);
    assert_eq!(logs.matches("50 %").count(), 1, "{logs}");
    // The binary's own warning line, the SDK's prefix left out.
    assert!(
        logs.lines()
            .any(|l| l.starts_with(&format!("wechat-hub: warning: {most}"))),
        "{logs}"
    );
    assert_eq!(fake.count("/cgi-bin/token"), 4);
    let metrics = ureq::get(format!("{}/metrics", hub.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let series = format!("upstream_calls_today{{kind=\"token\",appid=\"{APPID}\"}} 4");
    assert!(metrics.contains(&series), "{metrics}");
}

#[test]
fn the_opt_in_clears_the_quota_exactly_once_a_day() {
    let fake = common::fake();
    let store = Arc::new(MemoryStore::new());
    let replica = |clear: bool| replica(&fake, store.clone(), clear);
    let target = format!("/client/access_token?appid={APPID}");
    // Without the opt-in, nothing is cleared.
    fake.fail_next(
        "/cgi-bin/token",
        45009,
        "reach max api daily quota limit",
        1,
    );
    assert_eq!(answer(&replica(false), "GET", &target, "").0, 429);
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 0);

    // With it: cleared once, asked again, served.
    let (a, b) = (replica(true), replica(true));
    fake.fail_next(
        "/cgi-bin/token",
        45009,
        "reach max api daily quota limit",
        1,
    );
    let (status, body) = answer(&a, "GET", &target, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 1);
    let sent = fake.last_request("/cgi-bin/clear_quota/v2").unwrap();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        (&sent["appid"], &sent["appsecret"]),
        (&APPID.into(), &SECRET.into())
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        3,
        "1 refused, 1 refused and cleared, 1 served"
    );

    // The same day, through the other replica: no second clear.
    let stale = stale(&body);
    fake.fail_next(
        "/cgi-bin/token",
        45009,
        "reach max api daily quota limit",
        1,
    );
    let (status, body) = answer(&b, "POST", "/refresh/access_token", &stale);
    assert_eq!((status, &body["reason"]), (429, &"quota_exhausted".into()));
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 1, "once a day");
}
