//! A short seeded chaos run: three `wechat-hub` processes on a Redis of
//! the run's own behind a round-robin balancer, 16 client threads, the
//! default refresh limit, and hub kills, Redis restarts, -1 windows and a
//! storm (a 40001 window, then an invalidation 5 to 8 s after it); and
//! the same on Redis Sentinel with failovers instead of Redis restarts.
//! The long run is `examples/chaos.rs`.

use std::time::Duration;

use weixin::testing::{Chaos, ChaosReport};

/// A seed whose 14 s of faults hold at least one of each kind.
const SEED: u64 = 1;

#[test]
fn short_chaos_run_keeps_one_lineage() {
    let report = Chaos::new()
        .hub_bin(env!("CARGO_BIN_EXE_wechat-hub"))
        .seed(SEED)
        .duration(Duration::from_secs(18))
        .hubs(3)
        .threads(16)
        .hang_after(Duration::from_secs(15))
        .run()
        .expect("the chaos run starts");
    eprintln!("{report}");
    assert!(report.redis_restarts >= 1, "{report}");
    kept_its_promises(&report);
}

/// What every short run must show: each kind of fault the schedule is
/// for happened, and the figures the crate promises held.
fn kept_its_promises(report: &ChaosReport) {
    // The schedule did what it is for.
    assert!(report.invalidations >= 1, "{report}");
    assert!(report.reject_windows >= 1, "{report}");
    assert!(report.busy_windows >= 1, "{report}");
    assert!(report.hub_kills >= 1, "{report}");
    assert!(report.succeeded > 1000, "{report}");
    // The figures the crate promises.
    assert_eq!(report.hangs, 0, "{report}");
    assert_eq!(report.panics, 0, "{report}");
    assert_eq!(report.hub_crashes, 0, "{report}");
    assert_eq!(report.unexpected_failures(), 0, "{report}");
    assert!(
        report.upstream_token_calls <= report.upstream_bound(),
        "{report}"
    );
    assert_eq!(report.stale_served, 0, "{report}");
    // A token invalidated after a storm is replaced within the limit's
    // short wait and the outages around it, not after the 30 s floor a
    // flat limit kept (the shortest such wait seen with one was 9.5 s).
    assert!(
        report.longest_replacement < Duration::from_secs(8),
        "{report}"
    );
    assert!(report.lineage_kept, "{report}");
    assert!(report.harness_errors.is_empty(), "{report}");
}

/// A seed whose 20 s of faults on Sentinel hold a kill -9 of the primary
/// (at 4.3 s) and then a `SENTINEL FAILOVER` (at 11.9 s).
const SENTINEL_SEED: u64 = 2;

/// The same run on Redis Sentinel (primary, replica, three sentinels of
/// the run's own): the schedule kills the primary with `kill -9` (the
/// sentinels promote the replica after 3 s without an answer, and the
/// killed node comes back as a replica) and later asks for a
/// `SENTINEL FAILOVER`, besides the hub kills, -1 windows and the storm.
///
/// The window of allowed failures for each failover runs from the fault
/// until 1 s after all three sentinels name the new primary and it says
/// it is one: until then a hub's refresh has no primary to take its lock
/// on or to write to (its store retries for up to 5 s, which a call may
/// outlast), and for that second a store operation that began on the old
/// primary learns of the new one. Reads keep being served from the hubs'
/// copies throughout, so most calls in the window succeed. A failed call
/// that overlaps no such window (nor another fault's) fails the test, as
/// do more upstream token calls than the bound (failovers earn none: a
/// hub writes its newer token back rather than fetching), a token served
/// that the store had replaced, and a store that does not hold the fake
/// WeChat's last issued token at the end (a write the failover lost stays
/// lost, or the lineage forked).
#[test]
fn short_chaos_run_on_sentinel_keeps_one_lineage() {
    let report = Chaos::new()
        .hub_bin(env!("CARGO_BIN_EXE_wechat-hub"))
        .sentinel(true)
        .seed(SENTINEL_SEED)
        .duration(Duration::from_secs(22))
        .hubs(3)
        .threads(16)
        .hang_after(Duration::from_secs(15))
        .run()
        .expect("the chaos run starts");
    eprintln!("{report}");
    // The schedule did what it is for.
    assert!(report.sentinel, "{report}");
    assert!(report.failovers >= 2, "{report}");
    assert!(report.primary_kills >= 1, "{report}");
    assert!(
        report.failovers > report.primary_kills,
        "a SENTINEL FAILOVER too: {report}"
    );
    assert_eq!(report.redis_restarts, 0, "{report}");
    kept_its_promises(&report);
    assert!(report.problems().is_empty(), "{report}");
}
