//! The hub's one door to upstream, [`HubUpstream`]: every token call WeChat
//! gets passes it, and is
//! - counted for `/metrics` by kind and result;
//! - counted per account and kind per WeChat day (UTC+8) in the store, so
//!   that all replicas share one count, with warnings at 50 % and 90 % of
//!   the daily quota;
//! - refused at once, with no call, while WeChat's 45009 ("daily quota used
//!   up") for its kind and account holds: remembered in the store (see
//!   [`quota`](super::quota)) until midnight UTC+8 or a successful opt-in
//!   `clear_quota`, and answered to clients as `quota_exhausted` (see
//!   [`HubError`](super::HubError));
//! - stamped with the hub's clock (the store cuts it to the configured
//!   lifetime as it keeps it: [`Lifetimes`](crate::store::lifetime::Lifetimes)).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::{kind_of, Counts};
use super::quota::{self, day_ends_at, used_up, wechat_day, COUNTER_TTL};
use crate::clock::Clock;
use crate::error::Result;
use crate::http::{OutBody, Outgoing, SMALL_BODY_CAP};
use crate::options::Method;
use crate::secret::Secret;
use crate::store::Store;
use crate::token::{Context, Token, TokenKey, TokenSource};

/// WeChat's daily quota of `/cgi-bin/token` calls for an official account.
pub(crate) const DEFAULT_DAILY_QUOTA: u64 = 2_000;

/// WeChat allows 10 `clear_quota` calls per account a month: the hub
/// makes at most this many in any 31 days.
const CLEARS_PER_MONTH: u64 = 10;

/// The window [`CLEARS_PER_MONTH`] is counted over.
const CLEAR_WINDOW: Duration = Duration::from_secs(31 * 86_400);

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
            let midnight = day_ends_at(now);
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
        for percent in quota::WARN_AT_PERCENT {
            if n == quota::calls_at(self.quota, percent) {
                log::warn!(
                    "wechat hub: {n} of the {} daily {kind} calls for {} used today (UTC+8): {percent} %",
                    self.quota,
                    key.appid()
                );
            }
        }
        Ok(())
    }

    /// `call`, counted. On 45009 the quota is remembered as used up
    /// (see [`admit`](HubUpstream::admit)); for an account opted in to
    /// clearing it is cleared (see [`clear`](HubUpstream::clear)) and
    /// `call` made once more.
    fn call(
        &self,
        key: &TokenKey,
        cx: &Context<'_>,
        call: impl Fn() -> Result<Token>,
    ) -> Result<Token> {
        let result = self.once(key, &call);
        if !used_up(&result) {
            return result;
        }
        self.used_up(key);
        if !self.clear(key, cx)? {
            return result;
        }
        let again = self.once(key, &call);
        if used_up(&again) {
            self.used_up(key);
        }
        again
    }

    /// Admits an upstream call for `key` unless WeChat answered 45009 for
    /// its kind and account today (by any replica: the store says): then
    /// the error of a used-up quota, with no call, until midnight UTC+8
    /// or, for an account opted in, after clearing it (see
    /// [`clear`](HubUpstream::clear)). Asked before the refresh limit, so
    /// that clients hear of the quota rather than of the limit.
    ///
    /// # Errors
    ///
    /// The used-up quota (errcode 45009), or a store error.
    pub(crate) fn admit(&self, key: &TokenKey, cx: &Context<'_>) -> Result<()> {
        let now = self.clock.unix_secs();
        if let Some(until) = quota::exhausted_until(&*self.store, key, now)? {
            if !self.clear(key, cx)? {
                self.saw(key, Some(until));
                return Err(quota::exhausted_error(key, until, now));
            }
        }
        self.saw(key, None);
        Ok(())
    }

    /// Remembers in the store that WeChat answered 45009 for `key`, and
    /// logs it once (on the replica that saw it first).
    fn used_up(&self, key: &TokenKey) {
        let now = self.clock.unix_secs();
        // A store that cannot be written is counted as a store error; the
        // client still gets the 45009.
        let Ok((until, first)) = quota::mark_exhausted(&*self.store, key, now) else {
            return;
        };
        self.saw(key, Some(until));
        if first {
            log::warn!(
                "wechat hub: WeChat answered 45009 for {} calls of {}: the daily quota is used up; \
                 no replica calls it again for them before midnight UTC+8 (in {}s)",
                kind_of(key),
                key.appid(),
                until.saturating_sub(now)
            );
        }
    }

    /// Keeps `key` among the keys `/status` lists while its quota is used
    /// up until `until` (or no longer, with `None`), for the configured
    /// appids: a key refused before it was ever served shows there too.
    fn saw(&self, key: &TokenKey, until: Option<u64>) {
        if self.labelled {
            self.counts.quota_exhausted(key, until);
        }
    }

    /// For an account opted in to clearing, resets its quotas with
    /// `/cgi-bin/clear_quota/v2`: at most once per account per WeChat day
    /// and 10 times in 31 days, counted in the store so that replicas
    /// share the budget. Whether it was cleared; then every replica's
    /// remembered 45009 for the account is lifted. A failed clear is
    /// logged, shown on `/status`, and answered as the used-up quota.
    ///
    /// # Errors
    ///
    /// If the store cannot be read or written.
    fn clear(&self, key: &TokenKey, cx: &Context<'_>) -> Result<bool> {
        let Some(secret) = self.clear.get(key.appid()) else {
            return Ok(false);
        };
        let appid = key.appid();
        let now = self.clock.unix_secs();
        let today = format!("clear_quota:{}:{appid}", wechat_day(now));
        // Read first: requests refused while the quota stays used up
        // write nothing.
        if self.store.counter(&today)? > 0 || self.store.increment(&today, COUNTER_TTL)? > 1 {
            return Ok(false);
        }
        let month = self
            .store
            .increment(&format!("clear_quota:month:{appid}"), CLEAR_WINDOW)?;
        if month > CLEARS_PER_MONTH {
            log::warn!(
                "wechat hub: the daily quota of {appid} is used up and its {CLEARS_PER_MONTH} clears a month are spent"
            );
            return Ok(false);
        }
        if let Err(e) = clear_quota(cx, appid, secret) {
            log::warn!("wechat hub: the daily quota of {appid} is used up and clearing it with clear_quota/v2 failed: {e}");
            self.counts
                .upstream_error(appid, now, format!("clear_quota/v2: {e}"));
            return Ok(false);
        }
        quota::mark_cleared(&*self.store, appid, now)?;
        if self.labelled {
            self.counts.quota_cleared(appid);
        }
        log::warn!("wechat hub: the daily quota of {appid} was used up (45009): cleared it with clear_quota/v2 ({month} of {CLEARS_PER_MONTH} this month)");
        Ok(true)
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
