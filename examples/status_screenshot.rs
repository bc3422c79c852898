//! Takes `docs/status.png`, the hub's status page as a browser shows it:
//!
//! ```text
//! cargo run --example status_screenshot --features hub
//! ```
//!
//! A hub on the crate's fake WeChat (nothing leaves this machine) with a
//! few realistic rows: two accounts, a jsapi ticket, a third-party
//! platform with an authorizer, one upstream error, a quota past its
//! first warning. Its clock is moved by hand, so the times read as after
//! a few hours of work. Headless chromium (`apt-get install chromium`)
//! takes the picture with the flags of `tests/hub_status.rs`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weixin::hub::{HubHandler, HubRequest, HubServer};
use weixin::store::{MemoryStore, Store};
use weixin::testing::FakeWechat;
use weixin::{ManualClock, Secret};

const SHOP: &str = "wx8f2a6c1e5b9d3a70";
const NEWS: &str = "wx4b7d9e2c6a1f8e35";
const PLATFORM: &str = "wx3c5e7a9b1d2f4e60";
const AUTHORIZER: &str = "wx9a8b7c6d5e4f3a21";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeWechat::start()?;
    // Made-up secrets known to the fake only.
    fake.register(SHOP, "shop-secret");
    fake.register(NEWS, "news-secret");
    fake.register_component(PLATFORM, "platform-secret");
    fake.push_verify_ticket(PLATFORM, "verify-ticket");
    let refresh = fake.add_authorizer(PLATFORM, AUTHORIZER);
    let store = Arc::new(MemoryStore::new());
    store.put_verify_ticket(PLATFORM, &Secret::new("verify-ticket"))?;
    store.put_refresh_token(PLATFORM, AUTHORIZER, &Secret::new(refresh))?;

    // The hub's clock starts now (MemoryStore drops tokens by the system
    // clock, so it must not run behind) and moves on by hand.
    let clock = ManualClock::starting_now();
    let handler = HubHandler::builder()
        .account(SHOP, "shop-secret")
        .account(NEWS, "news-secret")
        .component(PLATFORM, "platform-secret")
        .upstream(fake.url())
        .store(store.clone())
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()?;
    let get = |target: &str| {
        let resp = handler.handle(&HubRequest::new("GET", target));
        (
            resp.status,
            String::from_utf8_lossy(&resp.body).into_owned(),
        )
    };
    let minutes = |n: u64| clock.advance(Duration::from_secs(n * 60));
    minutes(130);
    for target in [
        format!("/client/access_token?appid={SHOP}"),
        format!("/client/ticket?appid={SHOP}&type=jsapi"),
    ] {
        assert_eq!(get(&target).0, 200, "{target}");
    }
    minutes(48);
    for target in [
        format!("/client/access_token?appid={NEWS}"),
        format!("/client/access_token?appid={PLATFORM}&authorizer_appid={AUTHORIZER}"),
    ] {
        assert_eq!(get(&target).0, 200, "{target}");
    }
    minutes(21);
    fake.fail_next(
        "/cgi-bin/ticket/getticket",
        40164,
        "invalid ip 203.0.113.7, not in whitelist",
        1,
    );
    let (status, _) = get(&format!("/client/ticket?appid={NEWS}&type=wx_card"));
    assert_ne!(status, 200, "the upstream error");
    minutes(7);
    // A busy day for the shop: the calls other replicas made today, in the
    // store's counter of its token calls (the hub's own name for it: days
    // since the epoch in China time).
    let day = (clock.clock().unix_secs() + 8 * 3600) / 86_400;
    for _ in 0..1_136 {
        store.increment(
            &format!("calls:{day}:token:{SHOP}"),
            Duration::from_secs(86_400),
        )?;
    }

    let server = HubServer::bind("127.0.0.1:0", handler)?.log_requests(false);
    let url = format!("http://{}/status", server.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || server.run(&flag));
    let page = ureq::get(&url).call()?.body_mut().read_to_string()?;
    assert!(
        page.contains("warning: access token calls at 50 % of the quota"),
        "{page}"
    );

    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.png");
    let profile = std::env::temp_dir().join(format!("status-screenshot-{}", std::process::id()));
    let shot = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={out}"),
            "--window-size=1000,1000",
            &url,
        ])
        .status();
    stop.store(true, Ordering::SeqCst);
    thread.join().expect("the server thread");
    let _ = std::fs::remove_dir_all(&profile);
    let shot = shot.map_err(|e| format!("chromium runs: apt-get install chromium ({e})"))?;
    if !shot.success() {
        return Err(format!("chromium failed: {shot}").into());
    }
    println!("wrote {out}");
    Ok(())
}
