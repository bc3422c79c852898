//! What a chaos run saw: the fault windows, each failed call judged
//! against them, and the [`ChaosReport`] with its figures.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::schedule::AFTER_STORM;
use crate::error::{Error, ErrorKind};

/// A time span as offsets from the run's start; an open span lasts to the
/// end of the run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub start: Duration,
    pub end: Option<Duration>,
}

impl Span {
    fn overlaps(&self, start: Duration, end: Duration) -> bool {
        self.start <= end && self.end.is_none_or(|e| start <= e)
    }

    fn len(&self, run_end: Duration) -> Duration {
        self.end.unwrap_or(run_end).saturating_sub(self.start)
    }
}

/// When each fault was on, as it happened (not as planned).
#[derive(Debug, Default)]
pub(super) struct Windows {
    pub reject: Vec<Span>,
    /// When each storm's token was invalidated, in order.
    pub invalidated: Vec<Duration>,
    pub busy: Vec<Span>,
    pub redis_down: Vec<Span>,
    /// From each failover fault until [`FAILOVER_GRACE`] after the
    /// sentinels all name the new primary and it says it is one.
    pub failover: Vec<Span>,
    pub hub_down: Vec<Vec<Span>>,
}

/// How long after a promotion a failed call is still the failover's: the
/// hubs' stores learn of the new primary on their next operation, which
/// may be one that started on the old primary just before.
pub(super) const FAILOVER_GRACE: Duration = Duration::from_secs(1);

impl Windows {
    pub fn open(spans: &mut Vec<Span>, at: Duration) {
        spans.push(Span {
            start: at,
            end: None,
        });
    }

    pub fn close(spans: &mut [Span], at: Duration) {
        if let Some(span) = spans.last_mut().filter(|s| s.end.is_none()) {
            span.end = Some(at);
        }
    }

    /// The spans during which every hub was down.
    fn all_hubs_down(&self, run_end: Duration) -> Vec<Span> {
        let mut cuts: Vec<Duration> = self
            .hub_down
            .iter()
            .flatten()
            .flat_map(|s| [s.start, s.end.unwrap_or(run_end)])
            .collect();
        cuts.sort();
        cuts.dedup();
        let down = |hub: &Vec<Span>, at: Duration| {
            hub.iter()
                .any(|s| s.start <= at && s.end.is_none_or(|e| at < e))
        };
        let mut spans: Vec<Span> = Vec::new();
        for pair in cuts.windows(2) {
            let mid = pair[0] + (pair[1] - pair[0]) / 2;
            if self.hub_down.iter().all(|hub| down(hub, mid)) {
                match spans.last_mut() {
                    Some(last) if last.end == Some(pair[0]) => last.end = Some(pair[1]),
                    _ => spans.push(Span {
                        start: pair[0],
                        end: Some(pair[1]),
                    }),
                }
            }
        }
        spans
    }
}

/// One failed client call.
#[derive(Debug)]
pub(super) struct Failure {
    pub start: Duration,
    pub end: Duration,
    pub error: Error,
}

/// What kind of failure `error` is, as a short label.
fn label(error: &Error) -> String {
    if is_refresh_limited(error) {
        return "refresh limited".into();
    }
    match error.kind() {
        ErrorKind::Api { errcode, .. } => format!("wechat errcode {errcode}"),
        ErrorKind::Hub { reason, status, .. } => format!("hub {reason} (http {status})"),
        ErrorKind::HttpStatus { status, .. } => format!("http status {status}"),
        ErrorKind::Transport { kind, .. } => format!("transport {kind:?}").to_lowercase(),
        ErrorKind::Decode { .. } => "decode".into(),
        ErrorKind::Store { .. } => "store".into(),
        _ => "other".into(),
    }
}

/// A refresh refused by a refresh limit, the client's or a hub's.
fn is_refresh_limited(error: &Error) -> bool {
    error.is_refresh_limited()
        || matches!(error.kind(), ErrorKind::Hub { reason, .. } if reason == "refresh_limited")
}

/// Judges failures against the windows.
pub(super) struct Judge {
    reject: Vec<Span>,
    invalidated: Vec<Duration>,
    busy: Vec<Span>,
    redis_down: Vec<Span>,
    failover: Vec<Span>,
    all_hubs_down: Vec<Span>,
    run_end: Duration,
    /// The least time a client's busy retries cover.
    busy_ride: Duration,
}

