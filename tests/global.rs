//! The process-wide client behind `weixin::request`. Its state is global to
//! the test binary, whose tests run in parallel: every use of it is in the
//! one test below.

use std::time::Duration;

use weixin::{Client, RequestOptions, SecretSource};

use crate::common::{self, APPID, SECRET};

#[test]
fn the_process_wide_client_keeps_what_was_set_before() {
    let fake = common::fake();
    // The settings each configure below starts from, with no token source.
    let settings = || Client::builder().appid(APPID).base_url(fake.url());

    // Configured first, the token source set after: the appid and the base
    // URL stay.
    weixin::configure(settings()).unwrap();
    weixin::set_token_source(SecretSource::new(APPID, SECRET));
    let resp = weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(resp.json().unwrap()["appid"], APPID);
    assert_eq!(fake.count("/cgi-bin/global"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // The source set again: the cached token stays.
    weixin::set_token_source(SecretSource::new(APPID, SECRET));
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // Configured again without a source: the source set before stays, and
    // so does the token (the cache is made the same way).
    weixin::configure(settings().timeout(Duration::from_secs(10))).unwrap();
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/global"), 3);
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // A call's own appid, host and port; a call that needs no token.
    let resp = weixin::request(
        RequestOptions::get("/cgi-bin/global")
            .appid(APPID)
            .scheme("http")
            .host("127.0.0.1")
            .port(fake.port()),
    )
    .unwrap();
    assert_eq!(resp.json().unwrap()["appid"], APPID);
    let err = weixin::request(format!("{}/sns/auth", fake.url())).unwrap_err();
    assert_eq!(err.errcode(), Some(41001), "no token was added");
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // A bad configuration changes nothing.
    assert!(weixin::configure(Client::builder().base_url("nowhere")).is_err());
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/global"), 5);

    // A new cache setting starts a new cache: the token is fetched again.
    weixin::configure(settings().expiry_margin(Duration::from_secs(60))).unwrap();
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert!(format!("{:?}", weixin::global_client()).contains(APPID));
}
