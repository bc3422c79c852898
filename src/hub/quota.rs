//! WeChat's daily quotas as the hub remembers them: days in China time,
//! and a quota WeChat answered used up (errcode 45009) kept so in the
//! store until the day ends or a `clear_quota` lifts it, so that every
//! replica answers `quota_exhausted` at once and none calls WeChat for it
//! again that day.
//!
//! The marks are [`Store`] counters (every store keeps them, shared by
//! replicas and across restarts): named by the WeChat day, they end by
//! themselves at midnight UTC+8; named by a generation that a successful
//! `clear_quota` moves on, they are lifted all at once for the account.

use std::time::Duration;

use super::metrics::kind_of;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::token::TokenKey;

/// WeChat's days start at midnight in China (UTC+8).
const UTC_PLUS_8: u64 = 8 * 3600;

/// A day's counter is kept two days, then forgotten.
pub(crate) const COUNTER_TTL: Duration = Duration::from_secs(2 * 86_400);

/// WeChat's answer when a daily quota is used up.
pub(crate) const QUOTA_ERRCODE: i64 = 45009;

/// The shares of the daily quota (in percent) whose crossing the hub
/// logs as a warning, and the status page shows.
pub(crate) const WARN_AT_PERCENT: [u64; 2] = [50, 90];

