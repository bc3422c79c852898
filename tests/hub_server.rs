//! The `wechat-hub` binary as a child process: the protocol end to end
//! through `HubSource`, conformance from raw HTTP, compare-and-swap under
//! 64 threads, bearer auth, the file store across `kill -9`, signals,
//! configuration errors.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use serde_json::Value;
use weixin::testing::FakeWechat;
use weixin::{Client, ErrorKind, HubSource, Token, TokenKey};

use crate::common::process::{self, run_hub, HubProcess, SECRET_ENV};
use crate::common::{self, APPID};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, JSON body) of a GET.
pub(crate) fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = agent().get(url);
    if let Some(b) = bearer {
        req = req.header("Authorization", &format!("Bearer {b}"));
    }
    let mut resp = req.call().expect("hub answers");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).expect("json body"))
}

/// (status, JSON body) of a POST with a JSON body.
pub(crate) fn post(url: &str, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("hub answers");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).expect("json body"))
}

/// The body of a GET, as text.
fn get_text(url: &str) -> String {
    let mut resp = agent().get(url).call().expect("hub answers");
    assert_eq!(resp.status(), 200);
    resp.body_mut().read_to_string().expect("body")
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn memory_hub(fake: &FakeWechat, extra: &str) -> HubProcess {
    let dir = process::temp_dir("mem");
    let config = process::config(&fake.url(), "[store]\nkind = \"memory\"", extra);
    HubProcess::start(&dir, &config, &[SECRET_ENV])
}

fn client_of(fake: &FakeWechat, hub: &HubProcess) -> Client {
    common::builder(fake)
        .token_source(HubSource::new(&hub.url).expect("hub url"))
        .build()
        .expect("client")
}

#[test]
fn hub_source_against_the_binary_tokens_tickets_refresh() {
    let fake = common::fake();
    let hub = memory_hub(&fake, "");
    let client = client_of(&fake, &hub);
    client.request("/cgi-bin/a").unwrap();
    let ticket = client.jsapi_ticket().unwrap();
    assert!(ticket.expose().starts_with("TICKET_jsapi_"));
    assert!(client
        .card_ticket()
        .unwrap()
        .expose()
        .starts_with("TICKET_wx_card_"));

    // A second process's client shares the hub's token.
    let other = client_of(&fake, &hub);
    other.request("/cgi-bin/b").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    fake.invalidate_current(APPID);
    client.request("/cgi-bin/a").unwrap();
    other.request("/cgi-bin/b").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2, "one refresh for both");

    hub.wait_for_log("GET /client/access_token 200 ");
    let logs = hub.wait_for_log("POST /refresh/access_token 200 ");
    let token = client.token(&TokenKey::access_token(APPID)).unwrap();
    assert!(
        !logs.contains(token.expose()) && !logs.contains("appid="),
        "{logs}"
    );
}

