//! `RefreshLimit`: how often a token may be fetched upstream, per key, and
//! what a token rejected soon after it was fetched means.

use std::time::Duration;

use crate::clock::millis;
use crate::error::{Error, ErrorKind};
use crate::token::{Token, TokenKey};

/// The first wait after the burst: long enough that a storm of rejections
/// costs a call per couple of seconds at most, short enough that a token
/// invalidated just after a storm is replaced at once.
const SHORT: Duration = Duration::from_secs(2);

/// How far past the floor the wait keeps doubling while a storm goes on, in
/// floors: one call per floor would be 2,880 a day, more than WeChat's daily
/// quota (2,000 `/cgi-bin/token` calls); one per four floors is 720.
const CEILING_FLOORS: u64 = 4;

/// How many upstream token calls one key may make: a burst at once, then a
/// wait that starts short and grows while WeChat keeps rejecting new
/// tokens.
///
/// After the burst (3 calls by default) the next call is allowed after
/// 2 s; each further call that replaces a token younger than the floor
/// (one WeChat rejected, or a caller threw away) doubles the wait, up to
/// the floor (30 s by default), and while the storm goes on, up to four
/// floors (2 minutes). A call that replaces no young token (a first fetch,
/// a hub's refresh ahead of expiry) spends the burst but never lengthens
/// the wait, so a key refreshed on schedule is never held back.
/// The wait falls back to 2 s once a token has lived a floor past the time
/// its replacement was allowed (a token WeChat kept accepting), and each
/// further floor of such quiet gives one call of the burst back.
///
/// So a storm (WeChat rejecting every new token for a couple of seconds)
/// costs the burst and a call or two, and a token invalidated a few
/// seconds after it has ended is replaced at once, while a storm that never
/// ends stays cheap. With the default limit, a key that asks for a new
/// token every second of a storm gets at most:
///
/// - 8 calls in its first 60 s (the burst, then at 2, 6, 14, 30 and 60 s);
/// - 727 calls in 24 hours (9 in the first 2 minutes, then one per
///   2 minutes), a third of WeChat's daily quota (2,000 `/cgi-bin/token`
///   calls).
///
/// A call the limit refuses fails with
/// [`ErrorKind::RefreshLimited`](crate::ErrorKind::RefreshLimited), which
/// names the likely cause when the token was rejected within the floor of
/// its fetch: another process fetching tokens with the same secret. That
/// is also logged (at warning level), once per storm per key; a caller's
/// own [`Client::refreshed_token`](crate::Client::refreshed_token) is not a
/// rejection and logs nothing.
///
/// The client cache applies it to every fetch and refresh it sends to its
/// source; a hub applies it through its store, so all replicas share one
/// schedule per key.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::testing::FakeWechat;
/// use weixin::{Client, ManualClock, RefreshLimit, SecretSource};
///
/// let limit = RefreshLimit::default();
/// assert_eq!((limit.burst(), limit.floor()), (3, Duration::from_secs(30)));
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let clock = ManualClock::starting_now();
/// let client = Client::builder()
///     .appid("wx1")
///     .base_url(fake.url())
///     .token_source(SecretSource::new("wx1", "s1"))
///     .clock(clock.clock())
///     .build()?;
/// // A storm: WeChat rejects every token. The first call spends the burst
/// // (a token and two refreshes), the next is refused.
/// fake.reject_tokens(true);
/// let rejected = client.request("/cgi-bin/get_api_domain_ip").unwrap_err();
/// assert_eq!(rejected.errcode(), Some(40001));
/// let refused = client.request("/cgi-bin/get_api_domain_ip").unwrap_err();
/// assert!(refused.is_refresh_limited());
/// assert!(refused.to_string().contains("another process or machine"));
/// assert_eq!(fake.count("/cgi-bin/token"), 3);
/// // The storm ends; a token invalidated 2 s later is replaced at once.
/// fake.reject_tokens(false);
/// clock.advance(Duration::from_secs(2));
/// fake.invalidate_current("wx1");
/// client.request("/cgi-bin/get_api_domain_ip")?;
/// assert_eq!(fake.count("/cgi-bin/token"), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshLimit {
    burst: u32,
    floor: Duration,
}

