//! `GET /status`: HTML and JSON, behind the bearer, never a token, ticket
//! or secret value.

use std::time::Duration;

use serde_json::Value;

use weixin::hub::{HubHandler, HubRequest};
use weixin::ManualClock;

use crate::common::{self, APPID, SECRET};

const BEARER: &str = "status-bearer";

#[test]
fn the_status_page_shows_ages_expiries_calls_and_errors_but_no_secret() {
    let fake = common::fake();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .bearer(BEARER)
        .daily_quota(100)
        .refresh_ahead(None)
        .build()
        .unwrap();
    let auth = format!("Bearer {BEARER}");
    let ask = |target: &str| {
        let resp = hub.handle(&HubRequest::new("GET", target).header("Authorization", &auth));
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        serde_json::from_slice::<Value>(&resp.body).unwrap()
    };
    let token = ask(&format!("/client/access_token?appid={APPID}"))["access_token"].clone();
    let ticket = ask(&format!("/client/ticket?appid={APPID}&type=jsapi"))["ticket"].clone();
    // An upstream error, kept as the last one of its appid.
    fake.fail_next("/cgi-bin/ticket/getticket", 40164, "invalid ip 1.2.3.4", 1);
    let failed = hub.handle(
        &HubRequest::new("GET", &format!("/client/ticket?appid={APPID}&type=wx_card"))
            .header("Authorization", &auth),
    );
    assert_ne!(failed.status, 200);

    let anonymous = hub.handle(&HubRequest::new("GET", "/status"));
    assert_eq!(anonymous.status, 401, "behind the bearer");

    let json = hub.handle(
        &HubRequest::new("GET", "/status")
            .header("Authorization", &auth)
            .header("Accept", "application/json"),
    );
    assert_eq!(json.status, 200);
    let status: Value = serde_json::from_slice(&json.body).unwrap();
    let tokens = status["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{status}");
    let access = tokens.iter().find(|t| t["kind"] == "token").unwrap();
    assert_eq!(access["held"], true);
    assert_eq!(access["calls_today"], 1);
    assert_eq!(access["daily_quota"], 100);
    let left = access["expires_in_secs"].as_u64().unwrap();
    assert!((7_195..=7_200).contains(&left), "{access}");
    let due = access["refresh_due_in_secs"].as_u64().unwrap();
    assert!(
        (6_571..6_876).contains(&due),
        "due in the margin window, 24 s before the cut-off: {access}"
    );
    let errors = status["last_upstream_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{status}");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("40164"),
        "{status}"
    );

    let page = hub.handle(&HubRequest::new("GET", "/status").header("Authorization", &auth));
    assert_eq!(page.status, 200);
    let content_type = page
        .headers
        .iter()
        .find(|(n, _)| n == "Content-Type")
        .unwrap();
    assert_eq!(content_type.1, "text/html; charset=utf-8");
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<h1>wechat-hub status</h1>"), "{html}");
    assert!(html.contains(&format!("AccessToken({APPID})")), "{html}");
    assert!(html.contains(&format!("jsapi ticket of {APPID}")), "{html}");
    assert!(html.contains("invalid ip"), "{html}");
    let text = String::from_utf8(json.body).unwrap();
    for secret in [
        token.as_str().unwrap(),
        ticket.as_str().unwrap(),
        SECRET,
        BEARER,
    ] {
        assert!(
            !html.contains(secret) && !text.contains(secret),
            "{secret} on the status page"
        );
    }
}

/// Runs Debian's headless chromium on `url` and returns the DOM it
/// rendered. Fails loudly if chromium is missing: `apt-get install
/// chromium` (`.ci/test`, the README's test command, installs it).
fn rendered_by_chromium(url: &str) -> String {
    use std::process::{Command, Stdio};
    let profile = crate::common::process::temp_dir("chromium");
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium runs: apt-get install chromium, or run .ci/test");
    let id = child.id();
    let (done, out) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match out.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(output) => {
            String::from_utf8_lossy(&output.expect("chromium output").stdout).into_owned()
        }
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("chromium did not render {url} within 120 s");
        }
    }
}

/// 2100-01-01 08:00:00 UTC: the hub's clock in the tests below, which
/// move it by hand. Far ahead of the system clock, which `MemoryStore`
/// still reads to drop expired tokens: they stay held whenever the test
/// runs.
const T0: u64 = 4_102_473_600;

