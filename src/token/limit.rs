//! `RefreshLimit`: how often a token may be fetched upstream, per key, and
//! what a token rejected soon after it was fetched means.

use std::time::Duration;

use crate::clock::millis;
use crate::error::{Error, ErrorKind};
use crate::token::{Token, TokenKey};

/// How many upstream token calls one key may make: a burst at once, then
/// one per floor interval.
///
/// An isolated rejection recovers at once (the burst), while a storm (WeChat
/// rejecting every new token, or another process fetching tokens with the
/// same secret) costs a handful of calls a minute instead of hundreds a
/// second, and WeChat's daily quota (2,000 `/cgi-bin/token` calls) lasts.
/// A call the limit refuses fails with
/// [`ErrorKind::RefreshLimited`](crate::ErrorKind::RefreshLimited).
///
/// The client cache applies it to every fetch and refresh it sends to its
/// source; a hub applies it through its store, so all replicas share one
/// budget per key.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wechat::RefreshLimit;
///
/// let limit = RefreshLimit::default();
/// assert_eq!((limit.burst(), limit.floor()), (3, Duration::from_secs(30)));
/// let tight = RefreshLimit::new(1, Duration::from_secs(60));
/// assert_eq!(tight.burst(), 1);
///
/// // A client whose source keeps handing out tokens WeChat rejects.
/// #[derive(Debug)]
/// struct Minting;
/// impl wechat::TokenSource for Minting {
///     fn fetch(&self, _: &wechat::TokenKey, _: &wechat::Context<'_>) -> wechat::Result<wechat::Token> {
///         Ok(wechat::Token::new("T", 7200))
///     }
/// }
/// let client = wechat::Client::builder().refresh_limit(tight).token_source(Minting).build()?;
/// let key = wechat::TokenKey::access_token("wx1");
/// let token = client.token(&key)?; // the burst
/// let refused = client.refreshed_token(&key, &token).unwrap_err();
/// assert!(refused.is_refresh_limited());
/// assert!(refused.to_string().contains("another process or machine"));
/// # Ok::<(), wechat::Error>(())
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

impl RefreshLimit {
    /// `burst` calls at once (at least 1), then one per `floor`.
    pub fn new(burst: u32, floor: Duration) -> RefreshLimit {
        RefreshLimit {
            burst: burst.max(1),
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

    /// The interval after which one more call is allowed.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    /// Admits one call at `now_ms` (Unix milliseconds) given the key's
    /// `schedule` (the time the budget is next whole, as this function last
    /// returned it; `None` for a key never limited). Returns the new
    /// schedule, or how long until a call is allowed.
    pub(crate) fn admit(&self, schedule: Option<u64>, now_ms: u64) -> Result<u64, Duration> {
        // A generic cell rate algorithm: one number per key.
        let floor = millis(self.floor);
        if floor == 0 {
            // Unlimited, even for callers whose clock readings interleave.
            return Ok(now_ms);
        }
        let schedule = schedule.unwrap_or(0).max(now_ms);
        let allowance = floor.saturating_mul(u64::from(self.burst - 1));
        if schedule - now_ms > allowance {
            return Err(Duration::from_millis(schedule - now_ms - allowance));
        }
        Ok(schedule.saturating_add(floor))
    }

    /// How long after it was fetched `stale` was rejected, if that is within
    /// the floor: the sign of two token lineages fighting.
    pub(crate) fn rejected_young(&self, stale: &Token, now_secs: u64) -> Option<Duration> {
        let age = Duration::from_secs(now_secs.saturating_sub(stale.timestamp()));
        (age < self.floor).then_some(age)
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

    #[test]
    fn a_burst_then_one_per_floor() {
        let limit = RefreshLimit::new(3, Duration::from_secs(30));
        let mut schedule = None;
        let t0 = 1_000_000;
        for _ in 0..3 {
            schedule = Some(limit.admit(schedule, t0).unwrap());
        }
        assert_eq!(limit.admit(schedule, t0), Err(Duration::from_secs(30)));
        assert_eq!(
            limit.admit(schedule, t0 + 29_999),
            Err(Duration::from_millis(1))
        );
        schedule = Some(limit.admit(schedule, t0 + 30_000).unwrap());
        assert!(limit.admit(schedule, t0 + 30_000).is_err());
        // A quiet key earns its whole burst back, and no more.
        let rested = Some(limit.admit(schedule, t0 + 3_600_000).unwrap());
        let rested = Some(limit.admit(rested, t0 + 3_600_000).unwrap());
        let rested = Some(limit.admit(rested, t0 + 3_600_000).unwrap());
        assert!(limit.admit(rested, t0 + 3_600_000).is_err());
    }

    #[test]
    fn unlimited_admits_everything() {
        let limit = RefreshLimit::unlimited();
        let mut schedule = None;
        for now in (0..1000).rev() {
            schedule = Some(limit.admit(schedule, now).unwrap());
        }
    }

    #[test]
    fn young_rejections_are_told_apart() {
        let limit = RefreshLimit::default();
        let token = Token::with_timestamp("t", 1000, 7200);
        assert_eq!(
            limit.rejected_young(&token, 1005),
            Some(Duration::from_secs(5))
        );
        assert_eq!(limit.rejected_young(&token, 1030), None);
    }
}
