//! Refresh storms: WeChat rejecting every new token (or another process
//! fetching tokens with the same secret) must cost a handful of token calls
//! a minute, directly and through a hub, with a clear error, and recover at
//! once when it stops. Time moves by a manual clock, never by sleeping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::time::Duration;

use wechat::hub::{HubHandler, HubServer};
use wechat::testing::FakeWechat;
use wechat::{Client, ErrorKind, HubSource, ManualClock, RefreshLimit};

use crate::common::{self, APPID, SECRET};

const THREADS: usize = 64;
const STORM_SECS: u64 = 60;

/// Every warning the SDK logs in this test binary.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        LOGS.lock().unwrap().push(record.args().to_string());
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// `THREADS` threads make one call per round; before each round the clock
/// moves one second. Returns every failure's error, by round.
fn rounds(clients: &[Client], clock: &ManualClock, rounds: u64) -> Vec<Vec<wechat::Error>> {
    let barrier = Barrier::new(THREADS + 1);
    let failures: Mutex<Vec<Vec<wechat::Error>>> =
        Mutex::new((0..rounds).map(|_| Vec::new()).collect());
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (client, barrier, failures) = (&clients[i % clients.len()], &barrier, &failures);
            s.spawn(move || {
                for round in 0..rounds {
                    barrier.wait();
                    if let Err(e) = client.request("/cgi-bin/get_api_domain_ip") {
                        failures.lock().unwrap()[round as usize].push(e);
                    }
                    barrier.wait();
                }
            });
        }
        for _ in 0..rounds {
            barrier.wait(); // the round runs
            barrier.wait(); // every call of the round returned
            clock.advance(Duration::from_secs(1));
        }
    });
    failures.into_inner().unwrap()
}

/// Runs a 60 s storm, then asserts the bound, the errors and recovery.
fn storm(fake: &FakeWechat, clients: &[Client], clock: &ManualClock) {
    capture_logs();
    fake.reject_tokens(true);
    let failures = rounds(clients, clock, STORM_SECS);
    let limit = RefreshLimit::default();
    // The burst at once, then one per 30 s floor: 3 + 1 within 60 s.
    let calls = fake.count("/cgi-bin/token") as u64;
    assert!(
        calls <= u64::from(limit.burst()) + STORM_SECS / limit.floor().as_secs(),
        "{calls} token calls in a {STORM_SECS} s storm"
    );
    assert!(calls >= u64::from(limit.burst()), "{calls}");
    let all: Vec<&wechat::Error> = failures.iter().flatten().collect();
    assert_eq!(all.len(), THREADS * STORM_SECS as usize, "every call fails");
    let limited: Vec<&&wechat::Error> = all.iter().filter(|e| e.is_refresh_limited()).collect();
    for e in &all {
        assert!(
            e.is_refresh_limited() || e.errcode() == Some(40001),
            "an unexpected failure: {e}"
        );
    }
    assert!(
        limited.len() > all.len() / 2,
        "{} of {}",
        limited.len(),
        all.len()
    );
    let e = limited[0];
    match e.kind() {
        ErrorKind::RefreshLimited {
            key,
            retry_after,
            rejected_after,
        } => {
            assert_eq!(key, &format!("AccessToken({APPID})"));
            assert!(*retry_after > Duration::ZERO && *retry_after <= limit.floor());
            assert!(rejected_after.is_some_and(|a| a < limit.floor()), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("another process or machine"), "{text}");
    assert!(text.contains("hub"), "{text}");
    assert!(
        LOGS.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(APPID) && l.contains("another process or machine")),
        "no warning logged"
    );

    // The storm ends: every call succeeds at once, with no token call.
    fake.reject_tokens(false);
    let before = fake.count("/cgi-bin/token");
    let after = rounds(clients, clock, 1);
    assert!(after[0].is_empty(), "{:?}", after[0]);
    assert_eq!(fake.count("/cgi-bin/token"), before);
}

/// A fake WeChat and a client of it with the default limit on a manual clock.
fn direct() -> (FakeWechat, ManualClock, Client) {
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake))
        .clock(clock.clock())
        .build()
        .unwrap();
    (fake, clock, client)
}

#[test]
fn a_storm_costs_a_burst_then_one_call_per_floor_direct() {
    let (fake, clock, client) = direct();
    storm(&fake, &[client], &clock);
}

#[test]
fn a_storm_costs_a_burst_then_one_call_per_floor_through_a_hub() {
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let handler = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .clock(clock.clock())
        .build()
        .unwrap();
    let server = Arc::new(
        HubServer::bind("127.0.0.1:0", handler)
            .unwrap()
            .log_requests(false),
    );
    let url = format!("http://{}", server.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || server.run(&stop))
    };
    // Four processes' worth of client caches.
    let clients: Vec<Client> = (0..4)
        .map(|_| {
            common::builder(&fake)
                .token_source(HubSource::new(url.as_str()).unwrap())
                .clock(clock.clock())
                .build()
                .unwrap()
        })
        .collect();
    storm(&fake, &clients, &clock);
    stop.store(true, Ordering::SeqCst);
    serving.join().unwrap();
}

/// The limit must not slow down an ordinary recovery: a token invalidated
/// 5 s after a refresh is replaced at once.
#[test]
fn an_isolated_invalidation_after_a_refresh_recovers_at_once() {
    let (fake, clock, client) = direct();
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    for round in 1..=2 {
        clock.advance(Duration::from_secs(5));
        assert_eq!(fake.invalidate_current(APPID), 1);
        client.request("/cgi-bin/get_api_domain_ip").unwrap();
        assert_eq!(fake.count("/cgi-bin/token"), 1 + round);
    }
}