/// A hub on a clock set to [`T0`], a daily quota of 2 calls, no bearer,
/// that fetched the account's token at `T0` and is then 40 minutes older.
fn hub_forty_minutes_on(fake: &weixin::testing::FakeWechat) -> (HubHandler, Value) {
    let clock = ManualClock::new(Duration::from_secs(T0));
    let handler = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .daily_quota(2)
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let token = handler.handle(&HubRequest::new(
        "GET",
        &format!("/client/access_token?appid={APPID}"),
    ));
    assert_eq!(token.status, 200);
    clock.advance(Duration::from_secs(40 * 60));
    (handler, serde_json::from_slice(&token.body).unwrap())
}

#[test]
fn the_status_json_tells_the_hub_store_quotas_and_times_by_the_hubs_clock() {
    let fake = common::fake();
    let (hub, _) = hub_forty_minutes_on(&fake);
    let json = hub.handle(&HubRequest::new("GET", "/status").header("Accept", "application/json"));
    let status: Value = serde_json::from_slice(&json.body).unwrap();
    let now = T0 + 2_400;
    assert_eq!(status["now"], now);
    assert_eq!(
        status["hub"],
        serde_json::json!({"version": env!("CARGO_PKG_VERSION"), "started_at": T0, "uptime_secs": 2_400})
    );
    assert_eq!(
        status["store"],
        serde_json::json!({"kind": "memory", "errors": 0, "last_error": null,
                           "replicas": null, "replicas_error": null, "topology": null})
    );
    // Midnight in China after 08:00 UTC: 16:00 UTC.
    let midnight = T0 + 8 * 3_600;
    assert_eq!(
        status["quotas"],
        serde_json::json!([
            {"appid": APPID, "kind": "token", "calls_today": 1, "daily_quota": 2,
             "warning_percent": 50, "used_up": 0, "resets_at": midnight},
            {"appid": APPID, "kind": "ticket", "calls_today": 0, "daily_quota": 2,
             "warning_percent": null, "used_up": 0, "resets_at": midnight},
        ])
    );
    let token = &status["tokens"][0];
    assert_eq!(token["words"], format!("access token of {APPID}"));
    assert_eq!(token["key"], format!("AccessToken({APPID})"));
    assert_eq!(
        (&token["fetched_at"], &token["age_secs"]),
        (&T0.into(), &2_400.into())
    );
    assert_eq!(
        (&token["expires_at"], &token["expires_in_secs"]),
        (&(T0 + 7_200).into(), &4_800.into())
    );
    let due = token["refresh_due_at"].as_u64().unwrap();
    assert_eq!(token["refresh_due_in_secs"], due - now);
    assert_eq!(status["last_upstream_errors"], serde_json::json!([]));
    assert_eq!(fake.count("/cgi-bin/token"), 1, "the page called nothing");
}

#[test]
fn a_headless_browser_renders_the_status_page() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use weixin::hub::HubServer;

    let fake = common::fake();
    // No bearer: the hub is loopback-only, and so is its status page.
    let (handler, token) = hub_forty_minutes_on(&fake);
    let server = HubServer::bind("127.0.0.1:0", handler)
        .unwrap()
        .log_requests(false);
    let url = format!("http://{}/status", server.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || server.run(&flag));

    let dom = rendered_by_chromium(&url);
    stop.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    for expected in [
        "<h1>wechat-hub status</h1>".to_string(),
        format!(
            "<dt>Version</dt><dd>weixin {}</dd>",
            env!("CARGO_PKG_VERSION")
        ),
        // Built at T0, rendered 40 minutes later.
        "<dt>Uptime</dt><dd>up 40 min, since <time datetime=\"2100-01-01T08:00:00Z\" \
         title=\"2100-01-01 08:00:00 UTC\">2100-01-01 08:00:00 UTC</time></dd>"
            .to_string(),
        "<dt>Store</dt><dd>memory store; <span class=\"ok\">healthy</span>: \
         no store errors since start</dd>"
            .to_string(),
        "<dt>Replicas</dt><dd>this replica only: a memory store lives in this process, \
         shared with none</dd>"
            .to_string(),
        "<dt>Rendered</dt><dd><time datetime=\"2100-01-01T08:40:00Z\" \
         title=\"2100-01-01 08:40:00 UTC\">2100-01-01 08:40:00 UTC</time></dd>"
            .to_string(),
        // One call of a quota of two: half.
        "<th>Calls today, of 2 a day each</th>".to_string(),
        format!(
            "<td>{APPID}</td><td>access token 1 · ticket 0</td>\
             <td><span class=\"warn\">warning: access token calls at 50 % of the quota</span></td>"
        ),
        // The key in words, the raw key beside it.
        format!(
            "<td title=\"AccessToken({APPID})\">access token of {APPID}\
             <code>AccessToken({APPID})</code></td>"
        ),
        "<td><time datetime=\"2100-01-01T08:00:00Z\" title=\"2100-01-01 08:00:00 UTC\">\
         fetched 40 min ago</time></td>"
            .to_string(),
        "<td><time datetime=\"2100-01-01T10:00:00Z\" title=\"2100-01-01 10:00:00 UTC\">\
         expires in 1 h</time></td>"
            .to_string(),
        "<p class=\"empty\">no upstream errors since start</p>".to_string(),
        "<p class=\"empty\">no third-party platforms: this hub is configured with none</p>"
            .to_string(),
    ] {
        assert!(dom.contains(&expected), "{expected}\nnot in\n{dom}");
    }
    assert!(dom.contains("refreshes in "), "{dom}");
    assert!(!dom.contains("<script"), "no script: {dom}");
    assert!(
        !dom.contains(token["access_token"].as_str().unwrap()),
        "{dom}"
    );
}

