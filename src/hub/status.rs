//! `GET /status`: what an operator needs to see at a glance, as JSON for
//! `Accept: application/json` and as HTML for a browser
//! ([`status_page`](super::status_page)). The hub: its version, uptime,
//! store kind and health, the replicas the store can tell of. Per account
//! and kind of call: the upstream calls made today against the quota, the
//! warning level reached, whether WeChat answered that quota used up
//! (45009) until midnight UTC+8. Per token and ticket served: when it was
//! fetched, expires, is due to be refreshed ahead. Per platform: the
//! verify ticket's age; the last upstream error per appid. Times are the
//! hub's clock's. No token, ticket or secret value ever appears on it.

use std::cell::Cell;
use std::collections::HashSet;

use serde_json::{json, Value};

use super::ahead::SERVED_FOR;
use super::door::counter_name;
use super::handler::HubHandler;
use super::metrics::{kind_of, KINDS};
use super::quota::{day_ends_at, exhausted_count, exhausted_until, warning, wechat_day};
use super::status_page::{html, key_in_words};
use super::wire::{HubRequest, HubResponse};
use crate::error::Result;
use crate::store::Store;
use crate::token::TokenKey;

/// The store as one render of the page asks it: after its first failure
/// the rest of the page does not ask (it shows unknown), since a store
/// that is down answers each call only at its timeout and a page asks
/// several per key and account.
struct Asking<'a> {
    store: &'a dyn Store,
    failed: Cell<bool>,
}

impl<'a> Asking<'a> {
    fn new(store: &'a dyn Store) -> Asking<'a> {
        Asking {
            store,
            failed: Cell::new(false),
        }
    }

    /// `call`'s answer, or `None` if it failed or an earlier call did.
    fn ask<T>(&self, call: impl FnOnce(&dyn Store) -> Result<T>) -> Option<T> {
        if self.failed.get() {
            return None;
        }
        let answer = call(self.store).ok();
        self.failed.set(answer.is_none());
        answer
    }
}

impl HubHandler {
    /// The status page, in the form `req` accepts.
    pub(super) fn status(&self, req: &HubRequest) -> HubResponse {
        let status = self.status_json();
        let wants_json = req
            .header_value("accept")
            .is_some_and(|a| a.contains("application/json"));
        if wants_json {
            HubResponse::json(200, &status)
        } else {
            HubResponse::new(200, "text/html; charset=utf-8", html(&status))
        }
    }

    /// The status as JSON; its fields are the protocol's (see the
    /// module docs), the HTML page is made of it alone.
    pub(super) fn status_json(&self) -> Value {
        let now = self.ahead.clock.unix_secs();
        let day = wechat_day(now);
        let store = Asking::new(&*self.store);
        let mut keys = self.served_by_the_cluster(now, &store);
        // An account's rows together: its token, its tickets, its
        // authorizers'.
        keys.sort_by_cached_key(|k| {
            let account = (
                k.appid().to_string(),
                k.authorizer_appid().map(str::to_string),
            );
            (account, key_in_words(k))
        });
        let tokens: Vec<Value> = keys
            .iter()
            .map(|key| {
                let stored = store.ask(|s| s.get_token(key)).flatten();
                let kind = kind_of(key);
                let calls = store.ask(|s| s.counter(&counter_name(day, kind, key.appid())));
                let used_up = store.ask(|s| exhausted_until(s, key, now)).flatten();
                let due = stored.as_ref().map(|t| self.ahead.due_at(key, t));
                json!({
                    "key": format!("{key:?}"),
                    "words": key_in_words(key),
                    "appid": key.appid(),
                    "authorizer_appid": key.authorizer_appid(),
                    "kind": kind,
                    "held": stored.is_some(),
                    "fetched_at": stored.as_ref().map(|t| t.timestamp()),
                    "age_secs": stored.as_ref().map(|t| now.saturating_sub(t.timestamp())),
                    "expires_at": stored.as_ref().map(|t| t.expires_at()),
                    "expires_in_secs": stored.as_ref().map(|t| t.expires_at().saturating_sub(now)),
                    "refresh_due_at": due,
                    "refresh_due_in_secs": due.map(|due| due.saturating_sub(now)),
                    "calls_today": calls,
                    "daily_quota": self.daily_quota,
                    "quota_exhausted": used_up.is_some(),
                    "quota_resets_at": used_up,
                    "quota_resets_in_secs": used_up.map(|until| until.saturating_sub(now)),
                })
            })
            .collect();
        let components: Vec<Value> = self
            .components
            .iter()
            .map(|appid| {
                let at = store.ask(|s| s.verify_ticket_received_at(appid)).flatten();
                json!({
                    "appid": appid,
                    "verify_ticket_held": at.is_some(),
                    "verify_ticket_at": at,
                    "verify_ticket_age_secs": at.map(|at| now.saturating_sub(at)),
                })
            })
            .collect();
        let errors: Vec<Value> = self
            .counts
            .last_errors()
            .into_iter()
            .map(|(appid, at, message)| {
                json!({"appid": appid, "at": at, "age_secs": now.saturating_sub(at), "message": message})
            })
            .collect();
        json!({
            "now": now,
            "hub": {
                "version": env!("CARGO_PKG_VERSION"),
                "started_at": self.started_at,
                "uptime_secs": now.saturating_sub(self.started_at),
            },
            "quotas": self.quotas_json(&keys, now, &store),
            "store": self.store_json(now, &store),
            "tokens": tokens,
            "components": components,
            "last_upstream_errors": errors,
        })
    }