impl Default for RefreshLimit {
    fn default() -> RefreshLimit {
        RefreshLimit {
            burst: 3,
            floor: Duration::from_secs(30),
        }
    }
}

/// One key's place in its [`RefreshLimit`]: what the client cache keeps
/// beside a token and a hub's store keeps per key, packed in one `u64`
/// ([`pack`](Schedule::pack)) so that every store keeps it as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// When the next call is allowed (Unix milliseconds), once the burst
    /// is spent.
    next: u64,
    /// The calls of the current storm, less those given back by quiet:
    /// below the burst, calls go at once; past it, each doubles the wait.
    calls: u8,
    /// Whether this storm's lineage warning was logged.
    warned: bool,
}

/// The bits of a packed [`Schedule`] that hold `next`: Unix milliseconds
/// fit in 48 bits for another 8,000 years, and a schedule stored before
/// the other fields existed (a plain time) reads as a whole burst.
const NEXT_BITS: u32 = 48;

impl Schedule {
    /// The schedule as a store keeps it.
    pub fn pack(self) -> u64 {
        let next = self.next.min((1 << NEXT_BITS) - 1);
        next | u64::from(self.calls) << NEXT_BITS | u64::from(self.warned) << (NEXT_BITS + 8)
    }

    /// A schedule from a store (`None`: a key never limited, or whose
    /// schedule was lost).
    pub fn unpack(packed: Option<u64>) -> Schedule {
        let packed = packed.unwrap_or(0);
        Schedule {
            next: packed & ((1 << NEXT_BITS) - 1),
            calls: (packed >> NEXT_BITS) as u8,
            warned: (packed >> (NEXT_BITS + 8)) & 1 == 1,
        }
    }
}

/// What the limit decided for one call: the key's schedule from now on,
/// whether the call may go upstream, and the age of a token WeChat
/// rejected young to warn about (once per storm).
#[derive(Debug)]
pub(crate) struct Admission {
    /// The schedule to keep, if it changed.
    pub schedule: Option<Schedule>,
    /// The call may go (`Ok`), or the refusal.
    pub outcome: Result<(), Error>,
    /// Log [`warn_lineage_fight`] with this age.
    pub warn: Option<Duration>,
}

impl RefreshLimit {
    /// `burst` calls at once (at least 1, at most 255), then waits from
    /// 2 s doubling up to `floor` (and on up to four floors while a storm
    /// lasts); see the type's docs.
    pub fn new(burst: u32, floor: Duration) -> RefreshLimit {
        RefreshLimit {
            // A key's calls are counted in a byte of its packed schedule.
            burst: burst.clamp(1, u32::from(u8::MAX)),
            floor,
        }
    }

    /// No limit at all: every fetch and refresh goes upstream.
    pub fn unlimited() -> RefreshLimit {
        RefreshLimit::new(1, Duration::ZERO)
    }

    /// The calls allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The wait the storm's doubling reaches before it goes on to four
    /// floors, and the quiet after which the wait falls back to 2 s.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    /// The wait (milliseconds) after the call that brought a storm to
    /// `calls` calls.
    fn wait_after(&self, calls: u8) -> u64 {
        let floor = millis(self.floor);
        let Some(doublings) = u32::from(calls).checked_sub(self.burst) else {
            return 0;
        };
        let mut wait = millis(SHORT).min(floor);
        for _ in 0..doublings {
            let cap = if wait < floor {
                floor
            } else {
                floor.saturating_mul(CEILING_FLOORS)
            };
            if wait >= cap {
                break;
            }
            wait = wait.saturating_mul(2).min(cap);
        }
        wait
    }

    /// When the last call admitted by `schedule` was made, if any.
    fn last_call(&self, schedule: &Schedule) -> Option<u64> {
        (schedule.calls > 0).then(|| {
            schedule
                .next
                .saturating_sub(self.wait_after(schedule.calls))
        })
    }