/// The number of calls at which `percent` of `quota` is reached (for any
/// `quota`: a huge one cannot overflow).
pub(crate) fn calls_at(quota: u64, percent: u64) -> u64 {
    (u128::from(quota) * u128::from(percent))
        .div_ceil(100)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The highest of [`WARN_AT_PERCENT`] that `calls` of `quota` reached, if
/// any.
pub(crate) fn warning(calls: u64, quota: u64) -> Option<u64> {
    WARN_AT_PERCENT
        .into_iter()
        .rev()
        .find(|percent| calls >= calls_at(quota, *percent))
}

/// The WeChat day (days since the epoch, in UTC+8) of `unix_secs`.
pub(crate) fn wechat_day(unix_secs: u64) -> u64 {
    (unix_secs + UTC_PLUS_8) / 86_400
}

/// When the WeChat day of `unix_secs` ends and its quotas reset (Unix
/// seconds): the next midnight in China.
pub(crate) fn day_ends_at(unix_secs: u64) -> u64 {
    (wechat_day(unix_secs) + 1) * 86_400 - UTC_PLUS_8
}

/// The account a key's quota is counted for: the appid, and the
/// authorizer's under a platform.
fn account(key: &TokenKey) -> String {
    match key.authorizer_appid() {
        Some(authorizer) => format!("{}/{authorizer}", key.appid()),
        None => key.appid().to_string(),
    }
}

/// The quota `key`'s calls are counted against, by kind and account:
/// `token:wx1`, `ticket:wx1` (both ticket types), `authorizer:wxc/wxa`.
pub(crate) fn quota_of(key: &TokenKey) -> String {
    format!("{}:{}", kind_of(key), account(key))
}

/// The counter of `appid`'s successful clears on `day`: the generation
/// its marks are named by.
fn cleared_name(day: u64, appid: &str) -> String {
    format!("quota_cleared:{day}:{appid}")
}

/// The mark of `key`'s quota used up on `day`, in `generation`.
fn mark_name(day: u64, generation: u64, key: &TokenKey) -> String {
    format!("quota_exhausted:{day}:{generation}:{}", quota_of(key))
}

/// The tally of `appid`'s quotas of `kind` used up on `day`, in
/// `generation`: `/metrics` reads one per account and kind, not one per
/// authorizer.
fn tally_name(day: u64, generation: u64, kind: &str, appid: &str) -> String {
    format!("quotas_exhausted:{day}:{generation}:{kind}:{appid}")
}

/// Until when (Unix seconds) `key`'s quota is known used up at `now`, if
/// it is: WeChat answered 45009 for its kind and account today, and no
/// `clear_quota` of the account succeeded since.
///
/// # Errors
///
/// If the store cannot be read.
pub(crate) fn exhausted_until(store: &dyn Store, key: &TokenKey, now: u64) -> Result<Option<u64>> {
    let day = wechat_day(now);
    let generation = store.counter(&cleared_name(day, key.appid()))?;
    let marked = store.counter(&mark_name(day, generation, key))? > 0;
    Ok(marked.then(|| day_ends_at(now)))
}

/// Records that WeChat answered 45009 for `key` at `now`; returns until
/// when the quota stays used up, and whether this was the first answer
/// of the day to say so (exactly one replica sees it first).
///
/// # Errors
///
/// If the store cannot be read or written.
pub(crate) fn mark_exhausted(store: &dyn Store, key: &TokenKey, now: u64) -> Result<(u64, bool)> {
    let day = wechat_day(now);
    let generation = store.counter(&cleared_name(day, key.appid()))?;
    let n = store.increment(&mark_name(day, generation, key), COUNTER_TTL)?;
    if n == 1 {
        let tally = tally_name(day, generation, kind_of(key), key.appid());
        store.increment(&tally, COUNTER_TTL)?;
    }
    Ok((day_ends_at(now), n == 1))
}

/// How many of `appid`'s quotas of each of `kinds` are used up at `now`
/// (0 or 1 for an account's own; one per authorizer under a platform),
/// as every replica marked them: one store read for the account and one
/// per kind, however many authorizers it has.
///
/// # Errors
///
/// If the store cannot be read.
pub(crate) fn exhausted_count(
    store: &dyn Store,
    appid: &str,
    kinds: &[&'static str],
    now: u64,
) -> Result<Vec<(&'static str, u64)>> {
    let day = wechat_day(now);
    let generation = store.counter(&cleared_name(day, appid))?;
    kinds
        .iter()
        .map(|kind| {
            Ok((
                *kind,
                store.counter(&tally_name(day, generation, kind, appid))?,
            ))
        })
        .collect()
}

/// Records that `clear_quota` of `appid` succeeded at `now`: the marks of
/// all its keys are lifted.
///
/// # Errors
///
/// If the store cannot be written.
pub(crate) fn mark_cleared(store: &dyn Store, appid: &str, now: u64) -> Result<()> {
    store.increment(&cleared_name(wechat_day(now), appid), COUNTER_TTL)?;
    Ok(())
}

/// Whether `result` is WeChat's 45009 for the call itself: not for a
/// token fetched on the way (a ticket's access token, whose own quota is
/// then used up, not the ticket's).
pub(crate) fn used_up<T>(result: &Result<T>) -> bool {
    matches!(result, Err(e) if e.errcode() == Some(QUOTA_ERRCODE) && e.token_fetch().is_none())
}

/// The error for a call not made because `key`'s quota is used up until
/// `until`: WeChat's 45009, remembered (the hub answers it as
/// `quota_exhausted`).
pub(crate) fn exhausted_error(key: &TokenKey, until: u64, now: u64) -> Error {
    Error::api(
        QUOTA_ERRCODE,
        format!(
            "the daily quota of {} calls for {} was used up today (UTC+8): not called again \
             before it resets at midnight UTC+8, in {}s",
            kind_of(key),
            account(key),
            until.saturating_sub(now)
        ),
        200,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::TicketType;

    /// 2026-01-01T15:59:59Z: 23:59:59 in China.
    const BEFORE_MIDNIGHT: u64 = 1_767_283_199;

    #[test]
    fn warnings_start_at_half_and_nine_tenths() {
        assert_eq!(warning(0, 2_000), None);
        assert_eq!(warning(999, 2_000), None);
        assert_eq!(warning(1_000, 2_000), Some(50));
        assert_eq!(warning(1_799, 2_000), Some(50));
        assert_eq!(warning(1_800, 2_000), Some(90));
        assert_eq!(warning(2_500, 2_000), Some(90));
        // Rounded up: 2 of 3 is past half, 3 of 3 past nine tenths.
        assert_eq!(
            (warning(1, 3), warning(2, 3), warning(3, 3)),
            (None, Some(50), Some(90))
        );
        // A quota too large to multiply by a percent in 64 bits.
        assert_eq!(calls_at(u64::MAX, 50), u64::MAX / 2 + 1);
        assert_eq!(warning(u64::MAX - 1, u64::MAX), Some(90));
    }

    #[test]
    fn a_wechat_day_starts_at_midnight_in_china() {
        let before = BEFORE_MIDNIGHT;
        assert_eq!(wechat_day(before) + 1, wechat_day(before + 1));
        assert_eq!(wechat_day(before), wechat_day(before - 86_399));
        assert_eq!(day_ends_at(before), before + 1);
        assert_eq!(day_ends_at(before + 1), before + 1 + 86_400);
        assert_eq!(day_ends_at(before - 86_399), before + 1);
    }

    #[test]
    fn a_mark_lasts_until_midnight_in_china_or_a_clear() {
        let store = MemoryStore::new();
        let token = TokenKey::access_token("wx1");
        let ticket = TokenKey::ticket("wx1", TicketType::Jsapi);
        let authorizer = TokenKey::access_token("wxc").for_authorizer("wxa");
        let now = BEFORE_MIDNIGHT - 3_600;
        assert_eq!(exhausted_until(&store, &token, now).unwrap(), None);
        assert_eq!(
            mark_exhausted(&store, &token, now).unwrap(),
            (BEFORE_MIDNIGHT + 1, true)
        );
        assert_eq!(
            mark_exhausted(&store, &token, now + 1).unwrap(),
            (BEFORE_MIDNIGHT + 1, false),
            "not the first"
        );
        assert_eq!(
            exhausted_until(&store, &token, BEFORE_MIDNIGHT).unwrap(),
            Some(BEFORE_MIDNIGHT + 1)
        );
        // Another kind, another account: their own quotas.
        assert_eq!(exhausted_until(&store, &ticket, now).unwrap(), None);
        mark_exhausted(&store, &authorizer, now).unwrap();
        let other = TokenKey::access_token("wxc").for_authorizer("wxb");
        assert_eq!(exhausted_until(&store, &other, now).unwrap(), None);
        // The next WeChat day.
        assert_eq!(
            exhausted_until(&store, &token, BEFORE_MIDNIGHT + 1).unwrap(),
            None
        );
        // A clear lifts every mark of the account made before it, and a
        // later 45009 marks it again.
        mark_exhausted(&store, &ticket, now).unwrap();
        mark_cleared(&store, "wx1", now + 2).unwrap();
        assert_eq!(exhausted_until(&store, &token, now + 2).unwrap(), None);
        assert_eq!(exhausted_until(&store, &ticket, now + 2).unwrap(), None);
        assert!(exhausted_until(&store, &authorizer, now + 2)
            .unwrap()
            .is_some());
        assert!(mark_exhausted(&store, &token, now + 3).unwrap().1, "anew");
        assert!(exhausted_until(&store, &token, now + 3).unwrap().is_some());
    }

    #[test]
    fn the_used_up_quotas_are_tallied_per_account_and_kind() {
        let store = MemoryStore::new();
        let now = BEFORE_MIDNIGHT - 3_600;
        let kinds = ["token", "ticket", "component", "authorizer"];
        let count = |appid, at| exhausted_count(&store, appid, &kinds, at).unwrap();
        let ticket = TokenKey::ticket("wxc", TicketType::Jsapi).for_authorizer("wxa");
        for authorizer in ["wxa", "wxb", "wxa"] {
            mark_exhausted(
                &store,
                &TokenKey::access_token("wxc").for_authorizer(authorizer),
                now,
            )
            .unwrap();
        }
        mark_exhausted(&store, &ticket, now).unwrap();
        mark_exhausted(&store, &TokenKey::access_token("wx1"), now).unwrap();
        assert_eq!(
            count("wxc", now),
            [
                ("token", 0),
                ("ticket", 1),
                ("component", 0),
                ("authorizer", 2)
            ]
        );
        assert_eq!(count("wx1", now)[0], ("token", 1));
        mark_cleared(&store, "wxc", now + 1).unwrap();
        assert_eq!(count("wxc", now + 1)[3], ("authorizer", 0), "cleared");
        assert_eq!(
            count("wx1", BEFORE_MIDNIGHT + 1)[0],
            ("token", 0),
            "a new day"
        );
    }

    #[test]
    fn the_remembered_error_is_wechats_45009() {
        let key = TokenKey::access_token("wx1");
        let e = exhausted_error(&key, BEFORE_MIDNIGHT + 1, BEFORE_MIDNIGHT - 99);
        assert_eq!(e.errcode(), Some(45009));
        assert!(e.to_string().contains("in 100s"), "{e}");
        assert!(used_up::<()>(&Err(e)));
        assert!(!used_up(&Ok(())));
    }
}