    /// The store's kind, health since the hub started, and the replicas
    /// it can tell of.
    fn store_json(&self, now: u64, store: &Asking<'_>) -> Value {
        let (errors, last) = self.counts.store_health();
        let last = last.map(|(at, message)| {
            json!({"at": at, "age_secs": now.saturating_sub(at), "message": message})
        });
        // Asked after the health is read: a failure shows here as
        // `replicas_error`, and in the health from the next page on.
        let replicas = match store.failed.get() {
            true => Err("not asked: the store failed earlier on this page".to_string()),
            false => self.store.replicas().map_err(|e| e.to_string()),
        };
        let topology = self.store.topology().map(|t| {
            json!({
                "mode": t.mode,
                "primary": t.primary,
                "replicas": t.replicas,
                "failovers": t.failovers,
                "last_failover": t.last_failover,
                "read_only_since": t.read_only_since,
                "unacked_writes": t.unacked_writes,
                "persistence": t.persistence,
                "persistence_warning": t.persistence_warning,
            })
        });
        json!({
            "kind": self.store.kind(),
            "errors": errors,
            "last_error": last,
            "replicas": replicas.as_ref().ok().copied().flatten(),
            "replicas_error": replicas.err(),
            "topology": topology,
        })
    }

    /// Per account and kind of call: the calls counted today (all
    /// replicas), against the quota, the warning reached and how many of
    /// its quotas WeChat answered used up. The configured accounts; over
    /// a custom source, those of `served`.
    fn quotas_json(&self, served: &[TokenKey], now: u64, store: &Asking<'_>) -> Vec<Value> {
        let day = wechat_day(now);
        let mut accounts: Vec<&str> = match &self.appids {
            Some(appids) => appids.iter().map(String::as_str).collect(),
            None => served.iter().map(TokenKey::appid).collect(),
        };
        accounts.sort_unstable();
        accounts.dedup();
        let mut all = Vec::new();
        for appid in accounts {
            let kinds = self.quota_kinds(appid);
            let used_up = store.ask(|s| exhausted_count(s, appid, kinds, now));
            for (i, kind) in kinds.iter().enumerate() {
                let calls = store.ask(|s| s.counter(&counter_name(day, kind, appid)));
                all.push(json!({
                    "appid": appid,
                    "kind": kind,
                    "calls_today": calls,
                    "daily_quota": self.daily_quota,
                    "warning_percent": calls.and_then(|n| warning(n, self.daily_quota)),
                    "used_up": used_up.as_ref().map(|counts| counts[i].1),
                    "resets_at": day_ends_at(now),
                }));
            }
        }
        all
    }

    /// The kinds of upstream call the hub makes for `appid`: a platform's
    /// component token, its authorizers' tokens and tickets; an account's
    /// token and tickets.
    fn quota_kinds(&self, appid: &str) -> &'static [&'static str] {
        const ACCOUNT: [&str; 2] = [KINDS[0], KINDS[1]];
        const PLATFORM: [&str; 3] = [KINDS[2], KINDS[3], KINDS[1]];
        if self.components.iter().any(|c| c == appid) {
            &PLATFORM
        } else {
            &ACCOUNT
        }
    }
}

impl HubHandler {
    /// Every key served by any replica sharing the store in the last
    /// [`SERVED_FOR`] (the store's set, kept for refresh ahead), with this
    /// replica's own (all there is over a store that keeps no set) and
    /// those it saw refused for a used-up quota: a replica that only
    /// answered refreshes and cache hits shows what the cluster serves too.
    fn served_by_the_cluster(&self, now: u64, store: &Asking<'_>) -> Vec<TokenKey> {
        let mut keys: HashSet<TokenKey> = self.ahead.served_keys().into_iter().collect();
        let used_up = self.counts.quotas_exhausted(now);
        keys.extend(used_up.into_iter().map(|(key, _)| key));
        // Counted as a store error; this replica's own keys still show.
        let since = now.saturating_sub(SERVED_FOR.as_secs());
        let cluster = store.ask(|s| s.served_keys(since)).unwrap_or_default();
        keys.extend(
            cluster
                .into_iter()
                .map(|(key, _)| key)
                .filter(|key| self.ahead.serves(key)),
        );
        keys.into_iter().collect()
    }

    /// `(kind, appid, quotas used up)` for every account the hub is
    /// configured with and each kind of call it makes for it (a platform's
    /// count is one per authorizer), as every replica marked them in the
    /// store: read at each call, a store read per account and kind, so
    /// that `/metrics` on a replica that served nothing shows them too.
    /// Empty over a custom source (its appids are no bounded set of
    /// labels); an account whose marks cannot be read is left out (a
    /// store error, counted).
    /// The servers behind the store, if it tells (see
    /// [`Store::topology`](crate::store::Store::topology)).
    #[cfg(feature = "hub")]
    pub(crate) fn store_topology(&self) -> Option<crate::store::StoreTopology> {
        self.store.topology()
    }

    #[cfg(feature = "hub")]
    pub(crate) fn quotas_exhausted(&self) -> Vec<(&'static str, String, u64)> {
        let now = self.ahead.clock.unix_secs();
        let mut all = Vec::new();
        for appid in self.appids.iter().flatten() {
            let kinds = self.quota_kinds(appid);
            let Ok(counts) = exhausted_count(&*self.store, appid, kinds, now) else {
                continue;
            };
            all.extend(counts.into_iter().map(|(kind, n)| (kind, appid.clone(), n)));
        }
        all
    }
}
