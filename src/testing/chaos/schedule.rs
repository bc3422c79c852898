//! The seeded fault schedule: a tiny PRNG (splitmix64) and the plan it
//! draws, so that a seed names one run's faults exactly.

use std::time::Duration;

/// splitmix64: small, fast, and every seed gives a full-period stream.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A duration in `lo..hi`, to the millisecond.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(self.below(span.max(1)))
    }
}

/// One fault switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// `FakeWechat::invalidate_current`.
    Invalidate,
    /// `FakeWechat::reject_tokens`.
    RejectTokens(bool),
    /// `FakeWechat::busy`.
    Busy(bool),
    /// SIGKILL hub replica `i`.
    KillHub(usize),
    /// Start hub replica `i` again (on a new port).
    StartHub(usize),
    /// SIGKILL the Redis server.
    StopRedis,
    /// Start it again on its port, empty.
    StartRedis,
    /// `SENTINEL FAILOVER` (a Sentinel run).
    Failover,
    /// SIGKILL the primary, restarted as a replica once the other node is
    /// promoted (a Sentinel run).
    KillPrimary,
}

/// What the plan is drawn for.
pub(super) struct Shape {
    pub duration: Duration,
    pub hubs: usize,
    /// The hubs' refresh floor: storms are spaced by more than it.
    pub floor: Duration,
    /// The longest -1 window: shorter than the clients' busy retries.
    pub busy_max: Duration,
    /// Redis runs under Sentinel: failovers instead of Redis restarts.
    pub sentinel: bool,
}

/// The time a failover fault is given to finish (the promotion, the old
/// primary back as a replica, the topology healthy) before the next one or
/// the end of the faults.
pub(super) const FAILOVER_ROOM: Duration = Duration::from_secs(7);

/// How long after a 40001 window ends its token is invalidated, at least.
pub(super) const AFTER_STORM: Duration = Duration::from_secs(5);

/// Quiet time at the start (every client has its first token) and at the
/// end (every fault is over, the run settles).
pub(super) const SETTLE: Duration = Duration::from_secs(2);
pub(super) const TAIL: Duration = Duration::from_secs(2);