impl Judge {
    pub fn new(windows: &Windows, run_end: Duration, busy_ride: Duration) -> Judge {
        Judge {
            reject: windows.reject.clone(),
            invalidated: windows.invalidated.clone(),
            busy: windows.busy.clone(),
            redis_down: windows.redis_down.clone(),
            failover: windows.failover.clone(),
            all_hubs_down: windows.all_hubs_down(run_end),
            run_end,
            busy_ride,
        }
    }

    /// Why `failure` is expected, or `None` if it is not.
    fn reason(&self, failure: &Failure) -> Option<&'static str> {
        let during = |spans: &[Span]| spans.iter().any(|s| s.overlaps(failure.start, failure.end));
        if is_refresh_limited(&failure.error) {
            // The limit exists for storms: anywhere else it is a bug. Its
            // wait after a storm may refuse the storm's last reports, but
            // never the replacement of the token invalidated after it (the
            // schedule's invalidation comes `AFTER_STORM` to `AFTER_STORM`
            // + 3 s after a window): a refusal from then on fails the run.
            // A failover that starts in a storm or before its invalidation
            // holds the storm's last refreshes (reports of tokens rejected
            // in the window) until the promotion: the storm ends with the
            // failover's window, and the limit's wait after it is allowed
            // `AFTER_STORM` from then, past the invalidation if need be.
            if during(&self.reject) {
                return Some("inside a 40001 window: the refresh limit holds the storm");
            }
            let just_after = self.reject.iter().any(|s| {
                let end = s.end.unwrap_or(self.run_end);
                let invalidated = self
                    .invalidated
                    .iter()
                    .copied()
                    .find(|at| *at >= end)
                    .unwrap_or(end + AFTER_STORM + Duration::from_secs(3));
                let held_until = self
                    .failover
                    .iter()
                    .filter(|f| f.start >= s.start && f.start < invalidated)
                    .map(|f| f.end.unwrap_or(self.run_end) + AFTER_STORM)
                    .max()
                    .unwrap_or(invalidated);
                failure.start >= end && failure.start < invalidated.max(held_until)
            });
            return just_after
                .then_some("just after a 40001 window: the refresh limit's wait after the storm");
        }
        // When windows overlap, the one that explains this kind of error.
        let rejected = failure.error.is_token_expired();
        if rejected && during(&self.reject) {
            return Some("inside a 40001 window: WeChat rejects every token");
        }
        if during(&self.all_hubs_down) {
            return Some("every hub was down");
        }
        if during(&self.redis_down) {
            return Some("Redis was down: no hub can reach the store");
        }
        if during(&self.failover) {
            return Some("a failover: no primary until 1 s after the promotion");
        }
        if during(&self.reject) {
            return Some("inside a 40001 window: WeChat rejects every token");
        }
        let long_busy = self
            .busy
            .iter()
            .filter(|s| s.len(self.run_end) >= self.busy_ride)
            .any(|s| s.overlaps(failure.start, failure.end));
        if failure.error.errcode() == Some(-1) && long_busy {
            return Some("a -1 window longer than the client's busy retries");
        }
        None
    }

    /// Tallies of expected and of unexpected failures.
    pub fn tally(&self, failures: &[Failure]) -> (Vec<FailureTally>, Vec<FailureTally>) {
        let mut expected: BTreeMap<(String, &str), FailureTally> = BTreeMap::new();
        let mut unexpected: BTreeMap<(String, &str), FailureTally> = BTreeMap::new();
        for failure in failures {
            let kind = label(&failure.error);
            let (map, reason) = match self.reason(failure) {
                Some(reason) => (&mut expected, reason),
                None => (&mut unexpected, "unexpected"),
            };
            let tally = map
                .entry((kind.clone(), reason))
                .or_insert_with(|| FailureTally {
                    kind,
                    reason: reason.to_string(),
                    count: 0,
                    first_at: failure.start,
                    example: failure.error.to_string(),
                });
            tally.count += 1;
        }
        (
            expected.into_values().collect(),
            unexpected.into_values().collect(),
        )
    }
}

/// Failed calls of one kind with one reason.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailureTally {
    /// The kind of error: `wechat errcode 40001`, `hub store_unavailable
    /// (http 503)`, `transport timeout`, `refresh limited`, ...
    pub kind: String,
    /// Why failures of this kind were expected when they happened, or
    /// `unexpected`.
    pub reason: String,
    /// How many calls failed so.
    pub count: u64,
    /// When the first of them started, from the start of the run.
    pub first_at: Duration,
    /// The first one's error message.
    pub example: String,
}

