//! The call's edge (issue 26): backup hosts for a WeChat that cannot be
//! reached, an egress proxy for IP allow-lists, and retries that never
//! send a message twice. Every test counts what arrived where.

use std::time::Duration;

use weixin::testing::{refused_url, ConnectProxy, FakeWechat};
use weixin::{
    BusyRetry, Client, ClientBuilder, ErrorKind, NotRetried, Proxy, RequestOptions, Retry,
    SecretSource, TokenKey, TransportKind,
};

use crate::common::{fake, APPID, SECRET};

const TEMPLATE: &str = "/cgi-bin/message/template/send";

/// A client of `base_url` with the test account's secret, fast busy
/// retries, and `backups`.
fn client_of(base_url: &str, backups: &[String]) -> ClientBuilder {
    Client::builder()
        .appid(APPID)
        .base_url(base_url)
        .backup_base_urls(backups)
        .timeout(Duration::from_secs(10))
        .busy_retry(BusyRetry {
            retries: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
        })
        .token_source(SecretSource::new(APPID, SECRET))
}

/// A proxy on 127.0.0.1 and a client of `fake` that goes through it.
fn through_a_proxy(fake: &FakeWechat) -> (ConnectProxy, Client) {
    let proxy = ConnectProxy::start().unwrap();
    let client = client_of(&fake.url(), &[])
        .proxy(Proxy::new(proxy.url()).unwrap())
        .build()
        .unwrap();
    (proxy, client)
}

fn template() -> RequestOptions {
    RequestOptions::post(TEMPLATE).json(serde_json::json!({"touser": "o1", "template_id": "t1"}))
}

#[test]
fn a_call_that_cannot_connect_goes_to_the_next_host_tokens_included() {
    let (second, third) = (fake(), fake());
    let backups = [refused_url().unwrap(), second.url(), third.url()];
    let client = client_of(&refused_url().unwrap(), &backups)
        .build()
        .unwrap();
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    client.request(template()).unwrap();
    // Two dead hosts skipped, for the token fetch and both calls; the
    // host after the live one never asked.
    assert_eq!(second.count("/cgi-bin/token"), 1);
    assert_eq!(second.count("/cgi-bin/get_api_domain_ip"), 1);
    assert_eq!(second.count(TEMPLATE), 1);
    assert_eq!(third.received().len(), 0);
}

#[test]
fn a_call_that_reached_a_host_is_never_sent_to_another() {
    let (first, second) = (fake(), fake());
    let client = client_of(&first.url(), &[second.url()]).build().unwrap();
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    first.fail_next(TEMPLATE, -1, "system error", 1);
    let err = client.request(template()).unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    first.answer(
        "/cgi-bin/user/get",
        weixin::testing::Canned::bytes("text/html", "<html>bad gateway</html>")
            .status(502)
            .times(1),
    );
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HttpStatus { status: 502, .. }),
        "{err}"
    );
    assert_eq!(
        (first.count(TEMPLATE), first.count("/cgi-bin/user/get")),
        (1, 1)
    );
    assert_eq!(second.received().len(), 0, "nothing went to the backup");
}

#[test]
fn the_last_hosts_error_is_returned_when_none_can_be_reached() {
    let dead = [refused_url().unwrap(), refused_url().unwrap()];
    let client = client_of(&dead[0], &dead[1..]).build().unwrap();
    let err = client
        .request(RequestOptions::get("/cgi-bin/user/get").no_token())
        .unwrap_err();
    assert!(err.is_unsent());
    assert!(
        matches!(err.kind(), ErrorKind::Transport { kind: TransportKind::Connect, url } if url == &format!("{}/cgi-bin/user/get", dead[1])),
        "{err}"
    );
}

