//! One base URL: a client set up with `ClientBuilder::base_url` alone, and
//! sources given none of their own, sends every call there: API calls,
//! tokens, tickets, component and authorizer calls; a base URL's path (a
//! reverse proxy's `/wechat`) goes before every one of them.

use std::sync::Arc;
use std::time::Duration;

use weixin::testing::{refused_url, Balancer, Canned, FakeHub, FakeWechat};
use weixin::{
    Client, ComponentSource, ErrorKind, HubSource, MemoryRefreshTokens, MemoryVerifyTickets,
    MiniProgram, OAuth, RefreshTokenStore, RequestOptions, Secret, SecretSource, TicketType,
    TokenKey, TransportKind,
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
fn builder(base_url: &str) -> weixin::ClientBuilder {
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

/// A fake WeChat that knows the account and the platform.
fn fake_with_accounts() -> FakeWechat {
    let fake = FakeWechat::start().unwrap();
    fake.register(APPID, SECRET);
    fake.register_component(COMPONENT, COMPONENT_SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket@@@base");
    fake
}

/// The platform's client on `base_url`, after a component call and an
/// authorizer's call.
fn platform_calls(base_url: &str, fake: &FakeWechat) -> Client {
    let platform = builder(base_url)
        .appid(COMPONENT)
        .token_source(component_source(fake))
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
}

#[test]
fn one_setting_sends_every_call_to_the_fake() {
    let fake = fake_with_accounts();
    let account = account(&fake.url());
    account.request("/cgi-bin/get_api_domain_ip").unwrap();
    account.jsapi_ticket().unwrap();

    let platform = platform_calls(&format!("{}/", fake.url()), &fake);
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
        "http://h:x",
        "http://h/prefix?x=1",
        "http://h/prefix#top",
        "http://h?secret=s",
    ] {
        let err = Client::builder().base_url(bad).build().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{bad}");
        assert!(!err.to_string().contains("secret=s"), "{err}");
    }
    // The last setting wins: a good one after a bad one builds.
    assert!(Client::builder()
        .base_url("nope")
        .base_url("http://127.0.0.1:1")
        .build()
        .is_ok());
}

/// A fake WeChat behind a reverse proxy that serves it under `/wechat` only
/// (anything else is answered 404 and not forwarded).
fn behind_a_proxy() -> (FakeWechat, Balancer) {
    let fake = fake_with_accounts();
    let proxy = Balancer::start(vec![fake.url()]).unwrap();
    proxy.set_path_prefix("/wechat");
    (fake, proxy)
}

/// Every request the proxy received carried the prefix, and every one
/// reached WeChat: nothing went around the proxy or outside the prefix.
fn all_under_the_prefix(fake: &FakeWechat, proxy: &Balancer) -> Vec<String> {
    let paths = received(proxy);
    for path in &paths {
        assert!(
            path.starts_with("/wechat/cgi-bin/") || path.starts_with("/wechat/sns/"),
            "{path}"
        );
    }
    assert_eq!(fake.received().len(), paths.len(), "{paths:?}");
    assert_eq!(proxy.forwarded(), paths.len());
    paths
}

#[test]
fn a_base_url_with_a_path_puts_it_before_every_call_token_ticket_and_login() {
    for base in ["/wechat", "/wechat/"] {
        let (fake, proxy) = behind_a_proxy();
        let base = format!("{}{base}", proxy.url());
        let account = account(&base);
        account.request("/cgi-bin/get_api_domain_ip").unwrap();
        account.jsapi_ticket().unwrap();
        let oauth = OAuth::new(APPID).secret(SECRET);
        let user = oauth
            .exchange_code(&account, &fake.oauth_code(APPID, "o_prefix"))
            .unwrap();
        assert!(oauth.check(&account, &user).unwrap());
        let mini = MiniProgram::new(APPID).secret(SECRET);
        mini.code2session(&account, &fake.js_code(APPID, "o_prefix"))
            .unwrap();
        let stable = builder(&base)
            .appid(APPID)
            .token_source(SecretSource::new(APPID, SECRET).stable(true))
            .build()
            .unwrap();
        stable.request("/cgi-bin/get_api_domain_ip").unwrap();
        platform_calls(&base, &fake);

        let paths = all_under_the_prefix(&fake, &proxy);
        for path in [
            "/wechat/cgi-bin/token",
            "/wechat/cgi-bin/stable_token",
            "/wechat/cgi-bin/ticket/getticket",
            "/wechat/sns/oauth2/access_token",
            "/wechat/sns/auth",
            "/wechat/sns/jscode2session",
            "/wechat/cgi-bin/component/api_component_token",
            "/wechat/cgi-bin/component/api_authorizer_token",
            "/wechat/cgi-bin/component/api_create_preauthcode",
        ] {
            assert_eq!(
                paths.iter().filter(|p| *p == path).count(),
                1,
                "{path}: {paths:?}"
            );
        }
        assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 3);
    }
}

/// The paths `proxy` received, as they arrived.
fn received(proxy: &Balancer) -> Vec<String> {
    proxy.received().into_iter().map(|r| r.path).collect()
}

/// A client that calls `fake` directly, its tokens from `source`.
fn calling_directly(fake: &FakeWechat, source: impl weixin::TokenSource + 'static) -> Client {
    Client::builder()
        .appid(APPID)
        .base_url(fake.url())
        .token_source(source)
        .build()
        .unwrap()
}

#[test]
fn a_sources_own_base_url_and_a_hub_url_take_a_path_too() {
    let (fake, proxy) = behind_a_proxy();
    let prefixed = format!("{}/wechat/", proxy.url());
    // The client calls WeChat directly; only the token goes through the
    // proxy, as the source says.
    let client = calling_directly(&fake, SecretSource::new(APPID, SECRET).base_url(&prefixed));
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    assert_eq!(received(&proxy), ["/wechat/cgi-bin/token"]);
    assert_eq!(proxy.forwarded(), 1);
    assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 1);

    // A hub served under `/hub` by its own proxy.
    let hub = FakeHub::start(SecretSource::new(APPID, SECRET).base_url(fake.url())).unwrap();
    let hub_proxy = Balancer::start(vec![hub.url()]).unwrap();
    hub_proxy.set_path_prefix("/hub");
    let via_hub = calling_directly(
        &fake,
        HubSource::new(format!("{}/hub/", hub_proxy.url())).unwrap(),
    );
    via_hub.request("/cgi-bin/get_api_domain_ip").unwrap();
    assert_eq!(received(&hub_proxy), ["/hub/client/access_token"]);
    assert_eq!(hub_proxy.forwarded(), 1);

    // A source's own base URL with a query fails its fetches, typed, and
    // says nothing of the query.
    let client = calling_directly(
        &fake,
        SecretSource::new(APPID, SECRET).base_url("http://h/wechat?secret=s"),
    );
    let err = client.request("/cgi-bin/get_api_domain_ip").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret=s"), "{err}");
}

#[cfg(feature = "hub")]
#[test]
fn a_hubs_upstream_takes_a_path_too() {
    use weixin::hub::{HubHandler, HubRequest};

    let (fake, proxy) = behind_a_proxy();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(format!("{}/wechat/", proxy.url()))
        .refresh_ahead(None)
        .build()
        .unwrap();
    for target in [
        format!("/client/access_token?appid={APPID}"),
        format!("/client/ticket?appid={APPID}&type=jsapi"),
    ] {
        let answer = hub.handle(&HubRequest::new("GET", &target));
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    let mut paths = all_under_the_prefix(&fake, &proxy);
    paths.sort();
    assert_eq!(
        paths,
        ["/wechat/cgi-bin/ticket/getticket", "/wechat/cgi-bin/token"]
    );
    let err = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream("http://h/wechat?secret=s")
        .build()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret=s"), "{err}");
}
