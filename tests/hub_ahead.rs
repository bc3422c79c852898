//! No client read waits on WeChat for a key the hub has served, whatever
//! WeChat's latency: three hubs on one Redis, 60 s tokens and tickets, and
//! a refresh ahead held in flight at the fake for as long as the test
//! needs, up to and past the point where the hub stops handing the
//! current token out as fresh (its cut-off).
//!
//! These tests run on Redis at 127.0.0.1:6379 (`.ci/redis.sh` starts it)
//! and on the test binary's Redis Cluster, and fail, never skip, without
//! `redis-server`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weixin::hub::{HubHandler, HubRequest};
use weixin::store::RedisStore;
use weixin::testing::{Canned, FakeWechat, Hold};
use weixin::{ManualClock, TicketType, TokenKey};

use crate::common::cluster::{each, Topology};
use crate::common::process::unique_prefix;
use crate::common::{self, APPID, SECRET};

const REDIS: &str = "redis://127.0.0.1:6379/";

/// The hubs' upstream timeout (the default): a refresh ahead must land
/// more than this before the cut-off even if WeChat takes all of it. The
/// held call must not reach it either: the test holds it a few reads long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Token lifetimes the test runs through.
const LIFETIMES: usize = 4;

/// What a read asks, and where WeChat answers it.
struct Kind {
    key: TokenKey,
    target: String,
    field: &'static str,
    upstream: &'static str,
}

fn token() -> Kind {
    Kind {
        key: TokenKey::access_token(APPID),
        target: format!("/client/access_token?appid={APPID}"),
        field: "access_token",
        upstream: "/cgi-bin/token",
    }
}

fn jsapi_ticket() -> Kind {
    Kind {
        key: TokenKey::ticket(APPID, TicketType::Jsapi),
        target: format!("/client/ticket?appid={APPID}&type=jsapi"),
        field: "ticket",
        upstream: "/cgi-bin/ticket/getticket",
    }
}

/// A read's `(value, timestamp, expires_in)`; the answer must be a 200.
fn read(hub: &HubHandler, kind: &Kind) -> (String, u64, u64) {
    let answer = hub.handle(&HubRequest::new("GET", &kind.target));
    let body: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(answer.status, 200, "{body}");
    (
        body[kind.field].as_str().expect("value").to_string(),
        body["timestamp"].as_u64().expect("timestamp"),
        body["expires_in"].as_u64().expect("expires_in"),
    )
}

/// Three hubs sharing one Redis `topology` (a connection each, as
/// processes), on `clock`, with no refresh thread: the test runs their
/// passes.
fn three_hubs(
    fake: &FakeWechat,
    clock: &ManualClock,
    name: &str,
    topology: Topology,
) -> Vec<HubHandler> {
    let prefix = unique_prefix(name);
    (0..3)
        .map(|_| {
            HubHandler::builder()
                .account(APPID, SECRET)
                .upstream(fake.url())
                .store(topology.open(&prefix))
                .clock(clock.clock())
                .timeout(TIMEOUT)
                .refresh_ahead(None)
                .build()
                .unwrap()
        })
        .collect()
}

