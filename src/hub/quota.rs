//! Quota protection: the hub counts its upstream token calls per account
//! and kind per WeChat day (UTC+8) in the store, so that all replicas
//! share one count, and warns at 50 % and 90 % of the daily quota.
//! WeChat's 45009 ("daily quota used up") is answered to clients as
//! `quota_exhausted` (see [`HubError`](super::HubError)), not retried.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::{kind_of, Counts};
use super::store::Store;
use crate::clock::Clock;
use crate::error::Result;
use crate::secret::Secret;
use crate::token::{Context, Token, TokenKey, TokenSource};

/// WeChat's daily quota of `/cgi-bin/token` calls for an official account.
pub(crate) const DEFAULT_DAILY_QUOTA: u64 = 2_000;

/// WeChat's days start at midnight in China (UTC+8).
const UTC_PLUS_8: u64 = 8 * 3600;

/// A day's counter is kept two days, then forgotten.
const COUNTER_TTL: Duration = Duration::from_secs(2 * 86_400);

/// The WeChat day (days since the epoch, in UTC+8) of `unix_secs`.
pub(crate) fn wechat_day(unix_secs: u64) -> u64 {
    (unix_secs + UTC_PLUS_8) / 86_400
}

/// The store counter of `kind` calls for `appid` on `day`.
pub(crate) fn counter_name(day: u64, kind: &str, appid: &str) -> String {
    format!("calls:{day}:{kind}:{appid}")
}

/// The upstream source, counting every call in the store.
pub(crate) struct QuotaSource {
    pub inner: Arc<dyn TokenSource>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub quota: u64,
    pub counts: Arc<Counts>,
    /// Whether the appids are the configured ones, and so a bounded set
    /// of metric labels (not over a custom source, which serves any).
    pub labelled: bool,
}

impl QuotaSource {
    /// Counts one call for `key` before it is made (a call that fails
    /// may still have been counted by WeChat), and warns as the count
    /// crosses half and nine tenths of the quota: exactly one replica sees
    /// each count, so each warning is logged once.
    fn count(&self, key: &TokenKey) -> Result<()> {
        let kind = kind_of(key);
        let day = wechat_day(self.clock.unix_secs());
        let n = self
            .store
            .increment(&counter_name(day, kind, key.appid()), COUNTER_TTL)?;
        if self.labelled {
            self.counts.calls_today(kind, key.appid(), day, n);
        }
        for percent in [50, 90] {
            if n == (self.quota * percent).div_ceil(100) {
                log::warn!(
                    "wechat hub: {n} of the {} daily {kind} calls for {} used today (UTC+8): {percent} %",
                    self.quota,
                    key.appid()
                );
            }
        }
        Ok(())
    }
}

impl TokenSource for QuotaSource {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        self.count(key)?;
        self.inner.fetch(key, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        self.count(key)?;
        self.inner.refresh(key, stale, cx)
    }

    fn limited_by_client(&self) -> bool {
        self.inner.limited_by_client()
    }

    fn forget(&self, key: &TokenKey) {
        self.inner.forget(key)
    }

    fn save_refresh_token(&self, key: &TokenKey, refresh_token: &Secret) -> Result<()> {
        self.inner.save_refresh_token(key, refresh_token)
    }
}

impl fmt::Debug for QuotaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wechat_day_starts_at_midnight_in_china() {
        // 2026-01-01T15:59:59Z is 23:59:59 in China; a second later, the
        // next day there.
        let before = 1_767_283_199;
        assert_eq!(wechat_day(before) + 1, wechat_day(before + 1));
        assert_eq!(wechat_day(before), wechat_day(before - 86_399));
    }
}