    /// Admits one call at `now_ms` (Unix milliseconds) given the key's
    /// `schedule`. Returns the new schedule, or how long until a call is
    /// allowed. `young`: the call replaces a token younger than the floor
    /// (WeChat rejected it, or a caller threw it away): past the burst,
    /// such a call doubles the wait. Any other call (a first fetch, a
    /// token replaced ahead of its expiry, one that lived past the floor)
    /// spends the burst but never lengthens the wait, so a key refreshed
    /// on schedule is never held back by the doubling.
    pub(crate) fn admit(
        &self,
        schedule: Schedule,
        now_ms: u64,
        young: bool,
    ) -> Result<Schedule, Duration> {
        let floor = millis(self.floor);
        if floor == 0 {
            // Unlimited, even for callers whose clock readings interleave.
            return Ok(Schedule {
                next: now_ms,
                ..schedule
            });
        }
        // Below the burst the next call was never held back (a schedule
        // stored as a plain time reads so too).
        if u32::from(schedule.calls) >= self.burst && now_ms < schedule.next {
            return Err(Duration::from_millis(schedule.next - now_ms));
        }
        let mut next = schedule;
        // Floors the last token lived past the time its replacement was
        // allowed: the storm is over; the wait falls back, and each further
        // floor gives one call of the burst back.
        let quiet = now_ms.saturating_sub(schedule.next) / floor;
        if quiet > 0 {
            let back = u8::try_from(quiet - 1).unwrap_or(u8::MAX);
            let spent = u8::try_from(self.burst - 1).unwrap_or(u8::MAX);
            next.calls = next.calls.min(spent).saturating_sub(back);
            next.warned = false;
        }
        if young || u32::from(next.calls) < self.burst {
            next.calls = next.calls.saturating_add(1);
        }
        next.next = now_ms.saturating_add(self.wait_after(next.calls));
        Ok(next)
    }

    /// Decides one upstream call for `key` at `now_ms`, given its stored
    /// schedule. `replaced`: the token this call replaces because WeChat
    /// rejected it or a caller threw it away (`None` for a fetch or a
    /// refresh ahead); if it is younger than the floor, the call counts
    /// towards the storm (see [`admit`](RefreshLimit::admit)). `rejected`:
    /// WeChat rejected it; then its age is named in a refusal and warned
    /// about once per storm (a caller's own refresh warns of nothing).
    pub(crate) fn decide(
        &self,
        key: &TokenKey,
        stored: Schedule,
        now_ms: u64,
        replaced: Option<&Token>,
        rejected: bool,
    ) -> Admission {
        let age = replaced.and_then(|token| {
            // The age on the limit's own clock when it made the call; a
            // token it never fetched carries its own timestamp.
            let fetched = self
                .last_call(&stored)
                .unwrap_or(token.timestamp().saturating_mul(1000));
            let age = Duration::from_millis(now_ms.saturating_sub(fetched));
            (age < self.floor).then_some(age)
        });
        let young = age.filter(|_| rejected);
        match self.admit(stored, now_ms, age.is_some()) {
            Ok(mut schedule) => {
                let warn = young.filter(|_| !schedule.warned);
                schedule.warned |= warn.is_some();
                Admission {
                    schedule: Some(schedule),
                    outcome: Ok(()),
                    warn,
                }
            }
            Err(retry_after) => {
                let warn = young.filter(|_| !stored.warned);
                Admission {
                    schedule: warn.map(|_| Schedule {
                        warned: true,
                        ..stored
                    }),
                    outcome: Err(self.refused(key, retry_after, young)),
                    warn,
                }
            }
        }
    }

    /// The refusal of a call for `key`.
    pub(crate) fn refused(
        &self,
        key: &TokenKey,
        retry_after: Duration,
        rejected_after: Option<Duration>,
    ) -> Error {
        Error::new(ErrorKind::RefreshLimited {
            key: format!("{key:?}"),
            retry_after,
            rejected_after,
        })
    }
}

/// What a token rejected soon after it was fetched almost always means.
pub(crate) const LINEAGE_FIGHT: &str = "another process or machine is almost certainly \
fetching tokens for this appid with the same secret, so the two token lineages invalidate \
each other; let every process get its token from one hub (wechat-hub, HubSource)";