#[test]
fn protocol_conformance_from_raw_http() {
    let fake = common::fake();
    let hub = memory_hub(&fake, "");
    let url = &hub.url;

    let (status, body) = get(&format!("{url}/client/access_token?appid={APPID}"), None);
    assert_eq!(status, 200);
    assert_eq!(
        keys(&body),
        BTreeSet::from(["access_token", "expires_in", "timestamp"])
    );
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    assert_eq!(body["expires_in"], 7200);
    assert!(body["timestamp"].as_u64().unwrap() > 1_600_000_000);

    // Refresh takes a JSON body; the stale token is replaced once.
    let refresh = format!("{url}/refresh/access_token");
    let stale = format!(r#"{{"appid":"{APPID}","access_token":"{token}"}}"#);
    let (status, body) = post(&refresh, &stale);
    assert_eq!(status, 200);
    assert_eq!(
        keys(&body),
        BTreeSet::from(["access_token", "expires_in", "timestamp"])
    );
    let fresh = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, token);
    let (_, again) = post(&refresh, &stale);
    assert_eq!(again["access_token"], fresh.as_str(), "compare-and-swap");
    assert_eq!(fake.count("/cgi-bin/token"), 2);

    let (status, body) = get(
        &format!("{url}/client/ticket?appid={APPID}&type=jsapi"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        keys(&body),
        BTreeSet::from(["ticket", "type", "expires_in", "timestamp"])
    );
    assert_eq!(body["type"], "jsapi");

    let (status, body) = get(&format!("{url}/healthz"), None);
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));

    // Missing or malformed parameters, and the wrong request shape.
    let error_keys = BTreeSet::from(["errcode", "message", "reason", "http_status"]);
    let bad_requests = [
        get(&format!("{url}/client/access_token"), None),
        get(&format!("{url}/client/ticket?appid={APPID}"), None),
        get(
            &format!("{url}/client/ticket?appid={APPID}&type=nope"),
            None,
        ),
        get(&format!("{url}/client/component_access_token"), None),
        post(&refresh, "not json"),
        post(&refresh, &format!(r#"{{"appid":"{APPID}"}}"#)),
        post(&refresh, &format!(r#"{{"access_token":"{token}"}}"#)),
        // The refresh parameters belong in the body, not the query.
        post(
            &format!("{refresh}?appid={APPID}&access_token={token}"),
            "{}",
        ),
        post(
            &format!("{url}/client/refresh_component_access_token"),
            "{}",
        ),
    ];
    for (status, body) in bad_requests {
        assert_eq!(status, 400, "{body}");
        assert_eq!(keys(&body), error_keys, "{body}");
        assert_eq!(body["reason"], "invalid_request", "{body}");
        assert_eq!(body["http_status"], 400, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = get(&format!("{url}/refresh/access_token"), None);
    assert_eq!(
        (status, &body["reason"]),
        (405, &"method_not_allowed".into())
    );
    let (status, body) = get(&format!("{url}/client/access_token?appid=wx_unknown"), None);
    assert_eq!((status, &body["reason"]), (404, &"unknown_appid".into()));
    assert_eq!(
        fake.count("/cgi-bin/token"),
        2,
        "no upstream call for errors"
    );
}

#[test]
fn sixty_four_threads_report_one_stale_token_one_upstream_refresh() {
    let fake = common::fake();
    fake.delay("/cgi-bin/token", Duration::from_millis(50));
    let hub = memory_hub(&fake, "");
    let key = TokenKey::access_token(APPID);
    let stale = client_of(&fake, &hub).token(&key).unwrap();
    fake.invalidate_current(APPID);

    // 64 clients, each with its own cache, as 64 processes would be.
    let clients: Vec<Client> = (0..64).map(|_| client_of(&fake, &hub)).collect();
    let barrier = Barrier::new(64);
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .map(|client| {
                let (barrier, key, stale) = (&barrier, &key, &stale);
                s.spawn(move || {
                    barrier.wait();
                    match client.refreshed_token(key, stale) {
                        Ok(t) => t.expose().to_string(),
                        Err(e) => format!("error: {e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let logs = hub.logs();
    assert!(
        tokens
            .iter()
            .all(|t| t == &tokens[0] && t != stale.expose()),
        "{tokens:?}\n{logs}"
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        2,
        "1 fetch + exactly 1 refresh"
    );
    let metrics = get_text(&format!("{}/metrics", hub.url));
    for line in [
        "wechat_hub_upstream_calls_total{kind=\"token\",result=\"ok\"} 2",
        "wechat_hub_refreshes_without_upstream_total 63",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

#[test]
fn bearer_secret_missing_or_wrong_gets_401_and_no_token() {
    let fake = common::fake();
    let dir = process::temp_dir("bearer");
    let config = process::config(
        &fake.url(),
        "[store]\nkind = \"memory\"",
        "bearer_env = \"TEST_HUB_BEARER\"",
    );
    let hub = HubProcess::start(
        &dir,
        &config,
        &[SECRET_ENV, ("TEST_HUB_BEARER", "bearer-42")],
    );
    let token_url = format!("{}/client/access_token?appid={APPID}", hub.url);
    for bearer in [None, Some("wrong"), Some("bearer-4"), Some("bearer-420")] {
        let (status, body) = get(&token_url, bearer);
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(body["reason"], "unauthorized");
        assert!(body.get("access_token").is_none());
    }
    let (status, body) = post(
        &format!("{}/refresh/access_token", hub.url),
        &format!(r#"{{"appid":"{APPID}","access_token":"x"}}"#),
    );
    assert_eq!((status, &body["reason"]), (401, &"unauthorized".into()));
    assert_eq!(fake.count("/cgi-bin/token"), 0);
    assert_eq!(get(&format!("{}/healthz", hub.url), None).0, 200);

    let (status, body) = get(&token_url, Some("bearer-42"));
    assert_eq!(status, 200);
    assert!(body["access_token"].as_str().unwrap().starts_with("TOKEN_"));

    let client = common::builder(&fake)
        .token_source(HubSource::new(&hub.url).unwrap().bearer("bearer-42"))
        .build()
        .unwrap();
    client.request("/cgi-bin/x").unwrap();
    let unauthorized = client_of(&fake, &hub)
        .token(&TokenKey::access_token(APPID))
        .unwrap_err();
    assert!(
        matches!(unauthorized.kind(), ErrorKind::Hub { status: 401, .. }),
        "{unauthorized:?}"
    );
    assert!(!hub.logs().contains("bearer-42"));
}

#[test]
fn status_password_env_opens_the_status_page_with_basic() {
    let fake = common::fake();
    let dir = process::temp_dir("status-password");
    let config = process::config(
        &fake.url(),
        "[store]\nkind = \"memory\"",
        "bearer_env = \"TEST_HUB_BEARER\"\nstatus_password_env = \"TEST_HUB_STATUS_PASSWORD\"",
    );
    let hub = HubProcess::start(
        &dir,
        &config,
        &[
            SECRET_ENV,
            ("TEST_HUB_BEARER", "bearer-42"),
            ("TEST_HUB_STATUS_PASSWORD", "people-7"),
        ],
    );
    let status = |basic: &str| {
        agent()
            .get(&format!("{}/status", hub.url))
            .header("Authorization", &format!("Basic {basic}"))
            .call()
            .expect("hub answers")
            .status()
            .as_u16()
    };
    // base64 of "ops:people-7" and of "ops:bearer-42".
    assert_eq!(status("b3BzOnBlb3BsZS03"), 200);
    assert_eq!(status("b3BzOmJlYXJlci00Mg=="), 401);
    assert!(!hub.logs().contains("people-7"));

    let (code, _, stderr) = run_hub(
        &["--config", &hub.config.display().to_string()],
        &[SECRET_ENV, ("TEST_HUB_BEARER", "bearer-42")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("TEST_HUB_STATUS_PASSWORD (status password) is not set"),
        "{stderr}"
    );
}

#[test]
fn file_store_survives_kill_9_with_no_upstream_token_call() {
    let fake = common::fake();
    let dir = process::temp_dir("file");
    let path = dir.join("store.json");
    // What a component hub would have received: kept across the crash too.
    {
        let store = weixin::store::FileStore::open(&path).unwrap();
        use weixin::store::Store;
        store
            .put_verify_ticket("wx_component", &"VERIFY_1".into())
            .unwrap();
        store
            .put_refresh_token("wx_component", "wx_authorizer", &"REFRESH_1".into())
            .unwrap();
    }
    let store = format!(
        "[store]\nkind = \"file\"\npath = {:?}",
        path.display().to_string()
    );
    let config = process::config(&fake.url(), &store, "");
    let mut hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let key = TokenKey::access_token(APPID);
    let token = client_of(&fake, &hub).token(&key).unwrap();
    let ticket = client_of(&fake, &hub).jsapi_ticket().unwrap();

    // Clients keep calling while the hub is killed.
    let stop = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let client = client_of(&fake, &hub);
            let (stop, calls) = (&stop, &calls);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = client
                        .refreshed_token(&TokenKey::access_token(APPID), &Token::new("OLD", 0));
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        process::wait_until("clients calling", || calls.load(Ordering::SeqCst) > 20);
        hub.kill();
        stop.store(true, Ordering::SeqCst);
    });

    let hub = HubProcess::start_with(&hub.config.clone(), &[SECRET_ENV]);
    let again = client_of(&fake, &hub);
    assert_eq!(again.token(&key).unwrap().expose(), token.expose());
    assert_eq!(again.jsapi_ticket().unwrap().expose(), ticket.expose());
    assert_eq!(fake.count("/cgi-bin/token"), 1, "no upstream token call");
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
    drop(hub);
    let store = weixin::store::FileStore::open(&path).unwrap();
    use weixin::store::Store;
    assert_eq!(
        store
            .get_verify_ticket("wx_component")
            .unwrap()
            .unwrap()
            .expose(),
        "VERIFY_1"
    );
    assert_eq!(
        store
            .get_refresh_token("wx_component", "wx_authorizer")
            .unwrap()
            .unwrap()
            .expose(),
        "REFRESH_1"
    );
}

#[test]
fn sigterm_and_sigint_stop_it_cleanly() {
    let fake = common::fake();
    for signal in ["TERM", "INT"] {
        let mut hub = memory_hub(&fake, "");
        assert_eq!(get(&format!("{}/healthz", hub.url), None).0, 200);
        let status = hub.signal_and_wait(signal);
        assert!(status.success(), "{signal}: {status:?}");
        hub.wait_for_log("wechat-hub: stopped");
    }
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let fake = common::fake();
    // Holds the hub's upstream call while the signal arrives.
    fake.delay("/cgi-bin/token", Duration::from_millis(1500));
    let mut hub = memory_hub(&fake, "");
    let url = format!("{}/client/access_token?appid={APPID}", hub.url);
    let in_flight = std::thread::spawn(move || get(&url, None));
    process::wait_until("the upstream call began", || {
        fake.count("/cgi-bin/token") == 1
    });
    let status = hub.signal_and_wait("TERM");
    assert!(status.success(), "{status:?}");
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("TOKEN_"));
}

#[test]
fn without_a_bearer_it_listens_on_loopback_only_and_says_so() {
    let fake = common::fake();
    let dir = process::temp_dir("loopback");
    let config = process::config(&fake.url(), "[store]\nkind = \"memory\"", "")
        .replace("127.0.0.1:0", "0.0.0.0:0");
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    assert!(hub.url.starts_with("http://127.0.0.1:"), "{}", hub.url);
    hub.wait_for_log("binding to loopback");
}

#[test]
fn help_and_clear_startup_errors() {
    let (code, out, _) = run_hub(&["--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("USAGE:") && out.contains("secret_env"),
        "{out}"
    );

    let fake = common::fake();
    let dir = process::temp_dir("badconfig");
    let path = dir.join("hub.toml");
    let path_arg = path.to_str().unwrap();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        ("bind = [", &[], "bad config"),
        ("bnid = \"127.0.0.1:0\"", &[], "unknown field `bnid`"),
        (
            "bind = \"127.0.0.1:0\"",
            &[],
            "no [[account]] and no [[component]]",
        ),
        (
            &process::config(&fake.url(), "", ""),
            &[],
            "environment variable TEST_WECHAT_SECRET (secret of account wx_test_app) is not set",
        ),
        (
            &process::config(&fake.url(), "[store]\nkind = \"nosql\"", ""),
            &[SECRET_ENV],
            "unknown variant `nosql`",
        ),
        (
            &process::config(
                &fake.url(),
                "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379/\"\npassword_env = \"P\"",
                "",
            ),
            &[SECRET_ENV],
            "[store] password_env is for Sentinel (with master)",
        ),
    ];
    for (config, envs, expected) in cases {
        std::fs::write(&path, config).unwrap();
        let (code, _, err) = run_hub(&["--config", path_arg], envs);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    let (code, _, err) = run_hub(&["--config", "/nonexistent/hub.toml"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cannot read config /nonexistent/hub.toml"),
        "{err}"
    );
    let (code, _, err) = run_hub(&[], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn an_unknown_flag_is_a_usage_error_and_help_names_the_config_option() {
    let (code, out, err) = run_hub(&["--config", "hub.toml", "--frobnicate"], &[]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(
        err.starts_with("error: unexpected argument '--frobnicate' found\n"),
        "{err}"
    );
    assert!(err.contains("Usage: wechat-hub "), "{err}");

    for help in ["--help", "-h"] {
        let (code, out, err) = run_hub(&[help], &[]);
        assert_eq!((code, err.as_str()), (Some(0), ""), "{help}");
        assert!(
            out.contains("-c, --config <FILE>") && out.contains("TOML configuration"),
            "{help}: {out}"
        );
        assert!(
            out.contains("--allow-remote") && out.contains("[[component]]"),
            "{out}"
        );
    }
    let (code, out, _) = run_hub(&["--version"], &[]);
    assert_eq!(
        (code, out),
        (
            Some(0),
            format!("wechat-hub {}\n", env!("CARGO_PKG_VERSION"))
        )
    );
}
