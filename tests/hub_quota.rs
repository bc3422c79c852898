//! Quota protection: upstream token calls counted per account per WeChat
//! day in the store (shared by replicas), warnings at 50 % and 90 %, and
//! 45009 answered as `quota_exhausted` without a retry.

use std::sync::Arc;

use serde_json::Value;
use weixin::hub::{HubHandler, HubHandlerBuilder, HubRequest};
use weixin::store::{FileStore, MemoryStore, Store};
use weixin::testing::FakeWechat;
use weixin::TokenKey;

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
fn hub_builder(
    fake: &FakeWechat,
    store: impl Store + 'static,
    clear_quota: bool,
) -> HubHandlerBuilder {
    HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .store(store)
        .clear_quota(clear_quota)
        .refresh_ahead(None)
}

/// [`hub_builder`]'s hub, built.
fn replica(fake: &FakeWechat, store: impl Store + 'static, clear_quota: bool) -> HubHandler {
    hub_builder(fake, store, clear_quota).build().unwrap()
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
    crate::common::cluster::each(the_daily_count_is_shared);
}

#[cfg(feature = "redis")]
fn the_daily_count_is_shared(topology: crate::common::cluster::Topology) {
    let fake = common::fake();
    let prefix = process::unique_prefix("quota");
    let open = || topology.open(&prefix);
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

const USED_UP: &str = "reach max api daily quota limit";

#[test]
fn a_clear_quota_lifts_the_used_up_quota_for_every_replica_once_a_day() {
    let fake = common::fake();
    let store = Arc::new(MemoryStore::new());
    let replica = |clear: bool| replica(&fake, store.clone(), clear);
    let target = format!("/client/access_token?appid={APPID}");
    // Without the opt-in, nothing is cleared, and WeChat is not asked again.
    let plain = replica(false);
    fake.fail_next("/cgi-bin/token", 45009, USED_UP, 1);
    for _ in 0..2 {
        assert_eq!(answer(&plain, "GET", &target, "").0, 429);
    }
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 0);
    assert_eq!(fake.count("/cgi-bin/token"), 1, "the 45009 is remembered");

    // With it: the remembered 45009 is cleared first, then served.
    let (a, b) = (replica(true), replica(true));
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
        2,
        "1 refused, then cleared with no call, 1 served"
    );
    // The clear is heard by every replica: the one without the opt-in
    // calls WeChat again, which answers the quota used up again.
    fake.fail_next("/cgi-bin/token", 45009, USED_UP, 1);
    let (status, refused) = answer(&plain, "POST", "/refresh/access_token", &stale(&body));
    assert_eq!(
        (status, &refused["reason"]),
        (429, &"quota_exhausted".into())
    );
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    // The same day: no second clear, and no replica calls WeChat.
    for hub in [&b, &a, &plain] {
        let (status, refused) = answer(hub, "POST", "/refresh/access_token", &stale(&body));
        assert_eq!(
            (status, &refused["reason"]),
            (429, &"quota_exhausted".into())
        );
    }
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 1, "once a day");
    assert_eq!(fake.count("/cgi-bin/token"), 3);
}

