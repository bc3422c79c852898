//! Shared set-up: a fake WeChat with one account and clients pointed at it.

#[cfg(feature = "redis")]
pub mod cluster;
pub mod logs;
#[cfg(feature = "hub")]
pub mod process;
#[cfg(feature = "redis")]
pub mod sentinel;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weixin::testing::{FakeHub, FakeWechat};
use weixin::{BusyRetry, Client, ClientBuilder, HubSource, SecretSource};

pub const APPID: &str = "wx_test_app";
pub const SECRET: &str = "SECRET_sk_live_123456";

/// A push answered with no reply: 200, `success`, in plain text, in any
/// mode and format.
#[cfg(feature = "crypto")]
pub fn assert_no_reply(response: &weixin::CallbackResponse) {
    assert_eq!(
        (response.status(), response.content_type(), response.body()),
        (200, "text/plain; charset=utf-8", "success"),
        "{:?}",
        response.error()
    );
}

/// Sends a request `handler` must refuse, and checks that it did so with
/// `status` and `kind` (the body is the error's message for a 4xx,
/// `server error` for a 5xx) without calling the closure. `what` names
/// the case in failures.
#[cfg(feature = "crypto")]
pub fn assert_refused(
    what: &str,
    handler: &weixin::CallbackHandler,
    (method, query, body): (&str, &str, &[u8]),
    status: u16,
    kind: &weixin::ErrorKind,
) {
    let called = std::cell::Cell::new(false);
    let response = handler.handle(method, query, body, |_| {
        called.set(true);
        Ok(None)
    });
    assert!(!called.get(), "{what}: reached the closure");
    assert_eq!(response.status(), status, "{what}");
    let error = response.error().expect(what);
    assert_eq!(error.kind(), kind, "{what}");
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    let expected_body = if status < 500 {
        error.to_string()
    } else {
        "server error".to_string()
    };
    assert_eq!(response.body(), expected_body, "{what}");
}

/// The port of an `http://host:port` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

pub fn fake() -> FakeWechat {
    let fake = FakeWechat::start().expect("start fake wechat");
    fake.register(APPID, SECRET);
    fake
}

/// A builder aimed at `fake`, with fast busy retries so tests stay quick.
pub fn builder(fake: &FakeWechat) -> ClientBuilder {
    Client::builder()
        .appid(APPID)
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .timeout(Duration::from_secs(10))
        .busy_retry(BusyRetry {
            retries: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
        })
}

pub fn secret_source(fake: &FakeWechat) -> SecretSource {
    SecretSource::new(APPID, SECRET).base_url(fake.url())
}

pub fn direct(fake: &FakeWechat) -> Client {
    builder(fake)
        .token_source(secret_source(fake))
        .build()
        .expect("client")
}

pub fn hub(fake: &FakeWechat) -> FakeHub {
    FakeHub::start(secret_source(fake)).expect("start fake hub")
}

pub fn via_hub(fake: &FakeWechat, hub: &FakeHub) -> Client {
    builder(fake)
        .token_source(HubSource::new(hub.url()).expect("hub url"))
        .build()
        .expect("client")
}

/// A directory of its own for one test: pid + counter.
#[cfg_attr(not(feature = "hub"), allow(dead_code))] // ok because the tests that use it need features
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wechat-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A unique Redis key prefix for one test.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // ok because only Redis tests use it
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "wechat-test:{}:{}:{name}:",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A bound on waiting for `cond`, not a timing assertion.
#[cfg_attr(not(feature = "hub"), allow(dead_code))] // ok because the tests that use it need features
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "not reached: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