/// The figures of one [`Chaos`](super::Chaos) run. `Display` prints them
/// for humans; [`problems`](ChaosReport::problems) lists the figures that
/// break the crate's promise.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChaosReport {
    /// The seed of the fault schedule.
    pub seed: u64,
    /// How long the run took.
    pub elapsed: Duration,
    /// Hub replicas and client threads.
    pub hubs: usize,
    /// Client threads, each with its own `Client`.
    pub threads: usize,
    /// Client calls made.
    pub calls: u64,
    /// Client calls that succeeded.
    pub succeeded: u64,
    /// Failed calls that the faults explain, by kind and reason.
    pub expected: Vec<FailureTally>,
    /// Failed calls that nothing explains: bugs.
    pub unexpected: Vec<FailureTally>,
    /// `/cgi-bin/token` calls the fake WeChat answered.
    pub upstream_token_calls: usize,
    /// Tokens invalidated at the fake.
    pub invalidations: usize,
    /// Times Redis came back (empty).
    pub redis_restarts: usize,
    /// Windows in which the fake answered 40001 to every token.
    pub reject_windows: usize,
    /// Windows in which the fake answered -1 to every API call.
    pub busy_windows: usize,
    /// Hub replicas killed by the schedule.
    pub hub_kills: usize,
    /// Failovers of a Sentinel run that completed (a replica promoted and
    /// the old primary back as a replica): `SENTINEL FAILOVER`s and kills.
    pub failovers: usize,
    /// Of the failovers, those that began with a `kill -9` of the primary.
    pub primary_kills: usize,
    /// The longest time from a failover fault to the sentinels all naming
    /// the new primary.
    pub longest_promotion: Duration,
    /// Whether Redis ran under Sentinel.
    pub sentinel: bool,
    /// The hubs' refresh burst the bound allows per 40001 window.
    pub refresh_burst: u32,
    /// Client calls that took longer than the hang threshold (or never
    /// returned).
    pub hangs: u64,
    /// Client calls that panicked.
    pub panics: u64,
    /// Hub processes that exited without being killed by the schedule.
    pub hub_crashes: usize,
    /// The last log lines of each crashed hub.
    pub crash_logs: Vec<String>,
    /// Probes of a replica's token (read or refreshed) against the store's.
    pub probes: u64,
    /// Probes in which a replica served a token older than the store's,
    /// whose token was older than the bound (plus 1 s for whole-second
    /// timestamps).
    pub stale_served: u64,
    /// The oldest store token a replica was found not serving.
    pub worst_staleness: Duration,
    /// The stated bound on how long a replica may serve a replaced token.
    pub staleness_bound: Duration,
    /// The longest time from an invalidation to the end of the first
    /// client call that started after it and succeeded: how long the
    /// refresh limit (and the other faults at the time) kept a replacement
    /// waiting.
    pub longest_replacement: Duration,
    /// After the run, the store held the access token the fake WeChat
    /// issued last: the lineage was neither forked (a token fetched that
    /// the store lost) nor lost (the store's token older than one a hub
    /// was served). The run has no authorizers, so this is its check that
    /// no write a failover lost stays lost. A store left empty by a Redis
    /// restart counts as kept (the hubs hold the token and write it back
    /// when they would otherwise fetch one); a Sentinel run's store must
    /// hold it.
    pub lineage_kept: bool,
    /// What the store held after the run, when it was not the fake's last
    /// token (token values shown by their serial only).
    pub lineage_note: Option<String>,
    /// Requests the balancer sent to another hub after one failed.
    pub balancer_retries: usize,
    /// Requests the balancer answered 502 (every hub failed).
    pub balancer_502: usize,
    /// Things the harness itself could not do (a hub or Redis that would
    /// not start again); the run goes on without them.
    pub harness_errors: Vec<String>,
}

impl ChaosReport {
    /// The most upstream token calls the faults justify: the first fetch,
    /// one per invalidation and per Redis restart, and per 40001 window
    /// (at most 2 s) the burst and the one call the limit allows 2 s on.
    pub fn upstream_bound(&self) -> usize {
        1 + self.invalidations
            + self.redis_restarts
            + self.reject_windows * (self.refresh_burst as usize + 1)
    }

    /// Failed calls that nothing explains.
    pub fn unexpected_failures(&self) -> u64 {
        self.unexpected.iter().map(|t| t.count).sum()
    }

    /// Failed calls that the faults explain.
    pub fn expected_failures(&self) -> u64 {
        self.expected.iter().map(|t| t.count).sum()
    }