#[test]
fn a_ticket_refused_for_its_tokens_used_up_quota_keeps_its_own_quota() {
    let fake = common::fake();
    let hub = replica(&fake, MemoryStore::new(), false);
    fake.fail_next("/cgi-bin/token", 45009, USED_UP, 1);
    let token = format!("/client/access_token?appid={APPID}");
    assert_eq!(answer(&hub, "GET", &token, "").0, 429);
    let ticket = format!("/client/ticket?appid={APPID}&type=jsapi");
    let (status, body) = answer(&hub, "GET", &ticket, "");
    assert_eq!((status, &body["reason"]), (429, &"quota_exhausted".into()));
    assert_eq!(
        (
            fake.count("/cgi-bin/token"),
            fake.count("/cgi-bin/ticket/getticket")
        ),
        (1, 0)
    );
    let status =
        hub.handle(&HubRequest::new("GET", "/status").header("Accept", "application/json"));
    let status: Value = serde_json::from_slice(&status.body).unwrap();
    let used_up: Vec<&Value> = status["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["quota_exhausted"] == true)
        .map(|row| &row["kind"])
        .collect();
    assert_eq!(used_up, [&Value::from("token")], "{status}");
}

#[test]
fn a_used_up_quota_outlives_a_restart_on_a_file_store() {
    let fake = common::fake();
    let path = common::temp_dir("quota_file").join("store.json");
    let target = format!("/client/access_token?appid={APPID}");
    fake.fail_next("/cgi-bin/token", 45009, USED_UP, 1);
    let first = replica(&fake, FileStore::open(&path).unwrap(), false);
    assert_eq!(answer(&first, "GET", &target, "").0, 429);
    drop(first);
    let restarted = replica(&fake, FileStore::open(&path).unwrap(), false);
    let (status, body) = answer(&restarted, "GET", &target, "");
    assert_eq!((status, &body["reason"]), (429, &"quota_exhausted".into()));
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

/// One replica hears WeChat's 45009; every other answers
/// `quota_exhausted` at once with no call (not `refresh_limited`), shows
/// it on `/status` and `/metrics`, and calls WeChat again from midnight
/// in China: two `HubServer`s on Redis, on a clock the test moves.
#[cfg(feature = "redis")]
#[test]
fn a_45009_on_one_replica_holds_every_replica_until_midnight_in_china() {
    crate::common::cluster::each(a_45009_on_one_replica_holds_every_replica);
}

#[cfg(feature = "redis")]
fn a_45009_on_one_replica_holds_every_replica(topology: crate::common::cluster::Topology) {
    use std::time::Duration;

    use crate::hub_server::{get, post};
    use crate::hub_status::status_of;

    let UsedUpOnA {
        a,
        b,
        first,
        clock,
        fake,
    } = used_up_on_a("quota_replicas", topology);
    let refresh = |hub: &crate::hub_http::Served, token: &Value| {
        post(
            &format!("{}/refresh/access_token", hub.url()),
            &stale(token),
        )
    };
    assert_eq!(fake.count("/cgi-bin/token"), 2);

    let now = clock.clock().unix_secs();
    let midnight = now + to_midnight_in_china(now);
    for hub in [&b, &a, &b, &a, &b] {
        let (status, body) = refresh(hub, &first);
        assert_eq!(
            (
                status,
                &body["reason"],
                &body["errcode"],
                &body["retry_after"]
            ),
            (
                429,
                &"quota_exhausted".into(),
                &45009.into(),
                &(midnight - now).into()
            ),
            "{body}"
        );
    }
    assert_eq!(
        fake.count("/cgi-bin/token"),
        2,
        "no replica called WeChat again"
    );
    // The token WeChat still accepts is still handed out.
    let (status, read) = get(
        &format!("{}/client/access_token?appid={APPID}", b.url()),
        None,
    );
    assert_eq!((status, &read), (200, &first));

    let series = format!("wechat_hub_quota_exhausted{{kind=\"token\",appid=\"{APPID}\"}}");
    for hub in [&a, &b] {
        let status = status_of(&hub.url());
        let row = &status["tokens"][0];
        assert_eq!(
            (&row["quota_exhausted"], &row["quota_resets_in_secs"]),
            (&true.into(), &(midnight - now).into()),
            "{status}"
        );
        assert_eq!(hub.metric(&series), 1.0);
    }

    clock.advance(Duration::from_secs(midnight - now - 1));
    assert_eq!(refresh(&b, &first).0, 429, "a second before midnight");
    clock.advance(Duration::from_secs(1));
    let (status, fresh) = refresh(&b, &first);
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    for hub in [&a, &b] {
        assert_eq!(status_of(&hub.url())["tokens"][0]["quota_exhausted"], false);
        assert_eq!(hub.metric(&series), 0.0);
    }
}

/// Two `HubServer`s on Redis keys of their own, on a clock the test
/// moves: `a` served `first`, then heard WeChat's 45009 refreshing it.
#[cfg(feature = "redis")]
struct UsedUpOnA {
    a: crate::hub_http::Served,
    b: crate::hub_http::Served,
    first: Value,
    clock: weixin::ManualClock,
    fake: FakeWechat,
}

#[cfg(feature = "redis")]
fn used_up_on_a(name: &str, topology: crate::common::cluster::Topology) -> UsedUpOnA {
    use crate::hub_server::{get, post};

    let fake = common::fake();
    let prefix = process::unique_prefix(name);
    let clock = weixin::ManualClock::starting_now();
    let replica = || {
        let handler = hub_builder(&fake, topology.open(&prefix), false)
            .clock(clock.clock())
            .build()
            .unwrap();
        crate::hub_http::Served::start(
            weixin::hub::HubServer::bind("127.0.0.1:0", handler).unwrap(),
        )
    };
    let (a, b) = (replica(), replica());
    let (_, first) = get(
        &format!("{}/client/access_token?appid={APPID}", a.url()),
        None,
    );
    fake.fail_next("/cgi-bin/token", 45009, USED_UP, 1);
    let (status, body) = post(&format!("{}/refresh/access_token", a.url()), &stale(&first));
    assert_eq!(
        (status, &body["reason"]),
        (429, &"quota_exhausted".into()),
        "{body}"
    );
    UsedUpOnA {
        a,
        b,
        first,
        clock,
        fake,
    }
}

/// Seconds from `now` (Unix) to the next midnight in China (UTC+8).
#[cfg(feature = "redis")]
fn to_midnight_in_china(now: u64) -> u64 {
    ((now + 8 * 3600) / 86_400 + 1) * 86_400 - 8 * 3600 - now
}

/// `/metrics` reads the used-up quotas from the store at each scrape: a
/// replica that has served nothing and shown no `/status` since another
/// heard WeChat's 45009 shows it on its first scrape, and stops at
/// midnight in China.
#[cfg(feature = "redis")]
#[test]
fn metrics_of_an_idle_replica_show_a_quota_used_up_on_another() {
    crate::common::cluster::each(metrics_of_an_idle_replica_show_a_quota_used_up);
}

#[cfg(feature = "redis")]
fn metrics_of_an_idle_replica_show_a_quota_used_up(topology: crate::common::cluster::Topology) {
    use std::time::Duration;

    let UsedUpOnA {
        a: _a,
        b,
        clock,
        fake,
        ..
    } = used_up_on_a("quota_metrics", topology);
    let series =
        |kind: &str| format!("wechat_hub_quota_exhausted{{kind=\"{kind}\",appid=\"{APPID}\"}}");
    assert_eq!(b.metric(&series("token")), 1.0, "B's first scrape");
    assert_eq!(
        b.metric(&series("ticket")),
        0.0,
        "the ticket's quota is its own"
    );
    let now = clock.clock().unix_secs();
    let midnight = now + to_midnight_in_china(now);
    clock.advance(Duration::from_secs(midnight - now - 1));
    assert_eq!(b.metric(&series("token")), 1.0, "a second before midnight");
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.metric(&series("token")), 0.0, "the day reset");
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}
