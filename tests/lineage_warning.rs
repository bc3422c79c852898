//! The warning that another process fetches tokens with the same secret:
//! logged only when WeChat rejected a token within the refresh floor of
//! its fetch, once per storm per key, never for a caller's own refresh.
//! Each test uses an appid of its own, and reads only the warnings that
//! name it.

use std::time::Duration;

use weixin::testing::FakeWechat;
use weixin::{Client, ManualClock, SecretSource, TokenKey};

use crate::common::logs;

const PATH: &str = "/cgi-bin/get_api_domain_ip";

/// A fake WeChat with `appid` and a client of it on a manual clock, with
/// the default refresh limit.
fn client_of(appid: &str) -> (FakeWechat, ManualClock, Client) {
    logs::capture();
    let fake = FakeWechat::start().unwrap();
    fake.register(appid, "lineage-secret");
    let clock = ManualClock::starting_now();
    let client = Client::builder()
        .appid(appid)
        .base_url(fake.url())
        .token_source(SecretSource::new(appid, "lineage-secret"))
        .clock(clock.clock())
        .build()
        .unwrap();
    (fake, clock, client)
}

#[test]
fn a_callers_own_refresh_5_s_after_a_fetch_logs_nothing() {
    let appid = "wx_lineage_own_refresh";
    let (fake, clock, client) = client_of(appid);
    let key = TokenKey::access_token(appid);
    let fetched = client.token(&key).unwrap();
    clock.advance(Duration::from_secs(5));
    // Returns once the refresh (and any warning it logs) is done.
    let refreshed = client.refreshed_token(&key, &fetched).unwrap();
    assert_ne!(refreshed, fetched);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert_eq!(logs::warnings_naming(appid), Vec::<String>::new());
    // The same logger does see a rejection by WeChat.
    assert_eq!(fake.invalidate_current(appid), 2, "both live tokens");
    client.request(PATH).unwrap();
    let warnings = logs::warnings_naming(appid);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("another process or machine"),
        "{warnings:?}"
    );
}

#[test]
fn rejections_in_one_storm_warn_once_and_a_new_storm_warns_again() {
    let appid = "wx_lineage_storm";
    let (fake, clock, client) = client_of(appid);
    client.request(PATH).unwrap();
    // WeChat rejects every token: the call is refreshed and retried twice,
    // both tokens rejected at once.
    fake.reject_tokens(true);
    let e = client.request(PATH).unwrap_err();
    assert_eq!(e.errcode(), Some(40001), "{e}");
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    let warnings = logs::warnings_naming(appid);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // More of the same storm: refused, then one refresh admitted 2 s on
    // (its token rejected too, the next refused).
    assert!(client.request(PATH).unwrap_err().is_refresh_limited());
    clock.advance(Duration::from_secs(2));
    assert!(client.request(PATH).unwrap_err().is_refresh_limited());
    assert_eq!(fake.count("/cgi-bin/token"), 4);
    let warnings = logs::warnings_naming(appid);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("rejected 0s after it was fetched"),
        "{warnings:?}"
    );

    // The storm ends and the token lives on, well past the floor.
    fake.reject_tokens(false);
    clock.advance(Duration::from_secs(5));
    client.request(PATH).unwrap();
    clock.advance(Duration::from_secs(120));
    client.request(PATH).unwrap();
    assert_eq!(logs::warnings_naming(appid).len(), 1);
    // A new storm: the old token's rejection is no sign of a fight, its
    // young replacement's is.
    fake.reject_tokens(true);
    assert_eq!(client.request(PATH).unwrap_err().errcode(), Some(40001));
    let warnings = logs::warnings_naming(appid);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

/// Two hub replicas sharing a store see one storm: one warning between
/// them, however many rejections each reports.
#[cfg(feature = "hub")]
#[test]
fn a_storm_through_two_hubs_warns_once_for_both() {
    use std::sync::Arc;
    use weixin::store::{MemoryStore, Store};
    use weixin::HubSource;

    let appid = "wx_lineage_hubs";
    logs::capture();
    let fake = FakeWechat::start().unwrap();
    fake.register(appid, "lineage-secret");
    let clock = ManualClock::starting_now();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let hubs: Vec<crate::hub_http::Served> = (0..2)
        .map(|_| {
            let account = (appid, "lineage-secret");
            crate::storm::hub_of(account, &fake, &clock, Some(store.clone()))
        })
        .collect();
    let clients: Vec<Client> = hubs
        .iter()
        .map(|hub| {
            Client::builder()
                .appid(appid)
                .base_url(fake.url())
                .token_source(HubSource::new(hub.url()).unwrap())
                .clock(clock.clock())
                .build()
                .unwrap()
        })
        .collect();
    for client in &clients {
        client.request(PATH).unwrap();
    }
    fake.reject_tokens(true);
    for _ in 0..10 {
        for client in &clients {
            client.request(PATH).unwrap_err();
        }
        clock.advance(Duration::from_secs(1));
    }
    // Every call above has returned: each young rejection was reported
    // and admitted or refused by then.
    let warnings = logs::warnings_naming(appid);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(fake.count("/cgi-bin/token"), 5, "several young rejections");
}
