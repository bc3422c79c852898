//! One base URL: a client set up with `ClientBuilder::base_url` alone, and
//! sources given none of their own, sends every call there: API calls,
//! tokens, tickets, component and authorizer calls.

use std::sync::Arc;
use std::time::Duration;

use wechat::testing::{refused_url, Canned, FakeWechat};
use wechat::{
    Client, ComponentSource, ErrorKind, MemoryRefreshTokens, MemoryVerifyTickets,
    RefreshTokenStore, RequestOptions, Secret, SecretSource, TicketType, TokenKey, TransportKind,
};

use crate::common::{APPID, SECRET};

const COMPONENT: &str = "wx_component_base";
const COMPONENT_SECRET: &str = "COMPONENT_SECRET_base";
const AUTHORIZER: &str = "wx_authorizer_base";

/// Every path the calls below reach, with how often each must be reached.
const EXPECTED: &[(&str, usize)] = &[
    ("/cgi-bin/token", 1),
    ("/cgi-bin/ticket/getticket", 2),
    ("/cgi-bin/get_api_domain_ip", 2),
    ("/cgi-bin/component/api_component_token", 1),
    ("/cgi-bin/component/api_authorizer_token", 1),
    ("/cgi-bin/component/api_create_preauthcode", 1),
];

fn component_source(fake: &FakeWechat) -> ComponentSource {
    let tickets = Arc::new(MemoryVerifyTickets::new());
    tickets.set(COMPONENT, "ticket@@@base");
    let refresh_tokens = Arc::new(MemoryRefreshTokens::new());
    let refresh = fake.add_authorizer(COMPONENT, AUTHORIZER);
    refresh_tokens
        .save(COMPONENT, AUTHORIZER, &Secret::new(refresh))
        .unwrap();
    ComponentSource::new(COMPONENT, COMPONENT_SECRET, tickets, refresh_tokens)
}

/// A client whose only word on where WeChat is, is `base_url`. A call that
/// went anywhere else would fail: the connect timeout is short and nothing
/// else on this machine answers WeChat's API.
fn builder(base_url: &str) -> wechat::ClientBuilder {
    Client::builder()
        .base_url(base_url)
        .connect_timeout(Duration::from_secs(2))
}

/// An account's client, its `SecretSource` given no base URL of its own.
fn account(base_url: &str) -> Client {
    builder(base_url)
        .appid(APPID)
        .token_source(SecretSource::new(APPID, SECRET))
        .build()
        .unwrap()
}

#[test]
fn one_setting_sends_every_call_to_the_fake() {
    let fake = FakeWechat::start().unwrap();
    fake.register(APPID, SECRET);
    fake.register_component(COMPONENT, COMPONENT_SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket@@@base");

    let account = account(&fake.url());
    account.request("/cgi-bin/get_api_domain_ip").unwrap();
    account.jsapi_ticket().unwrap();

    let platform = builder(&format!("{}/", fake.url()))
        .appid(COMPONENT)
        .token_source(component_source(&fake))
        .build()
        .unwrap();
    platform
        .request(RequestOptions::post(
            "/cgi-bin/component/api_create_preauthcode",
        ))
        .unwrap();
    platform
        .request(RequestOptions::get("/cgi-bin/get_api_domain_ip").authorizer_appid(AUTHORIZER))
        .unwrap();
    platform
        .token(&TokenKey::ticket(COMPONENT, TicketType::Jsapi).for_authorizer(AUTHORIZER))
        .unwrap();

    for (path, n) in EXPECTED {
        assert_eq!(fake.count(path), *n, "{path}");
    }
}

#[test]
fn a_call_can_still_name_its_own_host() {
    let fake = FakeWechat::start().unwrap();
    fake.register(APPID, SECRET);
    let other = FakeWechat::start().unwrap();
    other.answer(
        "/sns/auth",
        Canned::json(serde_json::json!({"errcode": 0, "errmsg": "ok"})),
    );
    let client = account(&fake.url());
    client.request("/cgi-bin/here").unwrap();
    client
        .request(RequestOptions::get("/sns/auth").port(other.port()))
        .unwrap();
    assert_eq!(other.count("/sns/auth"), 1);
    assert_eq!(fake.count("/sns/auth"), 0);
    assert_eq!(fake.count("/cgi-bin/here"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

#[test]
fn a_refused_base_url_fails_every_call_there() {
    let refused = refused_url().unwrap();
    let account = account(&refused);
    let platform = builder(&refused)
        .appid(COMPONENT)
        .token_source(ComponentSource::new(
            COMPONENT,
            COMPONENT_SECRET,
            |_: &str| Some("ticket@@@base".to_string()),
            MemoryRefreshTokens::new(),
        ))
        .build()
        .unwrap();
    let errors = [
        account.request("/cgi-bin/get_api_domain_ip").unwrap_err(),
        account.jsapi_ticket().unwrap_err(),
        platform
            .request(RequestOptions::post(
                "/cgi-bin/component/api_create_preauthcode",
            ))
            .unwrap_err(),
    ];
    for err in errors {
        match err.kind() {
            ErrorKind::Transport {
                kind: TransportKind::Connect,
                url,
            } => assert!(url.starts_with(&refused), "{url}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_bad_base_url_is_refused_at_build() {
    for bad in [
        "api.weixin.qq.com",
        "ftp://h",
        "http://h/prefix",
        "http://h:x",
    ] {
        let err = Client::builder().base_url(bad).build().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{bad}");
    }
    // The last setting wins: a good one after a bad one builds.
    assert!(Client::builder()
        .base_url("nope")
        .base_url("http://127.0.0.1:1")
        .build()
        .is_ok());
}
