//! The hub's one door to upstream, [`HubUpstream`]: every token call WeChat
//! gets passes it, and is
//! - counted for `/metrics` by kind and result;
//! - counted per account and kind per WeChat day (UTC+8) in the store, so
//!   that all replicas share one count, with warnings at 50 % and 90 % of
//!   the daily quota (WeChat's 45009, "daily quota used up", is answered to
//!   clients as `quota_exhausted`, see [`HubError`](super::HubError), and
//!   not retried unless the opt-in `clear_quota` clears it);
//! - stamped with the hub's clock (the store cuts it to the configured
//!   lifetime as it keeps it: [`Lifetimes`](super::lifetime::Lifetimes)).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::{kind_of, Counts};
use super::store::Store;
use crate::clock::Clock;
use crate::error::Result;
use crate::http::{OutBody, Outgoing, SMALL_BODY_CAP};
use crate::options::Method;
use crate::secret::Secret;
use crate::token::{Context, Token, TokenKey, TokenSource};

/// WeChat's daily quota of `/cgi-bin/token` calls for an official account.
pub(crate) const DEFAULT_DAILY_QUOTA: u64 = 2_000;

/// WeChat's days start at midnight in China (UTC+8).
const UTC_PLUS_8: u64 = 8 * 3600;

/// A day's counter is kept two days, then forgotten.
const COUNTER_TTL: Duration = Duration::from_secs(2 * 86_400);

/// WeChat allows 10 `clear_quota` calls per account a month: the hub
/// makes at most this many in any 31 days.
const CLEARS_PER_MONTH: u64 = 10;

/// The window [`CLEARS_PER_MONTH`] is counted over.
const CLEAR_WINDOW: Duration = Duration::from_secs(31 * 86_400);

/// The WeChat day (days since the epoch, in UTC+8) of `unix_secs`.
pub(crate) fn wechat_day(unix_secs: u64) -> u64 {
    (unix_secs + UTC_PLUS_8) / 86_400
}

/// A forced `stable_token` refresh (`force_refresh: true`, asked only
/// for a rejected token) at most once per this long per account.
const FORCE_FLOOR: Duration = Duration::from_secs(30);

/// Forced `stable_token` refreshes per account per WeChat day at most.
const FORCES_PER_DAY: u64 = 20;

/// The gate a hub puts before each forced `stable_token` refresh: at
/// most one per account per 30 s and 20 per WeChat day, counted in the
/// store so that all replicas share the budget.
pub(crate) fn stable_force_gate(
    store: Arc<dyn Store>,
    clock: Clock,
) -> crate::token::secret::ForceGate {
    Arc::new(move |appid: &str| {
        let now = clock.unix_secs();
        let day = wechat_day(now);
        let refused = |why: String, retry_after: Duration| {
            log::warn!("wechat hub: stable_token force_refresh of {appid} refused: {why}");
            crate::error::Error::new(crate::error::ErrorKind::RefreshLimited {
                key: format!("{:?}", TokenKey::access_token(appid)),
                retry_after,
                rejected_after: None,
            })
        };
        // By 30 s windows of the hub's clock: a force is allowed in a
        // window if none was made in it or the one before, so two are
        // always more than 30 s apart, whichever replica made them.
        let floor = FORCE_FLOOR.as_secs();
        let window = now / floor;
        let previous = store.counter(&format!("stable_force:w{}:{appid}", window - 1))?;
        if previous > 0
            || store.increment(&format!("stable_force:w{window}:{appid}"), 3 * FORCE_FLOOR)? > 1
        {
            let why = format!("one was made less than {floor}s ago");
            return Err(refused(why, FORCE_FLOOR));
        }
        let today = format!("stable_force:{day}:{appid}");
        if store.increment(&today, COUNTER_TTL)? > FORCES_PER_DAY {
            let midnight = (day + 1) * 86_400 - UTC_PLUS_8;
            let why = format!("{FORCES_PER_DAY} were made today (UTC+8)");
            return Err(refused(
                why,
                Duration::from_secs(midnight.saturating_sub(now)),
            ));
        }
        Ok(())
    })
}

