//! Runs offline: starts a fake WeChat and a hub on 127.0.0.1, then shows a
//! token fetched once and shared by many threads, an API call, a token
//! WeChat revokes and one that expires, the SDK recovering from both, and a
//! JSSDK config.
//!
//! `cargo run --example quickstart`

use weixin::testing::{FakeHub, FakeWechat};
use weixin::{Client, HubSource, RequestOptions, SecretSource, TokenKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let appid = std::env::var("WECHAT_APPID").unwrap_or_else(|_| "wx_quickstart".into());
    // Examples read secrets from the environment; the fake accepts any.
    let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "quickstart-secret".into());

    let wechat = FakeWechat::start()?;
    wechat.register(&appid, &secret);
    let hub =
        FakeHub::start(SecretSource::new(appid.as_str(), secret.as_str()).base_url(wechat.url()))?;
    println!("fake WeChat at {}, hub at {}", wechat.url(), hub.url());

    // Two "processes" (clients with their own caches) share the hub.
    let client = |name: &str| -> weixin::Result<Client> {
        println!("client {name}: token source = hub");
        Client::builder()
            .appid(appid.as_str())
            .token_source(HubSource::new(hub.url())?)
            .base_url(wechat.url())
            .build()
    };
    let (a, b) = (client("a")?, client("b")?);

    std::thread::scope(|s| {
        for i in 0..16 {
            let c = if i % 2 == 0 { &a } else { &b };
            s.spawn(move || c.request("/cgi-bin/get_api_domain_ip").map(|_| ()));
        }
    });
    println!(
        "16 threads, 2 clients: {} upstream token fetch(es), {} API calls",
        wechat.count("/cgi-bin/token"),
        wechat.count("/cgi-bin/get_api_domain_ip")
    );

    let resp = a.request(
        RequestOptions::post("/cgi-bin/material/batchget_material")
            .json(serde_json::json!({"type": "image", "offset": 0, "count": 10})),
    )?;
    println!("API call answered: {}", resp.json()?["path"]);

    let before = a.token(&TokenKey::access_token(&appid))?;
    wechat.invalidate_current(&appid);
    println!("WeChat revoked the token (calls now get 40001)");
    a.request("/cgi-bin/get_api_domain_ip")?;
    b.request("/cgi-bin/get_api_domain_ip")?;
    let after = a.token(&TokenKey::access_token(&appid))?;
    println!(
        "recovered: new token differs = {}, upstream token fetches now {}, hub refreshes {}",
        before != after,
        wechat.count("/cgi-bin/token"),
        hub.count("/refresh/access_token")
    );

    wechat.expire_current(&appid);
    println!("the token expired early (calls now get 42001)");
    a.request("/cgi-bin/get_api_domain_ip")?;
    println!(
        "recovered again: upstream token fetches now {}",
        wechat.count("/cgi-bin/token")
    );

    let config = a.wx_config("https://example.com/page?id=1#top")?;
    println!("wx.config = {}", serde_json::to_string(&config)?);
    Ok(())
}
