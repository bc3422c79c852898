//! Shared set-up: a fake WeChat with one account and clients pointed at it.

#[cfg(feature = "hub")]
pub mod process;

use std::time::Duration;

use wechat::testing::{FakeHub, FakeWechat};
use wechat::{BusyRetry, Client, ClientBuilder, HubSource, SecretSource};

pub const APPID: &str = "wx_test_app";
pub const SECRET: &str = "SECRET_sk_live_123456";

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