/// Sets its flag when dropped, a panic's unwinding included.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs a refresh pass on every hub at once. `None` if no pass called
/// WeChat (nothing due: each returned 0); else the pass that did, still
/// in flight at `hold`, once the other two have returned 0 (they found
/// the store's lock taken).
fn passes<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    hubs: &'s [HubHandler],
    hold: &Hold,
) -> Option<std::thread::ScopedJoinHandle<'s, usize>> {
    let mut running: Vec<_> = hubs
        .iter()
        .map(|hub| s.spawn(|| hub.refresh_due()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (done, left): (Vec<_>, Vec<_>) = running.into_iter().partition(|p| p.is_finished());
        for pass in done {
            assert_eq!(
                pass.join().unwrap(),
                0,
                "a pass that returned called no one"
            );
        }
        running = left;
        match running.len() {
            0 => return None,
            1 if hold.held() == 1 => return running.pop(),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the passes neither ended nor called WeChat"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The test itself, for a token or a ticket: each lifetime, the refresh
/// ahead is held at the fake once it is due; readers on the three hubs
/// meanwhile, before and past the cut-off, must all get the current
/// token from the hubs while the one upstream call is still held (a read
/// that waited on it could not end before the hold is released).
fn no_read_waits_on_the_refresh_ahead(kind: &Kind, name: &str, topology: Topology) {
    let fake = common::fake();
    fake.set_token_lifetime(60);
    let clock = ManualClock::starting_now();
    let hubs = three_hubs(&fake, &clock, name, topology);
    let first = read(&hubs[0], kind);
    for hub in &hubs[1..] {
        assert_eq!(read(hub, kind), first, "one value for the cluster");
    }
    assert_eq!(fake.count(kind.upstream), 1);

    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    // Every read: what it got, and how long it took.
    type Read = ((String, u64, u64), Duration);
    let served: Mutex<Vec<Read>> = Mutex::new(Vec::new());
    let mut lineage = vec![first];
    std::thread::scope(|s| {
        // The readers stop when the test ends, failed or not.
        let _stop = StopOnDrop(&stop);
        for i in 0..6 {
            let (hub, stop, reads, served) = (&hubs[i % 3], &stop, &reads, &served);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let got = read(hub, kind);
                    served.lock().unwrap().push((got, started.elapsed()));
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // Lets every reader read at least twice more at the clock's time.
        let reads_now = || {
            let target = reads.load(Ordering::SeqCst) + 12;
            common::wait_until(
                "the readers read (a read waiting on the call held at the fake cannot end)",
                || reads.load(Ordering::SeqCst) >= target,
            );
        };
        for lifetime in 0..LIFETIMES {
            let current = lineage.last().unwrap().clone();
            let (_, timestamp, expires_in) = current;
            let expires_at = timestamp + expires_in;
            let cutoff = expires_at - (expires_in / 10).min(300);
            let calls = fake.count(kind.upstream);
            let hold = fake.hold(kind.upstream);
            // A second at a time until a replica calls WeChat for it.
            let pass = loop {
                clock.advance(Duration::from_secs(1));
                reads_now();
                if let Some(pass) = passes(s, &hubs, &hold) {
                    break pass;
                }
                assert!(
                    clock.clock().unix_secs() < cutoff,
                    "lifetime {lifetime}: not refreshed before its cut-off"
                );
            };
            let started = clock.clock().unix_secs();
            assert_eq!(
                fake.count(kind.upstream),
                calls + 1,
                "one call, one replica"
            );
            assert!(
                started + 2 * TIMEOUT.as_secs() < cutoff,
                "lifetime {lifetime}: a call begun at {started} that takes the whole timeout \
                 would land less than a timeout before the cut-off at {cutoff}"
            );
            // WeChat holds the call up to the cut-off and past it: the
            // current value is served all the while.
            served.lock().unwrap().clear();
            for at in [cutoff - 1, cutoff, expires_at - 1] {
                clock.advance(Duration::from_secs(at - clock.clock().unix_secs()));
                reads_now();
            }
            assert_eq!(hold.held(), 1, "the refresh ahead is still in flight");
            let during = std::mem::take(&mut *served.lock().unwrap());
            let other = during.iter().find(|(got, _)| *got != current);
            assert!(
                other.is_none(),
                "lifetime {lifetime}: a read got another: {other:?}"
            );
            assert!(during.len() >= 12 * 3, "{} reads", during.len());
            hold.release();
            assert_eq!(pass.join().unwrap(), 1, "the held pass replaced it");
            // (WeChat may hand the same ticket back: its stamp is new.)
            let stored = hubs[0].store().get_token(&kind.key).unwrap().unwrap();
            let next = (
                stored.expose().to_string(),
                stored.timestamp(),
                stored.expires_in(),
            );
            assert!(next.1 > timestamp, "{next:?} after {current:?}");
            // A read that looked at the store just before it landed may
            // still get the current one (valid for a second more).
            common::wait_until("every hub serves the new one", || {
                hubs.iter().all(|hub| read(hub, kind) == next)
            });
            lineage.push(next);
        }
    });
    assert_eq!(
        fake.count(kind.upstream),
        1 + LIFETIMES,
        "one upstream call per lifetime for the cluster"
    );
}

#[test]
fn no_token_read_waits_on_a_refresh_ahead_across_three_hubs_on_redis() {
    each(|topology| no_read_waits_on_the_refresh_ahead(&token(), "ahead-token", topology));
}

#[test]
fn no_ticket_read_waits_on_a_refresh_ahead_across_three_hubs_on_redis() {
    each(|topology| no_read_waits_on_the_refresh_ahead(&jsapi_ticket(), "ahead-ticket", topology));
}

/// The issue's run, in real time, for the figures its closing note
/// gives: three hubs on Redis with their refresh threads, 60 s tokens and
/// tickets, WeChat answering `/cgi-bin/token` and `getticket` 2 s late,
/// a reader per hub and kind every 20 ms for `WECHAT_AHEAD_SECS` (default
/// 150 s: five lifetimes of the token as refreshed). Prints the read
/// latency p50, p99 and max and the upstream calls per lifetime; fails if
/// a read waited on an upstream call (it began while one was in flight
/// and ended only as it ended, taking over 100 ms: a read slow for want
/// of CPU does not line up with the end of a call) or if a lifetime cost
/// more than one call. Ignored: it takes minutes. Run it with
///
/// ```text
/// cargo test --all-features --test lib read_latency_in_real_time -- --ignored --nocapture
/// ```
#[test]
#[ignore = "real time: minutes; run for the figures"]
fn read_latency_in_real_time_with_a_slow_wechat() {
    const DELAY: Duration = Duration::from_secs(2);
    const SLOW: Duration = Duration::from_millis(100);
    let secs = std::env::var("WECHAT_AHEAD_SECS").map_or(150, |s| s.parse().unwrap());
    let fake = common::fake();
    fake.set_token_lifetime(60);
    let kinds = [token(), jsapi_ticket()];
    for kind in &kinds {
        fake.delay(kind.upstream, DELAY);
    }
    // Every getticket answers a whole lifetime, as WeChat documents
    // (`expires_in` 7200). The fake on its own hands the live ticket back
    // with the rest of its life until it expires: nothing could replace
    // it ahead of that.
    fake.answer(
        kinds[1].upstream,
        Canned::json(
            json!({"errcode": 0, "errmsg": "ok", "ticket": "TICKET_jsapi_live", "expires_in": 60}),
        ),
    );
    let prefix = unique_prefix("ahead-real-time");
    let hubs: Vec<HubHandler> = (0..3)
        .map(|_| {
            let store = RedisStore::open(REDIS).unwrap().prefix(prefix.clone());
            HubHandler::builder()
                .account(APPID, SECRET)
                .upstream(fake.url())
                .store(store)
                .build()
                .unwrap()
        })
        .collect();
    // The first reads fetch (and wait, as a first fetch must).
    for hub in &hubs {
        for kind in &kinds {
            read(hub, kind);
        }
    }
    let begun = Instant::now();
    let calls_before = kinds.each_ref().map(|k| fake.count(k.upstream));
    // Per read: its kind, when it began, how long it took, what it got.
    type Timed = (usize, Instant, Duration, (String, u64, u64));
    let timed: Mutex<Vec<Timed>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for hub in &hubs {
            for (k, kind) in kinds.iter().enumerate() {
                let timed = &timed;
                s.spawn(move || {
                    while begun.elapsed() < Duration::from_secs(secs) {
                        let at = Instant::now();
                        let got = read(hub, kind);
                        timed.lock().unwrap().push((k, at, at.elapsed(), got));
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
            }
        }
    });
    let timed = timed.into_inner().unwrap();
    // A refresh still in flight as the readers stopped lands first.
    common::wait_until("the last refresh lands", || {
        kinds.iter().all(|k| {
            fake.received_on(k.upstream)
                .last()
                .is_none_or(|r| r.at.elapsed() > DELAY + SLOW)
        })
    });
    for (k, kind) in kinds.iter().enumerate() {
        let calls: Vec<Instant> = fake
            .received_on(kind.upstream)
            .iter()
            .map(|r| r.at)
            .filter(|at| *at >= begun)
            .collect();
        let reads: Vec<&Timed> = timed.iter().filter(|t| t.0 == k).collect();
        let mut latencies: Vec<Duration> = reads.iter().map(|t| t.2).collect();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let waited: Vec<&&Timed> = reads
            .iter()
            .filter(|(_, began, took, _)| {
                let ended = *began + *took;
                *took > SLOW
                    && calls.iter().any(|call| {
                        let answered = *call + DELAY;
                        *began >= *call && *began < answered && ended + SLOW / 2 >= answered
                    })
            })
            .collect();
        let slow = latencies.iter().filter(|l| **l > SLOW).count();
        let last = hubs[0].store().get_token(&kind.key).unwrap().unwrap();
        let mut stamps: Vec<u64> = reads.iter().map(|t| (t.3).1).collect();
        stamps.push(last.timestamp());
        stamps.sort_unstable();
        stamps.dedup();
        // The first stamp is the lifetime fetched before the run.
        let lifetimes = stamps.len() - 1;
        let made = fake.count(kind.upstream) - calls_before[k];
        println!(
            "{}: {} reads over {secs} s; latency p50 {:?}, p99 {:?}, max {:?}; {slow} above {SLOW:?}, \
             {} waited on an upstream call; {made} upstream calls for {lifetimes} new lifetimes \
             ({:.2} per lifetime, one every {:.1} s)",
            kind.upstream,
            latencies.len(),
            at(0.5),
            at(0.99),
            latencies.last().unwrap(),
            waited.len(),
            made as f64 / lifetimes.max(1) as f64,
            secs as f64 / made.max(1) as f64,
        );
        let waited: Vec<_> = waited
            .iter()
            .map(|(_, began, took, _)| (began.duration_since(begun), *took))
            .collect();
        assert!(
            waited.is_empty(),
            "{}: (began, took) {waited:?}",
            kind.upstream
        );
        assert_eq!(made, lifetimes, "{}: one call per lifetime", kind.upstream);
    }
}
