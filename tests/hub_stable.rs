//! `stable_token` per account: one account of a hub fetched with
//! `/cgi-bin/stable_token`, the others with `/cgi-bin/token`; a
//! third-party platform refused at config load.

use weixin::hub::{HubHandler, HubRequest};

use crate::common::process::{self, run_hub};
use crate::common::{self, APPID, SECRET};

const OTHER: &str = "wx_stable_app";

#[test]
fn one_account_fetches_stable_tokens_the_other_plain_ones() {
    let fake = common::fake();
    fake.register(OTHER, "SECRET_stable");
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .account(OTHER, "SECRET_stable")
        .account_stable(OTHER, true)
        .upstream(fake.url())
        .refresh_ahead(None)
        .build()
        .unwrap();
    for appid in [APPID, OTHER] {
        let resp = hub.handle(&HubRequest::new(
            "GET",
            &format!("/client/access_token?appid={appid}"),
        ));
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    }
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    let sent = fake.last_request("/cgi-bin/stable_token").unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["appid"], OTHER);

    let typo = HubHandler::builder()
        .account(APPID, SECRET)
        .account_stable("wx_typo", true)
        .build()
        .unwrap_err();
    assert!(typo.to_string().contains("\"wx_typo\""), "{typo}");
}

#[test]
fn a_platform_with_stable_is_refused_at_config_load_with_a_clear_message() {
    let fake = common::fake();
    let dir = process::temp_dir("stable_platform");
    let path = dir.join("hub.toml");
    let config = format!(
        "bind = \"127.0.0.1:0\"\nupstream = \"{}\"\n\n[store]\nkind = \"memory\"\n\n\
         [[component]]\nappid = \"wx_platform_stable\"\nsecret_env = \"TEST_C_SECRET\"\n\
         token_env = \"TEST_C_TOKEN\"\nencoding_aes_key_env = \"TEST_C_AES\"\nstable = true\n",
        fake.url()
    );
    std::fs::write(&path, config).unwrap();
    let envs = [
        ("TEST_C_SECRET", "component-secret"),
        ("TEST_C_TOKEN", "callback-token"),
        ("TEST_C_AES", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ];
    let (code, _, err) = run_hub(&["--config", path.to_str().unwrap()], &envs);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "wx_platform_stable is a third-party platform: it cannot use /cgi-bin/stable_token"
        ),
        "{err}"
    );
    assert!(!err.contains("component-secret"), "{err}");
}

#[test]
fn forced_stable_refreshes_are_spaced_and_capped_per_day_across_replicas() {
    use std::sync::Arc;
    use std::time::Duration;
    use weixin::store::MemoryStore;
    use weixin::ManualClock;

    let fake = common::fake();
    let store = Arc::new(MemoryStore::new());
    // Tomorrow noon in China, so that the day does not end during the
    // test (and in the future, as the stores' own expiry wants).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let noon = ((now + 8 * 3600) / 86_400 + 1) * 86_400 - 8 * 3600 + 12 * 3600;
    let clock = ManualClock::new(Duration::from_secs(noon));
    let replica = || {
        HubHandler::builder()
            .account(APPID, SECRET)
            .account_stable(APPID, true)
            .upstream(fake.url())
            .store(store.clone())
            .clock(clock.clock())
            .refresh_limit(weixin::RefreshLimit::unlimited())
            .refresh_ahead(None)
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    let get = |hub: &HubHandler| {
        let resp = hub.handle(&HubRequest::new(
            "GET",
            &format!("/client/access_token?appid={APPID}"),
        ));
        serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap()
    };
    // A client reports the current token rejected: normal mode hands the
    // same one back, so the hub forces a new one.
    let refresh = |hub: &HubHandler, token: &serde_json::Value| {
        let body = format!(r#"{{"appid":"{APPID}","access_token":{token}}}"#);
        let resp =
            hub.handle(&HubRequest::new("POST", "/refresh/access_token").body(body.into_bytes()));
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        (resp.status, body)
    };
    let forced = || fake.count("/cgi-bin/stable_token#force");
    let mut token = get(&a)["access_token"].clone();
    let (status, body) = refresh(&a, &token);
    assert_eq!((status, forced()), (200, 1), "{body}");
    token = body["access_token"].clone();
    // The other replica, 20 s later: refused, nothing forced.
    clock.advance(Duration::from_secs(20));
    let (status, body) = refresh(&b, &token);
    assert_eq!(
        (status, &body["reason"]),
        (429, &"refresh_limited".into()),
        "{body}"
    );
    assert_eq!(forced(), 1);
    // Past the floor, up to 20 forces a day in all.
    for n in 2..=20 {
        clock.advance(Duration::from_secs(61));
        let hub = if n % 2 == 0 { &b } else { &a };
        let (status, body) = refresh(hub, &token);
        assert_eq!((status, forced()), (200, n), "{body}");
        token = body["access_token"].clone();
    }
    clock.advance(Duration::from_secs(61));
    let (status, body) = refresh(&a, &token);
    assert_eq!(
        (status, &body["reason"]),
        (429, &"refresh_limited".into()),
        "{body}"
    );
    assert_eq!(forced(), 20, "never more than 20 a day");
}
