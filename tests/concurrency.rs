//! Many threads, one token: single-flight fetches and refreshes, directly
//! and through a hub.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use weixin::testing::{FakeHub, FakeWechat};
use weixin::{Client, HubSource, RefreshLimit};

use crate::common::{self, APPID};

fn cold_start(clients: &[Client], threads: usize) {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        for i in 0..threads {
            let client = &clients[i % clients.len()];
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                client.request("/cgi-bin/cold").unwrap();
            });
        }
    });
}

#[test]
fn thirty_two_cold_threads_cause_one_token_fetch() {
    let fake = common::fake();
    fake.delay("/cgi-bin/token", Duration::from_millis(100));
    cold_start(&[common::direct(&fake)], 32);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert_eq!(fake.count("/cgi-bin/cold"), 32);
}

#[test]
fn thirty_two_cold_threads_through_a_hub_cause_one_fetch() {
    let fake = common::fake();
    fake.delay("/cgi-bin/token", Duration::from_millis(100));
    let hub = common::hub(&fake);
    // Two processes' worth of clients, each with its own cache.
    cold_start(
        &[common::via_hub(&fake, &hub), common::via_hub(&fake, &hub)],
        32,
    );
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert_eq!(hub.count("/client/access_token"), 2, "one per client cache");
}

/// 16 threads call the API in a loop while the fake revokes the token 5
/// times. Before each revocation every thread has finished a call that
/// started after the previous refresh, so no thread still holds a token two
/// generations old (which, after its one retry, would rightly fail).
fn invalidate_five_times_under_load(fake: &FakeWechat, clients: &[Client]) {
    const THREADS: usize = 16;
    let stop = AtomicBool::new(false);
    // A failed assertion below must still stop the threads, or the scope
    // would wait for them forever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let done: Vec<AtomicUsize> = (0..THREADS).map(|_| AtomicUsize::new(0)).collect();
    let failures = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for (i, done) in done.iter().enumerate() {
            let client = &clients[i % clients.len()];
            let (stop, failures) = (&stop, &failures);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Err(e) = client.request("/cgi-bin/loop") {
                        eprintln!("call failed: {e}");
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        let every_thread_moves_on = || {
            let seen: Vec<usize> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
            wait_until(|| {
                done.iter()
                    .zip(&seen)
                    .all(|(d, s)| d.load(Ordering::SeqCst) >= s + 2)
            });
        };
        every_thread_moves_on();
        for round in 1..=5 {
            assert!(fake.invalidate_current(APPID) >= 1);
            wait_until(|| fake.count("/cgi-bin/token") == 1 + round);
            every_thread_moves_on();
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert_eq!(
        fake.count("/cgi-bin/token"),
        6,
        "1 fetch + exactly 5 refreshes"
    );
}

/// A guard against hangs, not a timing assertion: the condition is expected
/// within milliseconds.
fn wait_until(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Six token calls within seconds are a storm to the default refresh
/// limit; these tests are about single flight, so they allow them.
fn roomy() -> RefreshLimit {
    RefreshLimit::new(8, Duration::from_secs(30))
}

#[test]
fn sixteen_threads_survive_five_invalidations_direct() {
    let fake = common::fake();
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake))
        .refresh_limit(roomy())
        .build()
        .unwrap();
    invalidate_five_times_under_load(&fake, &[client]);
}

#[test]
fn sixteen_threads_survive_five_invalidations_through_a_hub() {
    let fake = common::fake();
    let hub = FakeHub::start_with_limit(common::secret_source(&fake), roomy()).unwrap();
    let via_hub = || {
        common::builder(&fake)
            .token_source(HubSource::new(hub.url()).unwrap())
            .build()
            .unwrap()
    };
    // Two client caches report the same stale token; the hub's
    // compare-and-swap turns that into one upstream refresh.
    let clients = [via_hub(), via_hub()];
    invalidate_five_times_under_load(&fake, &clients);
    assert!(hub.count("/refresh/access_token") >= 5);
}