/// The faults of one run, by offset from its start, in order. Every fault
/// switched on is switched off before `duration - TAIL`.
pub(super) fn plan(seed: u64, shape: &Shape) -> Vec<(Duration, Action)> {
    let end = shape.duration.saturating_sub(TAIL);
    let mut rng = Rng::new(seed);
    let mut events = Vec::new();
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;

    // Token faults come as storms: a 40001 window of at most 2 s, then the
    // token invalidated 5 to 8 s after it ends, when the refresh limit's
    // wait after the storm (2 s, doubling) allows its replacement at once.
    // The next storm comes more than a floor after that replacement's own
    // wait, when the limit's wait has fallen back.
    let longest_reject = secs(2).min(shape.floor.mul_f64(0.75)).max(ms(300));
    let mut t = SETTLE + rng.between(ms(0), secs(1));
    loop {
        let len = rng.between(ms(300).min(longest_reject), longest_reject);
        let invalidate = t + len + rng.between(AFTER_STORM, AFTER_STORM + secs(3));
        if invalidate >= end {
            break;
        }
        events.push((t, Action::RejectTokens(true)));
        events.push((t + len, Action::RejectTokens(false)));
        events.push((invalidate, Action::Invalidate));
        t = invalidate + shape.floor + secs(10) + rng.between(ms(0), secs(5));
    }

    // -1 windows, short enough for the clients' busy retries.
    let mut t = SETTLE + rng.between(ms(0), secs(2));
    loop {
        let len = rng.between(ms(100), shape.busy_max.max(ms(101)));
        if t + len >= end {
            break;
        }
        events.push((t, Action::Busy(true)));
        events.push((t + len, Action::Busy(false)));
        t += len + rng.between(secs(1), secs(4));
    }

    // Hub kills: a random replica that is up, down for a while; replicas'
    // down times may overlap, now and then all of them.
    let mut down_until = vec![Duration::ZERO; shape.hubs];
    let mut t = SETTLE + rng.between(ms(0), secs(2));
    if shape.hubs == 0 {
        t = end;
    }
    loop {
        let hub = rng.below(shape.hubs as u64) as usize;
        let len = rng.between(ms(300), ms(2500));
        if t + len >= end {
            break;
        }
        if down_until[hub] < t {
            events.push((t, Action::KillHub(hub)));
            events.push((t + len, Action::StartHub(hub)));
            down_until[hub] = t + len;
        }
        t += rng.between(ms(300), secs(3));
    }

    if shape.sentinel {
        // Failovers: `SENTINEL FAILOVER` and a kill -9 of the primary in
        // turn, the first drawn, each with room to finish.
        let mut kill = rng.below(2) == 1;
        let mut t = SETTLE + rng.between(secs(1), secs(3));
        while t + FAILOVER_ROOM < end {
            let action = if kill {
                Action::KillPrimary
            } else {
                Action::Failover
            };
            events.push((t, action));
            kill = !kill;
            t += FAILOVER_ROOM + rng.between(ms(0), secs(6));
        }
        events.sort_by_key(|(at, _)| *at);
        return events;
    }

    // Redis restarts: the store comes back empty.
    let mut t = SETTLE + rng.between(secs(1), secs(4));
    loop {
        let len = rng.between(ms(200), secs(1));
        if t + len >= end {
            break;
        }
        events.push((t, Action::StopRedis));
        events.push((t + len, Action::StartRedis));
        t += len + rng.between(secs(4), secs(10));
    }

    // Stable: equal times keep the order they were drawn in.
    events.sort_by_key(|(at, _)| *at);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            duration: Duration::from_secs(120),
            hubs: 3,
            floor: Duration::from_secs(30),
            busy_max: Duration::from_millis(500),
            sentinel: false,
        }
    }

    #[test]
    fn splitmix64_matches_the_reference() {
        // The reference implementation's first outputs for seed 0.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 7960286522194355700);
        assert_eq!(rng.next_u64(), 487617019471545679);
    }

    #[test]
    fn a_seed_names_one_plan_and_every_fault_ends() {
        let plan1 = plan(7, &shape());
        assert_eq!(plan1, plan(7, &shape()));
        assert_ne!(plan1, plan(8, &shape()));
        let end = shape().duration - TAIL;
        assert!(plan1.iter().all(|(at, _)| *at < end && *at >= SETTLE));
        let count = |a: Action| plan1.iter().filter(|(_, b)| *b == a).count();
        assert_eq!(count(Action::StopRedis), count(Action::StartRedis));
        assert_eq!(count(Action::Busy(true)), count(Action::Busy(false)));
        assert_eq!(
            count(Action::RejectTokens(true)),
            count(Action::RejectTokens(false))
        );
        for hub in 0..3 {
            assert_eq!(count(Action::KillHub(hub)), count(Action::StartHub(hub)));
        }
        assert_eq!(count(Action::Invalidate), count(Action::RejectTokens(true)));
        assert!(count(Action::Invalidate) >= 2);
    }

    #[test]
    fn a_sentinel_plan_fails_over_in_turn_instead_of_restarting_redis() {
        let sentinel = Shape {
            sentinel: true,
            ..shape()
        };
        let plan = plan(7, &sentinel);
        let failovers: Vec<(Duration, Action)> = plan
            .iter()
            .filter(|(_, a)| matches!(a, Action::Failover | Action::KillPrimary))
            .copied()
            .collect();
        assert!(failovers.len() >= 8, "{failovers:?}");
        assert!(!plan
            .iter()
            .any(|(_, a)| matches!(a, Action::StopRedis | Action::StartRedis)));
        for pair in failovers.windows(2) {
            assert_ne!(pair[0].1, pair[1].1, "in turn");
            assert!(pair[1].0 - pair[0].0 >= FAILOVER_ROOM);
        }
        let end = sentinel.duration - TAIL;
        assert!(failovers.iter().all(|(at, _)| *at + FAILOVER_ROOM < end));
        // The other faults are drawn as in a run on one Redis.
        let others = |p: &[(Duration, Action)]| -> Vec<(Duration, Action)> {
            p.iter()
                .filter(|(_, a)| {
                    !matches!(
                        a,
                        Action::Failover
                            | Action::KillPrimary
                            | Action::StopRedis
                            | Action::StartRedis
                    )
                })
                .copied()
                .collect()
        };
        assert_eq!(others(&plan), others(&super::plan(7, &shape())));
    }

    #[test]
    fn each_storm_is_followed_by_an_invalidation_and_storms_are_a_floor_apart() {
        let floor = shape().floor;
        for seed in 0..50 {
            let plan = plan(seed, &shape());
            let token_faults: Vec<(Duration, Action)> = plan
                .iter()
                .filter(|(_, a)| matches!(a, Action::Invalidate | Action::RejectTokens(_)))
                .copied()
                .collect();
            for storm in token_faults.chunks(3) {
                let [(start, Action::RejectTokens(true)), (end, Action::RejectTokens(false)), (at, Action::Invalidate)] =
                    storm
                else {
                    panic!("seed {seed}: {storm:?}");
                };
                assert!(*end - *start <= Duration::from_secs(2), "seed {seed}");
                assert!(*at - *end >= AFTER_STORM, "seed {seed}");
            }
            for pair in token_faults.chunks(3).collect::<Vec<_>>().windows(2) {
                assert!(pair[1][0].0 - pair[0][2].0 > floor, "seed {seed}");
            }
        }
    }
}