    /// Every figure that breaks the promise, one line each; empty when
    /// the run is clean.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |bad: bool, what: String| {
            if bad {
                problems.push(what);
            }
        };
        check(self.hangs > 0, format!("{} hung call(s)", self.hangs));
        check(self.panics > 0, format!("{} panic(s)", self.panics));
        check(
            self.hub_crashes > 0,
            format!("{} hub crash(es)", self.hub_crashes),
        );
        check(
            self.unexpected_failures() > 0,
            format!("{} unexpected failed call(s)", self.unexpected_failures()),
        );
        check(
            self.upstream_token_calls > self.upstream_bound(),
            format!(
                "{} upstream token calls, more than the bound {}",
                self.upstream_token_calls,
                self.upstream_bound()
            ),
        );
        check(
            self.stale_served > 0,
            format!(
                "{} probe(s) found a replica serving a replaced token beyond {:?} (worst {:?})",
                self.stale_served, self.staleness_bound, self.worst_staleness
            ),
        );
        check(
            !self.lineage_kept,
            format!(
                "the store does not hold the fake's current token after the run: {}",
                self.lineage_note.as_deref().unwrap_or("unknown")
            ),
        );
        check(
            self.calls == 0 || self.succeeded == 0,
            "no successful call: the run tested nothing".to_string(),
        );
        check(
            !self.harness_errors.is_empty(),
            format!("{} harness error(s)", self.harness_errors.len()),
        );
        problems
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos run: seed {}, {:.1} s, {} hubs, {} client threads",
            self.seed,
            self.elapsed.as_secs_f64(),
            self.hubs,
            self.threads
        )?;
        writeln!(
            f,
            "faults: {} invalidations, {} 40001 windows, {} -1 windows, {} hub kills, {} Redis restarts",
            self.invalidations,
            self.reject_windows,
            self.busy_windows,
            self.hub_kills,
            self.redis_restarts
        )?;
        if self.sentinel {
            writeln!(
                f,
                "failovers (Redis Sentinel): {} ({} SENTINEL FAILOVER, {} kill -9 of the primary); longest until the promotion: {:.1} s",
                self.failovers,
                self.failovers.saturating_sub(self.primary_kills),
                self.primary_kills,
                self.longest_promotion.as_secs_f64()
            )?;
        }
        writeln!(
            f,
            "calls: {} ({} ok, {} failed as expected, {} failed unexpectedly)",
            self.calls,
            self.succeeded,
            self.expected_failures(),
            self.unexpected_failures()
        )?;
        for (title, tallies) in [
            ("expected", &self.expected),
            ("UNEXPECTED", &self.unexpected),
        ] {
            for t in tallies.iter() {
                writeln!(
                    f,
                    "  {title:>10} {:>6} x {} ({}); first at {:.1} s: {}",
                    t.count,
                    t.kind,
                    t.reason,
                    t.first_at.as_secs_f64(),
                    t.example
                )?;
            }
        }
        writeln!(
            f,
            "upstream /cgi-bin/token calls: {} (bound: 1 + {} invalidations + {} Redis restarts + {} windows x (burst {} + 1) = {})",
            self.upstream_token_calls,
            self.invalidations,
            self.redis_restarts,
            self.reject_windows,
            self.refresh_burst,
            self.upstream_bound()
        )?;
        writeln!(
            f,
            "longest replacement after an invalidation: {:.1} s",
            self.longest_replacement.as_secs_f64()
        )?;
        writeln!(
            f,
            "hangs: {}, panics: {}, hub crashes: {}",
            self.hangs, self.panics, self.hub_crashes
        )?;
        for log in &self.crash_logs {
            writeln!(f, "  crashed hub's last lines:\n{log}")?;
        }
        writeln!(
            f,
            "stale tokens served beyond {:?} + 1 s: {} of {} probes (worst: store token {:?} old)",
            self.staleness_bound, self.stale_served, self.probes, self.worst_staleness
        )?;
        match (&self.lineage_note, self.lineage_kept) {
            (None, true) => writeln!(f, "store after the run: the fake's current token")?,
            (Some(note), true) => writeln!(f, "store after the run: {note}")?,
            (note, false) => writeln!(
                f,
                "store after the run: NOT the fake's current token: {}",
                note.as_deref().unwrap_or("unknown")
            )?,
        }
        writeln!(
            f,
            "balancer: {} retries on another hub, {} answered 502",
            self.balancer_retries, self.balancer_502
        )?;
        for e in &self.harness_errors {
            writeln!(f, "harness error: {e}")?;
        }
        let problems = self.problems();
        if problems.is_empty() {
            write!(f, "verdict: clean")
        } else {
            write!(f, "verdict: {}", problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call refused by the refresh limit from `start` ms for 10 ms.
    fn limited(start: u64) -> Failure {
        Failure {
            start: Duration::from_millis(start),
            end: Duration::from_millis(start + 10),
            error: crate::RefreshLimit::default().refused(
                &crate::TokenKey::access_token("wx1"),
                Duration::from_secs(1),
                None,
            ),
        }
    }

    fn span(start: u64, end: u64) -> Span {
        Span {
            start: Duration::from_millis(start),
            end: Some(Duration::from_millis(end)),
        }
    }

    #[test]
    fn all_hubs_down_is_the_intersection() {
        let windows = Windows {
            hub_down: vec![vec![span(0, 100), span(200, 400)], vec![span(50, 300)]],
            ..Windows::default()
        };
        let all = windows.all_hubs_down(Duration::from_secs(1));
        let got: Vec<(u128, u128)> = all
            .iter()
            .map(|s| (s.start.as_millis(), s.end.unwrap().as_millis()))
            .collect();
        assert_eq!(got, vec![(50, 100), (200, 300)]);
    }

    #[test]
    fn failures_are_judged_against_the_windows() {
        let windows = Windows {
            reject: vec![span(1000, 2000)],
            invalidated: vec![Duration::from_millis(8000)],
            busy: vec![span(3000, 3100), span(5000, 9000)],
            hub_down: vec![vec![span(0, 10_000)]],
            ..Windows::default()
        };
        let judge = Judge {
            all_hubs_down: Vec::new(),
            ..Judge::new(&windows, Duration::from_secs(20), Duration::from_secs(1))
        };
        let failure = |start: u64, end: u64, errcode: i64| Failure {
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            error: Error::api(errcode, "x", 200),
        };
        assert!(judge.reason(&failure(1900, 2100, 40001)).is_some());
        assert!(judge.reason(&limited(1500)).is_some(), "in the window");
        assert!(judge.reason(&limited(7900)).is_some(), "just after it");
        assert!(
            judge.reason(&limited(8000)).is_none(),
            "the replacement of the token invalidated after it"
        );
        assert!(judge.reason(&limited(500)).is_none(), "before it");
        assert!(judge.reason(&limited(10_100)).is_none(), "long after it");
        assert!(judge.reason(&failure(2100, 2200, 40001)).is_none());
        assert!(
            judge.reason(&failure(3000, 3050, -1)).is_none(),
            "short window"
        );
        assert!(
            judge.reason(&failure(6000, 7000, -1)).is_some(),
            "long window"
        );
        let (expected, unexpected) = judge.tally(&[
            failure(1500, 1600, 40001),
            failure(1700, 1800, 40001),
            failure(2500, 2600, 40001),
        ]);
        assert_eq!((expected[0].count, unexpected[0].count), (2, 1));
        assert_eq!(unexpected[0].kind, "wechat errcode 40001");
    }

    #[test]
    fn a_failover_window_explains_failures_that_overlap_it_only() {
        let windows = Windows {
            failover: vec![span(4000, 7000)],
            hub_down: vec![Vec::new()],
            ..Windows::default()
        };
        let judge = Judge::new(&windows, Duration::from_secs(20), Duration::from_secs(1));
        let failure = |start: u64, end: u64| Failure {
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            error: Error::api(-1, "x", 200),
        };
        assert!(judge.reason(&failure(3000, 4100)).is_some());
        assert!(judge.reason(&failure(6900, 9000)).is_some());
        assert!(judge.reason(&failure(3000, 3999)).is_none());
        assert!(judge.reason(&failure(7001, 7100)).is_none());
    }

    #[test]
    fn a_failover_in_a_storm_ends_the_storm_with_its_window() {
        let windows = Windows {
            reject: vec![span(1000, 2000)],
            invalidated: vec![Duration::from_millis(8000)],
            failover: vec![span(2500, 5000)],
            hub_down: vec![Vec::new()],
            ..Windows::default()
        };
        let judge = Judge::new(&windows, Duration::from_secs(20), Duration::from_secs(1));
        // The limit's wait after the storm, which the failover held until
        // 5 s, may last until 5 s + AFTER_STORM, past the invalidation.
        assert!(judge.reason(&limited(9000)).is_some());
        assert!(judge.reason(&limited(9999)).is_some());
        assert!(judge.reason(&limited(10_000)).is_none());
        // A failover long after the invalidation holds no storm.
        let later = Windows {
            failover: vec![span(9000, 11_000)],
            ..windows
        };
        let judge = Judge::new(&later, Duration::from_secs(20), Duration::from_secs(1));
        assert!(judge.reason(&limited(8500)).is_none());
    }
}