#[test]
fn wechat_backup_domains_are_the_documented_ones_in_order() {
    let client = Client::builder().wechat_backup_domains().build().unwrap();
    let shown = format!("{client:?}");
    let at = |host: &str| {
        shown
            .find(host)
            .unwrap_or_else(|| panic!("{host}: {shown}"))
    };
    let order = [
        "\"https://api.weixin.qq.com\"",
        "https://api2.weixin.qq.com",
        "https://sh.api.weixin.qq.com",
        "https://sz.api.weixin.qq.com",
        "https://hk.api.weixin.qq.com",
    ];
    let positions: Vec<usize> = order.iter().map(|h| at(h)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{shown}");
    assert!(!format!("{:?}", Client::builder().build().unwrap()).contains("api2"));
}

#[test]
fn every_call_and_token_fetch_goes_through_the_proxy() {
    let fake = fake();
    let (proxy, client) = through_a_proxy(&fake);
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    client
        .token(&TokenKey::ticket(APPID, weixin::TicketType::Jsapi))
        .unwrap();
    let target = format!("127.0.0.1:{}", fake.port());
    let passed: Vec<(String, Option<String>)> = proxy
        .tunnels()
        .into_iter()
        .map(|t| (t.target, t.first_request))
        .collect();
    let through = |path: &str| (target.clone(), Some(format!("GET {path}")));
    assert_eq!(
        passed,
        vec![
            through("/cgi-bin/token"),
            through("/cgi-bin/get_api_domain_ip"),
            through("/cgi-bin/ticket/getticket"),
        ]
    );
    assert_eq!(fake.received().len(), 3, "each arrived once");
    assert_eq!(proxy.refused(), 0);
}

#[test]
fn a_proxys_credentials_are_sent_and_never_shown() {
    let fake = fake();
    let proxy = ConnectProxy::start_with_login("me", "pr0xy-Pa55").unwrap();
    let with = |password: &str| {
        let url = proxy
            .url()
            .replace("http://", &format!("http://me:{password}@"));
        client_of(&fake.url(), &[])
            .proxy(Proxy::new(url).unwrap())
            .build()
            .unwrap()
    };
    let wrong = with("wr0ng-Pa55");
    let err = wrong.request("/cgi-bin/get_api_domain_ip").unwrap_err();
    assert!(err.is_unsent(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
        "GET /cgi-bin/get_api_domain_ip for {APPID}: could not fetch the access_token of {APPID} \
         from the direct source: request to {}/cgi-bin/token could not connect: the proxy opened \
         no tunnel: it answered 407 Proxy Authentication Required",
        fake.url()
    )
    );
    assert_eq!(fake.received().len(), 0);
    let right = with("pr0xy-Pa55");
    right.request("/cgi-bin/get_api_domain_ip").unwrap();
    assert_eq!(proxy.tunnels().len(), 2);
    for shown in [
        format!("{right:?}"),
        format!("{wrong:?}"),
        format!("{err:?}"),
        format!("{err:#?}"),
    ] {
        assert!(!shown.contains("Pa55"), "{shown}");
    }
}

#[test]
fn a_template_message_answered_busy_is_not_sent_again_and_says_why() {
    let fake = fake();
    let client = client_of(&fake.url(), &[]).build().unwrap();
    fake.fail_next(TEMPLATE, -1, "system error", 1);
    let err = client.request(template()).unwrap_err();
    assert_eq!(fake.count(TEMPLATE), 1, "sent once");
    assert_eq!(err.not_retried(), Some(NotRetried::MayHaveActed));
    assert_eq!(err.attempts(), None);
    assert_eq!(
        err.to_string(),
        format!(
            "POST {TEMPLATE} for {APPID}: wechat api error -1: system error (not retried: the call \
             sends or changes something and wechat may have acted on it; Retry::Always sends it again)"
        )
    );
}

#[test]
fn a_read_answered_busy_is_sent_again() {
    let fake = fake();
    let client = client_of(&fake.url(), &[]).build().unwrap();
    fake.fail_next("/cgi-bin/user/get", -1, "system error", 1);
    client.request("/cgi-bin/user/get").unwrap();
    assert_eq!(fake.count("/cgi-bin/user/get"), 2);
}

#[test]
fn a_send_whose_request_never_left_is_sent_again() {
    let fake = fake();
    let (proxy, client) = through_a_proxy(&fake);
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    // The proxy cannot reach WeChat once: the request stays at the proxy.
    proxy.refuse_next(1);
    client.request(template()).unwrap();
    assert_eq!((proxy.refused(), fake.count(TEMPLATE)), (1, 1));

    // Refused every time: sent as often as the busy retry allows.
    let dead = client_of(&refused_url().unwrap(), &[]).build().unwrap();
    let err = dead.request(template().no_token()).unwrap_err();
    assert!(err.is_unsent());
    assert_eq!(err.attempts(), Some(4));
    assert_eq!(err.not_retried(), None);
}

#[test]
fn a_send_is_sent_again_on_busy_when_the_caller_opts_in() {
    let fake = fake();
    let client = client_of(&fake.url(), &[]).build().unwrap();
    fake.fail_next(TEMPLATE, -1, "system error", 1);
    client.request(template().retry(Retry::Always)).unwrap();
    assert_eq!(fake.count(TEMPLATE), 2);
    // A read made a send's way is kept from the busy retry too.
    fake.fail_next("/cgi-bin/user/get", -1, "system error", 1);
    let err = client
        .request(RequestOptions::get("/cgi-bin/user/get").retry(Retry::IfNotSent))
        .unwrap_err();
    assert_eq!(err.not_retried(), Some(NotRetried::MayHaveActed));
    assert_eq!(fake.count("/cgi-bin/user/get"), 1);
}

#[test]
fn the_token_retry_stays_for_sends() {
    let fake = fake();
    let client = client_of(&fake.url(), &[]).build().unwrap();
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    fake.fail_next(TEMPLATE, 40001, "invalid credential", 1);
    client.request(template()).unwrap();
    assert_eq!(fake.count(TEMPLATE), 2);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[test]
fn the_40164_and_61004_errors_name_the_allow_list_and_the_proxy() {
    let fake: FakeWechat = fake();
    let client = client_of(&fake.url(), &[]).build().unwrap();
    fake.fail_next(
        "/cgi-bin/user/get",
        40164,
        "invalid ip 1.2.3.4, not in whitelist",
        1,
    );
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("not on the account's IP allow-list"),
        "{shown}"
    );
    assert!(shown.contains("ClientBuilder::proxy"), "{shown}");
    fake.fail_next(
        "/cgi-bin/user/get",
        61004,
        "access clientip is not registered",
        1,
    );
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert!(
        err.to_string()
            .contains("not on the platform's IP allow-list"),
        "{err}"
    );
}
