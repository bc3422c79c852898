//! A hub against the crate's fake WeChat, to try the protocol with curl:
//!
//! ```text
//! cargo run --example hub_tryout --features hub
//! curl 'http://127.0.0.1:4000/client/access_token?appid=wx_demo'
//! ```
//!
//! Nothing leaves this machine: the fake WeChat runs on 127.0.0.1 and
//! registers the demo account itself. Ctrl-C stops both.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use weixin::hub::{HubHandler, HubServer};
use weixin::store::MemoryStore;
use weixin::testing::FakeWechat;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("WECHAT_HUB_BIND").unwrap_or_else(|_| "127.0.0.1:4000".into());
    let fake = FakeWechat::start()?;
    // A made-up secret known to the fake only: the demo reads none.
    fake.register("wx_demo", "demo-secret");
    let handler = HubHandler::builder()
        .account("wx_demo", "demo-secret")
        .upstream(fake.url())
        .store(MemoryStore::new())
        .build()?;
    let server = HubServer::bind(&bind, handler)?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    let url = format!("http://{}", server.addr());
    println!("fake WeChat on {}, hub on {url}; try:", fake.url());
    println!("  curl '{url}/client/access_token?appid=wx_demo'");
    println!("  curl '{url}/client/ticket?appid=wx_demo&type=jsapi'");
    println!(
        "  curl -X POST -H 'Content-Type: application/json' -d '{{\"appid\":\"wx_demo\",\"access_token\":\"<stale>\"}}' {url}/refresh/access_token"
    );
    println!("Ctrl-C stops.");
    server.run(&stop);
    Ok(())
}
