//! A hub's token lifetimes: the seed's `expires_in` per hub and per
//! account, in the builder and in the binary's TOML.

use std::time::Duration;

use serde_json::Value;
use wechat::hub::{HubHandler, HubRequest};
use wechat::testing::FakeWechat;

use crate::common::process::{self, HubProcess, SECRET_ENV};
use crate::common::{self, APPID, SECRET};

const OTHER: &str = "wx_other_app";

/// The JSON body of a hub's answer to `GET target`, which must be a 200.
fn get(hub: &HubHandler, target: &str) -> Value {
    let answer = hub.handle(&HubRequest::new("GET", target));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    serde_json::from_slice(&answer.body).expect("json")
}

/// The JSON body of a GET over HTTP.
fn http_get(url: &str) -> Value {
    let text = ureq::get(url)
        .call()
        .expect("hub answers")
        .body_mut()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("json")
}

fn two_accounts() -> FakeWechat {
    let fake = common::fake();
    fake.register(OTHER, "SECRET_other");
    fake
}

#[test]
fn the_hub_and_account_expires_in_are_what_clients_are_told() {
    let fake = two_accounts();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .account(OTHER, "SECRET_other")
        .upstream(fake.url())
        .expires_in(Duration::from_secs(7000))
        .account_expires_in(OTHER, Duration::from_secs(600))
        .build()
        .unwrap();
    let token = get(&hub, &format!("/client/access_token?appid={APPID}"));
    assert_eq!(token["expires_in"], 7000);
    let ticket = get(&hub, &format!("/client/ticket?appid={APPID}&type=jsapi"));
    assert_eq!(ticket["expires_in"], 7000, "tickets follow it too");
    let other = get(&hub, &format!("/client/access_token?appid={OTHER}"));
    assert_eq!(other["expires_in"], 600, "the account's own wins");
    // What the store keeps is what clients are told: a second read is the
    // same token, from the store.
    let again = get(&hub, &format!("/client/access_token?appid={OTHER}"));
    assert_eq!(again, other);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[test]
fn a_setting_longer_than_wechats_lifetime_does_not_lengthen_it() {
    let fake = common::fake();
    fake.set_token_lifetime(60);
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .expires_in(Duration::from_secs(7000))
        .build()
        .unwrap();
    let token = get(&hub, &format!("/client/access_token?appid={APPID}"));
    assert_eq!(token["expires_in"], 60);
}

#[test]
fn bad_lifetimes_are_refused_when_the_hub_is_built() {
    let base = || HubHandler::builder().account(APPID, SECRET);
    let zero = base().expires_in(Duration::from_millis(500)).build();
    assert!(
        zero.unwrap_err().to_string().contains("at least 1 second"),
        "under a second is no lifetime"
    );
    let unknown = base()
        .account_expires_in("wx_typo", Duration::from_secs(60))
        .build();
    let err = unknown.unwrap_err().to_string();
    assert!(
        err.contains("\"wx_typo\"") && err.contains("does not serve"),
        "{err}"
    );
}

#[test]
fn the_binary_reads_expires_in_from_its_toml_per_hub_and_per_account() {
    let fake = common::fake();
    let dir = process::temp_dir("lifetime");
    let config = process::config(
        &fake.url(),
        "[store]\nkind = \"memory\"",
        "expires_in_secs = 7000",
    );
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let body = http_get(&format!("{}/client/access_token?appid={APPID}", hub.url));
    assert_eq!(body["expires_in"], 7000);
    drop(hub);

    let dir = process::temp_dir("lifetime_account");
    let config = format!("{config}expires_in_secs = 900\n");
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let body = http_get(&format!("{}/client/access_token?appid={APPID}", hub.url));
    assert_eq!(body["expires_in"], 900, "the [[account]]'s own wins");
}