/// The store counter of `kind` calls for `appid` on `day`.
pub(crate) fn counter_name(day: u64, kind: &str, appid: &str) -> String {
    format!("calls:{day}:{kind}:{appid}")
}

/// The upstream source behind the hub's store (see the module docs).
pub(crate) struct HubUpstream {
    pub inner: Arc<dyn TokenSource>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub quota: u64,
    pub counts: Arc<Counts>,
    /// Whether the appids are the configured ones, and so a bounded set
    /// of metric labels (not over a custom source, which serves any).
    pub labelled: bool,
    /// The accounts whose quota the hub may clear once a day when WeChat
    /// answers 45009 (opt-in), with their secrets.
    pub clear: HashMap<String, Secret>,
}

impl HubUpstream {
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

    /// `call`, counted; on 45009 for an account opted in to clearing, the
    /// quota is cleared (at most once per account per WeChat day, and 10
    /// times in 31 days, counted in the store so replicas share the
    /// budget) and `call` is made once more.
    fn call(
        &self,
        key: &TokenKey,
        cx: &Context<'_>,
        call: impl Fn() -> Result<Token>,
    ) -> Result<Token> {
        let result = self.once(key, &call);
        let secret = match &result {
            Err(e) if e.errcode() == Some(45009) => self.clear.get(key.appid()),
            _ => None,
        };
        let Some(secret) = secret else {
            return result;
        };
        let appid = key.appid();
        let day = wechat_day(self.clock.unix_secs());
        let today = self
            .store
            .increment(&format!("clear_quota:{day}:{appid}"), COUNTER_TTL)?;
        if today > 1 {
            return result;
        }
        let month = self
            .store
            .increment(&format!("clear_quota:month:{appid}"), CLEAR_WINDOW)?;
        if month > CLEARS_PER_MONTH {
            log::warn!(
                "wechat hub: the daily quota of {appid} is used up and its {CLEARS_PER_MONTH} clears a month are spent"
            );
            return result;
        }
        clear_quota(cx, appid, secret)?;
        log::warn!("wechat hub: the daily quota of {appid} was used up (45009): cleared it with clear_quota/v2 ({month} of {CLEARS_PER_MONTH} this month)");
        self.once(key, &call)
    }

    /// One upstream call: counted before (in the store) and after (for
    /// `/metrics`, by result); its token stamped by the hub's clock.
    fn once(&self, key: &TokenKey, call: &impl Fn() -> Result<Token>) -> Result<Token> {
        self.count(key)?;
        let result = call();
        self.counts.upstream_call(kind_of(key), result.is_ok());
        if let Err(e) = &result {
            let at = self.clock.unix_secs();
            self.counts.upstream_error(key.appid(), at, e.to_string());
        }
        Ok(result?.obtained_at(self.clock.unix_secs()))
    }
}

/// Asks WeChat to reset `appid`'s daily quotas (`/cgi-bin/clear_quota/v2`,
/// authenticated by the appid and its secret).
fn clear_quota(cx: &Context<'_>, appid: &str, secret: &Secret) -> Result<()> {
    let body = serde_json::json!({"appid": appid, "appsecret": secret.expose()});
    post_json(cx, "/cgi-bin/clear_quota/v2", &body)
}

/// POSTs `body` to WeChat's `path`, authenticated by what the body carries
/// (no token), and checks the answer's errcode: the hub's own calls that
/// are not token fetches.
pub(crate) fn post_json(cx: &Context<'_>, path: &str, body: &serde_json::Value) -> Result<()> {
    let out = Outgoing {
        method: Method::Post,
        url: format!("{}{path}", cx.base_url()),
        headers: Vec::new(),
        body: OutBody::Json(body.to_string().into_bytes()),
        timeout: None,
        max_body: SMALL_BODY_CAP,
    };
    crate::response::parse(cx.http().send(out)?)?;
    Ok(())
}

impl TokenSource for HubUpstream {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        self.call(key, cx, || self.inner.fetch(key, cx))
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        self.call(key, cx, || self.inner.refresh(key, stale, cx))
    }

    fn limited_by_client(&self) -> bool {
        self.inner.limited_by_client()
    }

    fn forget(&self, key: &TokenKey) {
        self.inner.forget(key)
    }
}

impl fmt::Debug for HubUpstream {
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
