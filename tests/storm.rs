//! Refresh storms: WeChat rejecting every new token (or another process
//! fetching tokens with the same secret) must cost a handful of token calls
//! a minute, directly, through a hub and through hubs sharing Redis, with a
//! clear error, and recover at once when it stops: a token invalidated
//! just after a storm is replaced within the limit's short wait. Time
//! moves by a manual clock, never by sleeping.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use weixin::hub::{HubHandler, HubServer};
use weixin::store::Store;
use weixin::testing::FakeWechat;
use weixin::{Client, ErrorKind, HubSource, ManualClock, RefreshLimit};

use crate::common::{self, logs, APPID, SECRET};
use crate::hub_http::Served;

const THREADS: usize = 64;
const STORM_SECS: u64 = 60;

/// `THREADS` threads make one call per round; before each round the clock
/// moves one second. Returns every failure's error, by round.
fn rounds(clients: &[Client], clock: &ManualClock, rounds: u64) -> Vec<Vec<weixin::Error>> {
    let barrier = Barrier::new(THREADS + 1);
    let failures: Mutex<Vec<Vec<weixin::Error>>> =
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
    logs::capture();
    fake.reject_tokens(true);
    let failures = rounds(clients, clock, STORM_SECS);
    let limit = RefreshLimit::default();
    // The burst at once, then after 2, 4, 8 and 16 s (at 2, 6, 14 and
    // 30 s): 7 calls in the seconds 0 to 59.
    let calls = fake.count("/cgi-bin/token");
    assert_eq!(calls, 7, "token calls in a {STORM_SECS} s storm");
    let all: Vec<&weixin::Error> = failures.iter().flatten().collect();
    assert_eq!(all.len(), THREADS * STORM_SECS as usize, "every call fails");
    let limited: Vec<&&weixin::Error> = all.iter().filter(|e| e.is_refresh_limited()).collect();
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
        logs::warnings_naming(APPID)
            .iter()
            .any(|l| l.contains("another process or machine")),
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
fn a_storm_costs_a_burst_then_waits_doubling_direct() {
    let (fake, clock, client) = direct();
    storm(&fake, &[client], &clock);
}

/// A hub of `APPID` on `clock`, its store in memory or (given) shared.
fn hub(fake: &FakeWechat, clock: &ManualClock, store: Option<Arc<dyn Store>>) -> Served {
    hub_of((APPID, SECRET), fake, clock, store)
}

/// A hub of one account on `clock`, its store in memory or (given)
/// shared, with no refresh ahead.
pub(crate) fn hub_of(
    (appid, secret): (&str, &str),
    fake: &FakeWechat,
    clock: &ManualClock,
    store: Option<Arc<dyn Store>>,
) -> Served {
    let mut builder = HubHandler::builder()
        .account(appid, secret)
        .upstream(fake.url())
        .clock(clock.clock())
        .refresh_ahead(None);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    Served::start(
        HubServer::bind("127.0.0.1:0", builder.build().unwrap())
            .unwrap()
            .log_requests(false),
    )
}

/// Four processes' worth of client caches, spread over `hubs`.
fn hub_clients(fake: &FakeWechat, clock: &ManualClock, hubs: &[&Served]) -> Vec<Client> {
    (0..4)
        .map(|i| {
            common::builder(fake)
                .token_source(HubSource::new(hubs[i % hubs.len()].url().as_str()).unwrap())
                .clock(clock.clock())
                .build()
                .unwrap()
        })
        .collect()
}

/// A fake WeChat, a hub of it and its clients, on a manual clock.
fn through_a_hub() -> (FakeWechat, ManualClock, Served, Vec<Client>) {
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let hub = hub(&fake, &clock, None);
    let clients = hub_clients(&fake, &clock, &[&hub]);
    (fake, clock, hub, clients)
}

#[test]
fn a_storm_costs_a_burst_then_waits_doubling_through_a_hub() {
    let (fake, clock, _hub, clients) = through_a_hub();
    storm(&fake, &clients, &clock);
}

/// Two replicas on one Redis keep one schedule: the storm costs what it
/// costs through one hub.
#[cfg(feature = "redis")]
#[test]
fn a_storm_through_two_hubs_on_redis_keeps_one_schedule() {
    common::cluster::each(a_storm_through_two_hubs_keeps_one_schedule);
}

#[cfg(feature = "redis")]
fn a_storm_through_two_hubs_keeps_one_schedule(topology: common::cluster::Topology) {
    let prefix = common::process::unique_prefix("storm");
    let store: Arc<dyn Store> = Arc::new(topology.open(&prefix));
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let (a, b) = (
        hub(&fake, &clock, Some(store.clone())),
        hub(&fake, &clock, Some(store)),
    );
    let clients = hub_clients(&fake, &clock, &[&a, &b]);
    storm(&fake, &clients, &clock);
}

/// Every client makes two calls, one after the other; returns the
/// failures.
fn two_calls_each(clients: &[Client]) -> Vec<weixin::Error> {
    let calls = clients.iter().flat_map(|client| [client, client]);
    calls
        .filter_map(|client| client.request("/cgi-bin/get_api_domain_ip").err())
        .collect()
}

/// A storm of 2 s (rejections at 0, 1 and 2 s) on a key last fetched a
/// minute before, then the token invalidated 5 s after the storm: the
/// storm costs the burst and one call at 2 s, and the invalidated token is
/// replaced in the first second that anyone asks (within the limit's
/// short wait, 2 s), with one call. Calls one at a time, so that the
/// count does not depend on how threads interleave.
fn invalidation_after_a_short_storm(fake: &FakeWechat, clients: &[Client], clock: &ManualClock) {
    for client in clients {
        client.request("/cgi-bin/get_api_domain_ip").unwrap();
    }
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    clock.advance(Duration::from_secs(60));
    fake.reject_tokens(true);
    for _ in 0..3 {
        assert!(!two_calls_each(clients).is_empty());
        clock.advance(Duration::from_secs(1));
    }
    fake.reject_tokens(false);
    let storm_calls = fake.count("/cgi-bin/token") - 1;
    // The clock is at 3 s; the invalidation comes at 7 s.
    clock.advance(Duration::from_secs(4));
    assert!(fake.invalidate_current(APPID) >= 1);
    let failures = two_calls_each(clients);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(storm_calls, 4, "the burst and one at 2 s");
    assert_eq!(fake.count("/cgi-bin/token"), 1 + 4 + 1);
}

#[test]
fn an_invalidation_5_s_after_a_2_s_storm_is_replaced_at_once_direct() {
    let (fake, clock, client) = direct();
    invalidation_after_a_short_storm(&fake, &[client], &clock);
}

#[test]
fn an_invalidation_5_s_after_a_2_s_storm_is_replaced_at_once_through_a_hub() {
    let (fake, clock, _hub, clients) = through_a_hub();
    invalidation_after_a_short_storm(&fake, &clients, &clock);
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