/// Logs that the token for `key` was rejected `age` after it was fetched.
pub(crate) fn warn_lineage_fight(key: &TokenKey, age: Duration) {
    log::warn!(
        "wechat: token for {key:?} rejected {}s after it was fetched: {LINEAGE_FIGHT}",
        age.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    /// The times (seconds from `T0`) of the calls `limit` admits when a
    /// call is asked for every second for `secs` seconds.
    fn storm(limit: RefreshLimit, secs: u64) -> Vec<u64> {
        let mut schedule = Schedule::default();
        let mut admitted = Vec::new();
        for s in 0..secs {
            // Several asks a second, as many callers would make.
            for _ in 0..3 {
                if let Ok(next) = limit.admit(schedule, T0 + s * 1000, true) {
                    schedule = next;
                    admitted.push(s);
                }
            }
        }
        admitted
    }

    #[test]
    fn a_storm_gets_the_burst_then_waits_doubling_from_two_seconds() {
        let calls = storm(RefreshLimit::default(), 61);
        assert_eq!(calls, [0, 0, 0, 2, 6, 14, 30, 60]);
        // The bound the docs state: 8 calls in the first 60 s (inclusive).
        assert_eq!(calls.len(), 8);
    }

    #[test]
    fn a_storm_of_a_day_stays_well_under_the_daily_quota() {
        let calls = storm(RefreshLimit::default(), 86_400);
        assert_eq!(&calls[..9], [0, 0, 0, 2, 6, 14, 30, 60, 120]);
        // Then one per four floors.
        assert!(
            calls[9..].windows(2).all(|w| w[1] - w[0] == 120),
            "{calls:?}"
        );
        assert_eq!(calls.len(), 727);
        assert!(calls.len() < 2_000 / 2);
    }

    #[test]
    fn the_wait_falls_back_once_a_token_lives_past_the_floor() {
        let limit = RefreshLimit::default();
        let mut schedule = Schedule::default();
        let at = |s: &mut Schedule, secs: u64| {
            limit
                .admit(*s, T0 + secs * 1000, true)
                .map(|next| *s = next)
        };
        // A 2-second storm: the burst at 0, one more at 2 s.
        for _ in 0..3 {
            at(&mut schedule, 0).unwrap();
        }
        assert_eq!(at(&mut schedule, 1), Err(Duration::from_secs(1)));
        at(&mut schedule, 2).unwrap();
        // An isolated invalidation 5 s after the storm: replaced at once.
        at(&mut schedule, 7).unwrap();
        // Another young one doubles the wait again (8 s after 7 s).
        assert_eq!(at(&mut schedule, 10), Err(Duration::from_secs(5)));
        // A token that lived a floor past 15 s: the wait is 2 s again...
        at(&mut schedule, 45).unwrap();
        assert_eq!(at(&mut schedule, 46), Err(Duration::from_secs(1)));
        at(&mut schedule, 47).unwrap();
        // ...and each further floor gives one call of the burst back.
        at(&mut schedule, 47 + 4 + 30 + 30).unwrap();
        at(&mut schedule, 111).unwrap();
        assert_eq!(at(&mut schedule, 111), Err(Duration::from_secs(2)));
        at(&mut schedule, 1_000).unwrap();
        at(&mut schedule, 1_000).unwrap();
        at(&mut schedule, 1_000).unwrap();
        assert!(at(&mut schedule, 1_000).is_err());
    }

    #[test]
    fn refreshes_on_schedule_never_lengthen_the_wait() {
        // A hub refreshing 60 s tokens ahead, every 28 s for a day: each
        // call is admitted, and a storm after them starts at 2 s.
        let limit = RefreshLimit::default();
        let mut schedule = Schedule::default();
        for n in 0..86_400 / 28 {
            schedule = limit
                .admit(schedule, T0 + n * 28_000, false)
                .unwrap_or_else(|wait| panic!("call {n} refused for {wait:?}"));
        }
        let at = T0 + 86_400_000;
        schedule = limit.admit(schedule, at, true).unwrap();
        assert_eq!(
            limit.admit(schedule, at, true),
            Err(Duration::from_secs(2)),
            "a storm after a day of refreshes on schedule starts at 2 s"
        );
    }

    #[test]
    fn a_callers_own_refresh_counts_towards_the_storm_but_warns_of_nothing() {
        let limit = RefreshLimit::new(1, Duration::from_secs(30));
        let key = TokenKey::access_token("wx1");
        let token = Token::with_timestamp("t", T0 / 1000, 7200);
        let first = limit.decide(&key, Schedule::default(), T0, None, false);
        let stored = first.schedule.unwrap();
        let own = limit.decide(&key, stored, T0 + 5_000, Some(&token), false);
        assert_eq!(own.warn, None);
        let stored = own.schedule.unwrap();
        // Past the burst of 1: 2 s, then doubled to 4 s by the young refresh.
        let refused = limit.decide(&key, stored, T0 + 6_000, Some(&token), false);
        assert_eq!(refused.warn, None);
        match refused.outcome.unwrap_err().kind() {
            ErrorKind::RefreshLimited {
                retry_after,
                rejected_after,
                ..
            } => assert_eq!(
                (*retry_after, *rejected_after),
                (Duration::from_secs(3), None)
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_burst_past_what_a_schedule_counts_is_cut_to_255() {
        let limit = RefreshLimit::new(1_000, Duration::from_secs(30));
        assert_eq!(limit.burst(), 255);
        let mut schedule = Schedule::default();
        for _ in 0..255 {
            schedule = limit.admit(schedule, T0, true).unwrap();
        }
        assert!(limit.admit(schedule, T0, true).is_err());
    }

    #[test]
    fn unlimited_admits_everything() {
        let limit = RefreshLimit::unlimited();
        let mut schedule = Schedule::default();
        for now in (0..1000).rev() {
            schedule = limit.admit(schedule, now, true).unwrap();
        }
    }

    #[test]
    fn a_schedule_packs_into_one_number_and_an_old_one_is_a_whole_burst() {
        let schedule = Schedule {
            next: T0,
            calls: 7,
            warned: true,
        };
        assert_eq!(Schedule::unpack(Some(schedule.pack())), schedule);
        assert_eq!(Schedule::unpack(None), Schedule::default());
        // A schedule stored as a plain time by an older hub, far ahead.
        let old = Schedule::unpack(Some(T0 + 90_000));
        let limit = RefreshLimit::default();
        assert!(limit.admit(old, T0, true).is_ok());
    }

    #[test]
    fn young_rejections_warn_once_per_storm() {
        let limit = RefreshLimit::default();
        let key = TokenKey::access_token("wx1");
        let token = Token::with_timestamp("t", T0 / 1000, 7200);
        let mut stored = Schedule::default();
        let mut decide = |secs: u64, rejected: Option<&Token>| {
            let admission = limit.decide(&key, stored, T0 + secs * 1000, rejected, true);
            if let Some(schedule) = admission.schedule {
                stored = schedule;
            }
            (admission.outcome.is_ok(), admission.warn)
        };
        // The first fetch: nothing to warn about.
        assert_eq!(decide(0, None), (true, None));
        // A caller's own refresh 5 s later is no rejection.
        assert_eq!(decide(5, None), (true, None));
        // WeChat rejects the new one 1 s later: warned, then not again,
        // admitted or refused.
        assert_eq!(
            decide(6, Some(&token)),
            (true, Some(Duration::from_secs(1)))
        );
        assert_eq!(decide(6, Some(&token)), (false, None));
        assert_eq!(decide(8, Some(&token)), (true, None));
        // A token that lived a floor past its wait ends the storm; the
        // next young rejection warns again.
        assert_eq!(decide(60, Some(&token)), (true, None));
        assert_eq!(
            decide(61, Some(&token)),
            (false, Some(Duration::from_secs(1)))
        );
        // The refusal names the rejection's age.
        let refused = limit.decide(&key, stored, T0 + 61_000, Some(&token), true);
        match refused.outcome.unwrap_err().kind() {
            ErrorKind::RefreshLimited { rejected_after, .. } => {
                assert_eq!(*rejected_after, Some(Duration::from_secs(1)))
            }
            other => panic!("{other:?}"),
        }
    }
}
