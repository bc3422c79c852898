//! `stable_token` per account: one account of a hub fetched with
//! `/cgi-bin/stable_token`, the others with `/cgi-bin/token`; a
//! third-party platform refused at config load.

use wechat::hub::{HubHandler, HubRequest};

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
