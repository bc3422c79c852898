//! `GET /status`: what an operator needs to see at a glance, as HTML for
//! a browser and JSON for `Accept: application/json`. Per token and ticket
//! served: its age, time to expiry, when its refresh ahead is due, the
//! upstream calls made today against the quota and whether WeChat answered
//! that quota used up (45009) until midnight UTC+8; per platform: the verify
//! ticket's age; the last upstream error per appid. No token, ticket or
//! secret value ever appears on it.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::ahead::SERVED_FOR;
use super::door::counter_name;
use super::handler::HubHandler;
use super::metrics::kind_of;
#[cfg(feature = "hub")]
use super::metrics::KINDS;
#[cfg(feature = "hub")]
use super::quota::exhausted_count;
use super::quota::{exhausted_until, wechat_day};
use super::wire::{HubRequest, HubResponse};
use crate::token::TokenKey;

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

    fn status_json(&self) -> Value {
        let now = self.ahead.clock.unix_secs();
        let day = wechat_day(now);
        let mut keys = self.served_by_the_cluster(now);
        keys.sort_by_key(|k| format!("{k:?}"));
        let tokens: Vec<Value> = keys
            .iter()
            .map(|key| {
                let stored = self.store.get_token(key).ok().flatten();
                let kind = kind_of(key);
                let calls = self
                    .store
                    .counter(&counter_name(day, kind, key.appid()))
                    .ok();
                let used_up = exhausted_until(&*self.store, key, now).ok().flatten();
                json!({
                    "key": format!("{key:?}"),
                    "appid": key.appid(),
                    "authorizer_appid": key.authorizer_appid(),
                    "kind": kind,
                    "held": stored.is_some(),
                    "age_secs": stored.as_ref().map(|t| now.saturating_sub(t.timestamp())),
                    "expires_in_secs": stored.as_ref().map(|t| t.expires_at().saturating_sub(now)),
                    "refresh_due_in_secs": stored.as_ref().map(|t| self.ahead.due_at(key, t).saturating_sub(now)),
                    "calls_today": calls,
                    "daily_quota": self.daily_quota,
                    "quota_exhausted": used_up.is_some(),
                    "quota_resets_in_secs": used_up.map(|until| until.saturating_sub(now)),
                })
            })
            .collect();
        let components: Vec<Value> = self
            .components
            .iter()
            .map(|appid| {
                let at = self.store.verify_ticket_received_at(appid).ok().flatten();
                json!({
                    "appid": appid,
                    "verify_ticket_held": at.is_some(),
                    "verify_ticket_age_secs": at.map(|at| now.saturating_sub(at)),
                })
            })
            .collect();
        let errors: Vec<Value> = self
            .counts
            .last_errors()
            .into_iter()
            .map(|(appid, at, message)| {
                json!({"appid": appid, "age_secs": now.saturating_sub(at), "message": message})
            })
            .collect();
        json!({"now": now, "tokens": tokens, "components": components, "last_upstream_errors": errors})
    }
}

impl HubHandler {
    /// Every key served by any replica sharing the store in the last
    /// [`SERVED_FOR`] (the store's set, kept for refresh ahead), with this
    /// replica's own (all there is over a store that keeps no set) and
    /// those it saw refused for a used-up quota: a replica that only
    /// answered refreshes and cache hits shows what the cluster serves too.
    fn served_by_the_cluster(&self, now: u64) -> Vec<TokenKey> {
        let mut keys: HashSet<TokenKey> = self.ahead.served_keys().into_iter().collect();
        let used_up = self.counts.quotas_exhausted(now);
        keys.extend(used_up.into_iter().map(|(key, _)| key));
        // Counted as a store error; this replica's own keys still show.
        let since = now.saturating_sub(SERVED_FOR.as_secs());
        let cluster = self.store.served_keys(since).unwrap_or_default();
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
    #[cfg(feature = "hub")]
    pub(crate) fn quotas_exhausted(&self) -> Vec<(&'static str, String, u64)> {
        let now = self.ahead.clock.unix_secs();
        let mut all = Vec::new();
        for appid in self.appids.iter().flatten() {
            let kinds: &[&'static str] = if self.components.contains(appid) {
                &[KINDS[2], KINDS[3], KINDS[1]]
            } else {
                &KINDS[..2]
            };
            let Ok(counts) = exhausted_count(&*self.store, appid, kinds, now) else {
                continue;
            };
            all.extend(counts.into_iter().map(|(kind, n)| (kind, appid.clone(), n)));
        }
        all
    }
}

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A cell: the value as text, `-` for none.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("<td>{}</td>", escape(&text))
}

/// The status as a page: one table per section.
fn html(status: &Value) -> String {
    let table = |title: &str, rows: &Value, columns: &[&str]| {
        let mut out = format!("<h2>{}</h2><table><tr>", escape(title));
        for c in columns {
            out.push_str(&format!("<th>{}</th>", escape(c)));
        }
        out.push_str("</tr>");
        for row in rows.as_array().map_or(&[][..], Vec::as_slice) {
            out.push_str("<tr>");
            for c in columns {
                out.push_str(&cell(&row[*c]));
            }
            out.push_str("</tr>");
        }
        out + "</table>"
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>wechat-hub status</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}</style>\
         </head><body><h1>wechat-hub status</h1>{}{}{}</body></html>",
        table(
            "Tokens and tickets",
            &status["tokens"],
            &[
                "key",
                "held",
                "age_secs",
                "expires_in_secs",
                "refresh_due_in_secs",
                "calls_today",
                "daily_quota",
                "quota_exhausted",
                "quota_resets_in_secs"
            ],
        ),
        table(
            "Third-party platforms",
            &status["components"],
            &["appid", "verify_ticket_held", "verify_ticket_age_secs"],
        ),
        table(
            "Last upstream errors",
            &status["last_upstream_errors"],
            &["appid", "age_secs", "message"],
        ),
    )
}