/// `GET /status` as JSON from a hub served over HTTP.
pub(crate) fn status_of(hub_url: &str) -> Value {
    let text = ureq::get(format!("{hub_url}/status"))
        .header("Accept", "application/json")
        .call()
        .expect("the hub answers")
        .body_mut()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("json")
}

/// The `key` of every row of a status's token table.
fn keys_on(status: &Value) -> Vec<String> {
    let mut keys: Vec<String> = status["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// A store that is down costs one page one failed call, not one per key
/// and account (each would wait for the store's timeout): the rest of the
/// page shows unknown. The "Redis" here closes every connection at once.
#[cfg(feature = "redis")]
#[test]
fn a_store_that_is_down_is_asked_once_per_page() {
    let closer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", closer.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        for conn in closer.incoming() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    let fake = common::fake();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .account("wx_second", "second-secret")
        .upstream(fake.url())
        .refresh_ahead(None)
        .store(weixin::store::RedisStore::open(&url).unwrap())
        .build()
        .unwrap();
    let page = || -> Value {
        let json =
            hub.handle(&HubRequest::new("GET", "/status").header("Accept", "application/json"));
        assert_eq!(json.status, 200);
        serde_json::from_slice(&json.body).unwrap()
    };
    let first = page();
    let second = page();
    let errors = |status: &Value| status["store"]["errors"].as_u64().unwrap();
    assert_eq!(errors(&second) - errors(&first), 1, "{second}");
    assert_eq!(
        second["store"]["replicas_error"],
        "not asked: the store failed earlier on this page"
    );
    for quota in second["quotas"].as_array().unwrap() {
        assert_eq!(quota["calls_today"], Value::Null, "unknown: {quota}");
    }
    assert_eq!(second["quotas"].as_array().unwrap().len(), 4, "{second}");
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(fake.count("/cgi-bin/token"), 0);
}

#[cfg(feature = "redis")]
mod cluster {
    use std::time::Duration;

    use serde_json::Value;
    use weixin::hub::{HubHandler, HubServer};
    use weixin::store::Store;
    use weixin::testing::FakeWechat;
    use weixin::{ManualClock, TokenKey};

    use super::{keys_on, status_of};
    use crate::common::cluster::{each, Topology};
    use crate::common::process::unique_prefix;
    use crate::common::{self, APPID, SECRET};
    use crate::hub_http::Served;
    use crate::hub_server::{get, post};

    /// A replica on the Redis `topology` under `prefix`, served over
    /// HTTP; its cache reads the store again only after `staleness`.
    fn replica(
        topology: Topology,
        fake: &FakeWechat,
        prefix: &str,
        clock: &ManualClock,
        staleness: u64,
    ) -> Served {
        let handler = HubHandler::builder()
            .account(APPID, SECRET)
            .upstream(fake.url())
            .store(topology.open(prefix))
            .clock(clock.clock())
            .max_staleness(Duration::from_secs(staleness))
            .refresh_ahead(None)
            .build()
            .unwrap();
        Served::start(HubServer::bind("127.0.0.1:0", handler).unwrap())
    }

    fn refresh_body(stale: &Value) -> String {
        format!(r#"{{"appid":"{APPID}","access_token":{stale}}}"#)
    }

    #[test]
    fn status_on_any_replica_shows_every_key_the_cluster_serves() {
        each(status_on_any_replica_shows_every_key_served);
    }

    fn status_on_any_replica_shows_every_key_served(topology: Topology) {
        let fake = common::fake();
        let prefix = unique_prefix("status_cluster");
        let clock = ManualClock::starting_now();
        let (a, b) = (
            replica(topology, &fake, &prefix, &clock, 60),
            replica(topology, &fake, &prefix, &clock, 60),
        );
        let read = |hub: &Served| {
            get(
                &format!("{}/client/access_token?appid={APPID}", hub.url()),
                None,
            )
        };
        // a hands out the token and the ticket; b only refreshes the token
        // and then answers reads of it from its cache.
        let (_, first) = read(&a);
        let ticket = format!("{}/client/ticket?appid={APPID}&type=jsapi", a.url());
        assert_eq!(get(&ticket, None).0, 200);
        let (status, fresh) = post(
            &format!("{}/refresh/access_token", b.url()),
            &refresh_body(&first["access_token"]),
        );
        assert_eq!(status, 200, "{fresh}");
        for _ in 0..3 {
            assert_eq!(read(&b).1, fresh, "b's cache");
        }
        assert_eq!(fake.count("/cgi-bin/token"), 2);
        let expected = [
            format!("AccessToken({APPID})"),
            format!("Ticket(Jsapi)({APPID})"),
        ];
        for hub in [&a, &b] {
            let status = status_of(&hub.url());
            assert_eq!(keys_on(&status), expected, "{status}");
            // Both replicas listen to the store's events channel.
            assert_eq!(
                (&status["store"]["kind"], &status["store"]["replicas"]),
                (&"redis".into(), &2.into()),
                "{status}"
            );
            let token = &status["tokens"][0];
            assert_eq!(
                (&token["held"], &token["calls_today"]),
                (&true.into(), &2.into())
            );
        }
    }

    #[test]
    fn cache_hits_and_refreshes_record_the_key_as_served() {
        each(cache_hits_and_refreshes_record_served);
    }

    fn cache_hits_and_refreshes_record_served(topology: Topology) {
        let fake = common::fake();
        let prefix = unique_prefix("status_served");
        let clock = ManualClock::starting_now();
        let t0 = clock.clock().unix_secs();
        // Its cache holds a token for two hours: hits are answered by
        // HubServer without the handler's blocking path.
        let hub = replica(topology, &fake, &prefix, &clock, 7200);
        let store = topology.open(&prefix);
        let key = TokenKey::access_token(APPID);
        // A client that held a token from before (another hub, a lost
        // store) reports it stale: the first this hub hears of the key.
        let (status, fresh) = post(
            &format!("{}/refresh/access_token", hub.url()),
            &refresh_body(&"FROM_BEFORE".into()),
        );
        assert_eq!(status, 200, "{fresh}");
        assert_eq!(
            store.served_keys(0).unwrap(),
            vec![(key.clone(), t0)],
            "served by refresh"
        );
        // An hour later, reads hit the cache; the last-served time moves
        // on (a key no replica marks served for a week is no longer
        // refreshed ahead).
        clock.advance(Duration::from_secs(3600));
        let read = format!("{}/client/access_token?appid={APPID}", hub.url());
        for _ in 0..3 {
            assert_eq!(get(&read, None).1, fresh);
        }
        assert_eq!(fake.count("/cgi-bin/token"), 1, "every read a cache hit");
        assert_eq!(
            store.served_keys(0).unwrap(),
            vec![(key, t0 + 3600)],
            "served by cache hits"
        );
    }
}

/// `/status` over real HTTP with HTTP Basic: what an operator's browser
/// sends after the hub's challenge, since it cannot send a bearer.
mod basic {
    use std::time::Duration;

    use weixin::hub::{HubHandler, HubServer};

    use super::BEARER;
    use crate::common::{self, APPID, SECRET};
    use crate::hub_http::Served;

    const CHALLENGE: &str = r#"Basic realm="wechat-hub", charset="UTF-8""#;
    // base64 of "ops:status-bearer", "ops:wrong", "ops:people-only".
    const BASIC_BEARER: &str = "Basic b3BzOnN0YXR1cy1iZWFyZXI=";
    const BASIC_WRONG: &str = "Basic b3BzOndyb25n";
    const BASIC_PEOPLE: &str = "Basic b3BzOnBlb3BsZS1vbmx5";

    /// A hub with the bearer and, if given, a status password, served on
    /// 127.0.0.1.
    fn served(fake: &weixin::testing::FakeWechat, password: Option<&str>) -> Served {
        let mut builder = HubHandler::builder()
            .account(APPID, SECRET)
            .upstream(fake.url())
            .bearer(BEARER)
            .refresh_ahead(None);
        if let Some(password) = password {
            builder = builder.status_password(password);
        }
        let server = HubServer::bind("127.0.0.1:0", builder.build().expect("handler"))
            .expect("bind")
            .log_requests(false);
        Served::start(server)
    }

    /// (status, WWW-Authenticate, body) of a GET with `authorization`.
    fn get(url: &str, authorization: Option<&str>) -> (u16, Option<String>, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut req = agent.get(url).header("Accept", "application/json");
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        let mut resp = req.call().expect("hub answers");
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_string());
        let body = resp.body_mut().read_to_string().expect("body");
        (resp.status().as_u16(), challenge, body)
    }

    fn assert_refused(answer: (u16, Option<String>, String), challenge: &str, what: &str) {
        let (status, got, body) = answer;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(got.as_deref(), Some(challenge), "{what}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["reason"], "unauthorized", "{what}");
        assert_eq!(body["http_status"], 401, "{what}");
    }

    fn assert_status_page(answer: (u16, Option<String>, String), what: &str) {
        let (status, _, body) = answer;
        assert_eq!(status, 200, "{what}: {body}");
        let page: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert!(page["tokens"].is_array(), "{what}: {page}");
    }

    #[test]
    fn hub_status_takes_basic_with_the_bearer_as_password_and_challenges_without() {
        let fake = common::fake();
        let hub = served(&fake, None);
        let status = format!("{}/status", hub.url());
        assert_refused(get(&status, None), CHALLENGE, "no credentials");
        assert_status_page(
            get(&status, Some(BASIC_BEARER)),
            "Basic, bearer as password",
        );
        // Any user name, even none.
        assert_status_page(
            get(&status, Some("basic OnN0YXR1cy1iZWFyZXI=")),
            "Basic, empty user",
        );
        assert_refused(get(&status, Some(BASIC_WRONG)), CHALLENGE, "wrong password");
        assert_status_page(
            get(&status, Some(&format!("Bearer {BEARER}"))),
            "programs keep the bearer",
        );
        assert_refused(
            get(&status, Some("Bearer wrong")),
            CHALLENGE,
            "wrong bearer",
        );
        for malformed in [
            "Basic",
            "Basic %%%not-base64",
            // "no-colon-status-bearer"
            "Basic bm8tY29sb24tc3RhdHVzLWJlYXJlcg==",
            // "u:" and two bytes that are not UTF-8
            "Basic dTr//g==",
            "Basic b3BzOnN0YXR1cy1iZWFyZXI", // padding left out
        ] {
            assert_refused(get(&status, Some(malformed)), CHALLENGE, malformed);
        }

        // Basic opens /status only: tokens and metrics still want the bearer.
        let token = format!("{}/client/access_token?appid={APPID}", hub.url());
        assert_refused(get(&token, Some(BASIC_BEARER)), "Bearer", "token path");
        assert_refused(
            get(&format!("{}/metrics", hub.url()), Some(BASIC_BEARER)),
            "Bearer",
            "metrics",
        );
        assert_eq!(fake.count("/cgi-bin/token"), 0, "no token was fetched");
        let (ok, _, _) = get(&token, Some(&format!("Bearer {BEARER}")));
        assert_eq!(ok, 200);
    }

    #[test]
    fn hub_status_password_replaces_the_bearer_for_basic_only() {
        let fake = common::fake();
        let hub = served(&fake, Some("people-only"));
        let status = format!("{}/status", hub.url());
        assert_status_page(get(&status, Some(BASIC_PEOPLE)), "the status password");
        assert_refused(
            get(&status, Some(BASIC_BEARER)),
            CHALLENGE,
            "the bearer as Basic password",
        );
        assert_refused(get(&status, None), CHALLENGE, "no credentials");
        assert_status_page(
            get(&status, Some(&format!("Bearer {BEARER}"))),
            "the bearer header",
        );
        let token = format!("{}/client/access_token?appid={APPID}", hub.url());
        assert_refused(get(&token, Some(BASIC_PEOPLE)), "Bearer", "token path");

        // A status password equal to the bearer takes the bearer, of course.
        let same = served(&fake, Some(BEARER));
        let status = format!("{}/status", same.url());
        assert_status_page(get(&status, Some(BASIC_BEARER)), "equal passwords");
    }
}
