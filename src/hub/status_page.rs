//! The status page as a person reads it: the JSON of `GET /status` (see
//! [`status`](super::status)) turned into HTML with no I/O. Keys in words,
//! times relative to the hub's clock with the exact UTC time on hover,
//! a sentence where a section is empty. Every text from the JSON is
//! escaped (appids come from requests); no script, the style inline.

use serde_json::Value;

use crate::clock::utc::{rfc3339, utc};
use crate::token::{TicketType, TokenKey, TokenKind};

/// A key in words: `access token of wx1`, `jsapi ticket of wx1`,
/// `component access token of wxc`, `access token of authorizer wxa of
/// platform wxc`.
pub(super) fn key_in_words(key: &TokenKey) -> String {
    let what = match key.kind() {
        TokenKind::AccessToken => "access token",
        TokenKind::ComponentAccessToken => "component access token",
        TokenKind::Ticket(TicketType::Jsapi) => "jsapi ticket",
        TokenKind::Ticket(TicketType::WxCard) => "wx_card ticket",
    };
    match key.authorizer_appid() {
        Some(authorizer) => format!(
            "{what} of authorizer {authorizer} of platform {}",
            key.appid()
        ),
        None => format!("{what} of {}", key.appid()),
    }
}

/// A length of time, whole units cut down: `59 s`, `1 min`, `59 min`,
/// `1 h`, `23 h`, `1 day`, `3 days`.
pub(super) fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h", secs / 3_600),
        86_400..172_800 => "1 day".to_string(),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `at` seen from `now` (Unix seconds): `in 12 min`, `3 h ago`, `now`.
pub(super) fn relative(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", span(at - now)),
        std::cmp::Ordering::Less => format!("{} ago", span(now - at)),
        std::cmp::Ordering::Equal => "now".to_string(),
    }
}

/// An event at `at` in a sentence, with the verb for a time to come or
/// one gone: `expires in 2 h`, `expired 2 min ago`, `expires now`.
pub(super) fn when(future: &str, past: &str, at: u64, now: u64) -> String {
    let verb = if at < now { past } else { future };
    format!("{verb} {}", relative(at, now))
}

/// `text` with HTML's special characters escaped, for text and for
/// attribute values in double quotes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` about the time `at`, marked up with the exact time on hover.
fn time(at: u64, text: &str) -> String {
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        rfc3339(at),
        utc(at),
        escape(text)
    )
}

/// A string field, escaped; empty if absent.
fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

/// The rows of an array field.
fn rows(value: &Value) -> &[Value] {
    value.as_array().map_or(&[][..], Vec::as_slice)
}

/// A section: its title, then a table of `rows` under `columns`, or the
/// sentence that says why it is empty.
fn section(title: &str, columns: &[&str], rows: &[String], empty: &str) -> String {
    let mut out = format!("<h2>{}</h2>", escape(title));
    if rows.is_empty() {
        out.push_str(&format!("<p class=\"empty\">{}</p>", escape(empty)));
        return out;
    }
    out.push_str("<table><thead><tr>");
    for c in columns {
        out.push_str(&format!("<th>{}</th>", escape(c)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str(&format!("<tr>{row}</tr>"));
    }
    out + "</tbody></table>"
}

const STYLE: &str = "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;\
color:#1d232a;background:#f6f7f9;margin:0;padding:24px 32px;max-width:1100px}\
h1{font-size:22px;margin:0 0 12px}h2{font-size:16px;margin:22px 0 8px}\
dl.hub{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0;\
background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px}\
dt{color:#5b6570}dd{margin:0}\
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e6}\
th,td{padding:5px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #eceef1}\
th{background:#eef1f4;font-weight:600;font-size:13px;color:#3d4650}\
code{font:12px ui-monospace,monospace;color:#6b7580;display:block}\
time{border-bottom:1px dotted #8a949e;cursor:help;white-space:nowrap}\
.empty{color:#5b6570;font-style:italic;margin:4px 0}\
.ok{color:#1a7f37}.warn{color:#9a6700;font-weight:600}.bad{color:#cf222e;font-weight:600}";

/// The status page of the JSON `status` (see
/// [`status_json`](super::HubHandler::status_json)).
pub(super) fn html(status: &Value) -> String {
    let now = status["now"].as_u64().unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>wechat-hub status</title><style>{STYLE}</style></head><body>\
         <h1>wechat-hub status</h1>{}{}{}{}{}</body></html>",
        header(status, now),
        quotas(&status["quotas"], now),
        tokens(&status["tokens"], now),
        platforms(&status["components"], now),
        errors(&status["last_upstream_errors"], now),
    )
}

/// The hub itself: version, uptime, store and its health, replicas, when
/// the page was rendered.
fn header(status: &Value, now: u64) -> String {
    let hub = &status["hub"];
    let store = &status["store"];
    let started = hub["started_at"].as_u64().unwrap_or(now);
    let kind = text(&store["kind"]);
    let health = match (store["errors"].as_u64().unwrap_or(0), &store["last_error"]) {
        (0, _) => "<span class=\"ok\">healthy</span>: no store errors since start".to_string(),
        (n, last) => {
            let at = last["at"].as_u64().unwrap_or(now);
            format!(
                "<span class=\"bad\">{n} store error{} since start</span>, the last {}: {}",
                if n == 1 { "" } else { "s" },
                time(at, &relative(at, now)),
                text(&last["message"])
            )
        }
    };
    format!(
        "<dl class=\"hub\"><dt>Version</dt><dd>weixin {}</dd>\
         <dt>Uptime</dt><dd>up {}, since {}</dd>\
         <dt>Store</dt><dd>{kind} store; {health}</dd>\
         <dt>Replicas</dt><dd>{}</dd>{}\
         <dt>Rendered</dt><dd>{}</dd></dl>",
        text(&hub["version"]),
        span(now.saturating_sub(started)),
        time(started, &utc(started)),
        replicas(store),
        topology(&store["topology"], now),
        time(now, &utc(now)),
    )
}

/// The servers behind the store, for a store that tells (Redis): mode,
/// primary, replicas, failovers, a server turned read-only, writes no
/// replica acknowledged, persistence and its warning.
fn topology(topology: &Value, now: u64) -> String {
    if !topology.is_object() {
        return String::new();
    }
    let mut parts = vec![format!("{} mode", text(&topology["mode"]))];
    if topology["primary"].is_string() {
        parts.push(format!("primary {}", text(&topology["primary"])));
    }
    if let Some(n) = topology["replicas"].as_u64() {
        parts.push(format!(
            "{n} Redis replica{} connected",
            if n == 1 { "" } else { "s" }
        ));
    }
    match (
        topology["failovers"].as_u64(),
        topology["last_failover"].as_u64(),
    ) {
        (Some(n), Some(at)) if n > 0 => parts.push(format!(
            "{n} failover{}, the last {}",
            if n == 1 { "" } else { "s" },
            time(at, &relative(at, now))
        )),
        _ => parts.push("no failover since start".to_string()),
    }
    if let Some(at) = topology["read_only_since"].as_u64() {
        parts.push(format!(
            "<span class=\"bad\">read-only replica since {}: writes fail</span>",
            time(at, &relative(at, now))
        ));
    }
    if let Some(n) = topology["unacked_writes"].as_u64().filter(|n| *n > 0) {
        parts.push(format!(
            "<span class=\"bad\">{n} durable write{} not acknowledged by a replica in time</span>",
            if n == 1 { "" } else { "s" }
        ));
    }
    if topology["persistence"].is_string() {
        parts.push(format!("persistence: {}", text(&topology["persistence"])));
    }
    let warning = match topology["persistence_warning"].is_string() {
        true => format!(
            "<dt>Persistence</dt><dd><span class=\"bad\">{}</span></dd>",
            text(&topology["persistence_warning"])
        ),
        false => String::new(),
    };
    format!("<dt>Redis</dt><dd>{}</dd>{warning}", parts.join("; "))
}

/// Which hubs share the store, as far as the store can tell.
fn replicas(store: &Value) -> String {
    if let Some(n) = store["replicas"].as_u64() {
        return match n {
            1 => "1 hub listens to this store: this one".to_string(),
            n => format!("{n} hubs listen to this store, this one included"),
        };
    }
    if store["replicas_error"].is_string() {
        return "unknown: the store did not answer (see its health above)".to_string();
    }
    match store["kind"].as_str() {
        Some("memory") => {
            "this replica only: a memory store lives in this process, shared with none".to_string()
        }
        Some("file") => "this replica only: a file store serves one hub at a time".to_string(),
        _ => "not tracked: this store does not tell which hubs share it".to_string(),
    }
}

/// A kind of upstream call (see `metrics::KINDS`) in words.
fn calls_in_words(kind: &str) -> &str {
    match kind {
        "token" => "access token",
        "ticket" => "ticket",
        "component" => "component access token",
        "authorizer" => "authorizer access token",
        other => other,
    }
}

/// `1,137` for 1137.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The warning level of one kind of call of an account, worst first
/// (a higher rank), as a phrase; `None` when all is well.
fn level(q: &Value, now: u64) -> Option<(u8, String)> {
    let what = escape(calls_in_words(q["kind"].as_str().unwrap_or_default()));
    let used_up = q["used_up"].as_u64().unwrap_or_default();
    if used_up > 0 {
        let whose = if q["kind"] == "authorizer" {
            format!(
                " for {used_up} authorizer{}",
                if used_up == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let resets = q["resets_at"].as_u64().unwrap_or(now);
        return Some((
            3,
            format!(
                "<span class=\"bad\">{what} calls used up{whose}</span>: WeChat answered 45009; \
                 not called again before midnight UTC+8, {}",
                time(resets, &relative(resets, now))
            ),
        ));
    }
    if q["calls_today"].is_null() {
        return Some((
            1,
            format!("<span class=\"bad\">{what} calls unknown: the store did not answer</span>"),
        ));
    }
    let percent = q["warning_percent"].as_u64()?;
    let (rank, class) = if percent >= 90 {
        (2, "bad")
    } else {
        (1, "warn")
    };
    Some((
        rank,
        format!("<span class=\"{class}\">warning: {what} calls at {percent} % of the quota</span>"),
    ))
}

/// Calls today per account, each kind against the quota, with the
/// account's warning level: its worst kind's first.
fn quotas(quotas: &Value, now: u64) -> String {
    let all = rows(quotas);
    let quota = all
        .first()
        .and_then(|q| q["daily_quota"].as_u64())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for account in all.chunk_by(|a, b| a["appid"] == b["appid"]) {
        let calls: Vec<String> = account
            .iter()
            .map(|q| {
                let n = q["calls_today"].as_u64().map_or("?".to_string(), thousands);
                format!(
                    "{} {n}",
                    escape(calls_in_words(q["kind"].as_str().unwrap_or_default()))
                )
            })
            .collect();
        let mut levels: Vec<(u8, String)> = account.iter().filter_map(|q| level(q, now)).collect();
        levels.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
        let level = if levels.is_empty() {
            "<span class=\"ok\">ok</span>".to_string()
        } else {
            levels
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("; ")
        };
        rows.push(format!(
            "<td>{}</td><td>{}</td><td>{level}</td>",
            text(&account[0]["appid"]),
            calls.join(" · ")
        ));
    }
    section(
        "Daily quotas (today in UTC+8)",
        &[
            "Account",
            &format!("Calls today, of {} a day each", thousands(quota)),
            "Level",
        ],
        &rows,
        "no accounts to count: this hub serves a custom token source and none of its accounts \
         has been served yet",
    )
}

/// Every token and ticket the cluster serves.
fn tokens(tokens: &Value, now: u64) -> String {
    let rows: Vec<String> = rows(tokens)
        .iter()
        .map(|t| {
            let key = text(&t["key"]);
            // A quota used up shows with the account's quotas too; here
            // it says why this one is not fetched again.
            let used_up = match t["quota_resets_at"].as_u64() {
                Some(at) => format!(
                    "<div class=\"bad\">quota used up, not fetched again {}</div>",
                    time(at, &relative(at, now))
                ),
                None => String::new(),
            };
            let name = format!(
                "<td title=\"{key}\">{}<code>{key}</code>{used_up}</td>",
                text(&t["words"])
            );
            let at = |field: &str, future: &str, past: &str| match t[field].as_u64() {
                Some(at) => time(at, &when(future, past, at, now)),
                None => "-".to_string(),
            };
            let fetched = match t["fetched_at"].as_u64() {
                Some(at) => time(at, &format!("fetched {}", relative(at, now))),
                None => "not in the store: fetched again on the next request".to_string(),
            };
            format!(
                "{name}<td>{fetched}</td><td>{}</td><td>{}</td>",
                at("expires_at", "expires", "expired"),
                at("refresh_due_at", "refreshes", "refresh was due"),
            )
        })
        .collect();
    section(
        "Tokens and tickets",
        &["Token or ticket", "Fetched", "Expiry", "Refresh ahead"],
        &rows,
        "no tokens fetched yet: the hub fetches on first request",
    )
}

/// Each third-party platform and its verify ticket.
fn platforms(components: &Value, now: u64) -> String {
    let rows: Vec<String> = rows(components)
        .iter()
        .map(|c| {
            let ticket = match c["verify_ticket_at"].as_u64() {
                Some(at) => time(at, &format!("received {}", relative(at, now))),
                None => "<span class=\"warn\">none yet</span>: WeChat pushes one every 10 \
                         minutes to the platform's callback"
                    .to_string(),
            };
            format!("<td>platform {}</td><td>{ticket}</td>", text(&c["appid"]))
        })
        .collect();
    section(
        "Third-party platforms",
        &["Platform", "Verify ticket"],
        &rows,
        "no third-party platforms: this hub is configured with none",
    )
}

/// The last upstream error of each account.
fn errors(errors: &Value, now: u64) -> String {
    let rows: Vec<String> = rows(errors)
        .iter()
        .map(|e| {
            let at = e["at"].as_u64().unwrap_or(now);
            format!(
                "<td>{}</td><td>{}</td><td>{}</td>",
                text(&e["appid"]),
                time(at, &relative(at, now)),
                text(&e["message"])
            )
        })
        .collect();
    section(
        "Last upstream error per account",
        &["Account", "When", "Error"],
        &rows,
        "no upstream errors since start",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_key_in_words() {
        let ticket = |t| TokenKey::ticket("wx1234", t);
        for (key, words) in [
            (TokenKey::access_token("wx1234"), "access token of wx1234"),
            (ticket(TicketType::Jsapi), "jsapi ticket of wx1234"),
            (ticket(TicketType::WxCard), "wx_card ticket of wx1234"),
            (
                TokenKey::component_access_token("wxcomp"),
                "component access token of wxcomp",
            ),
            (
                TokenKey::access_token("wxcomp").for_authorizer("wxabc"),
                "access token of authorizer wxabc of platform wxcomp",
            ),
            (
                TokenKey::ticket("wxcomp", TicketType::Jsapi).for_authorizer("wxabc"),
                "jsapi ticket of authorizer wxabc of platform wxcomp",
            ),
            (
                TokenKey::ticket("wxcomp", TicketType::WxCard).for_authorizer("wxabc"),
                "wx_card ticket of authorizer wxabc of platform wxcomp",
            ),
        ] {
            assert_eq!(key_in_words(&key), words, "{key:?}");
        }
    }

    #[test]
    fn spans_cut_down_to_whole_units() {
        for (secs, text) in [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (119, "1 min"),
            (3_599, "59 min"),
            (3_600, "1 h"),
            (86_399, "23 h"),
            (86_400, "1 day"),
            (172_799, "1 day"),
            (172_800, "2 days"),
            (30 * 86_400 + 5, "30 days"),
        ] {
            assert_eq!(span(secs), text, "{secs}");
        }
    }

    #[test]
    fn times_read_relative_to_now_both_ways() {
        let now = 1_800_000_000;
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now + 59, now), "in 59 s");
        assert_eq!(relative(now + 60, now), "in 1 min");
        assert_eq!(relative(now + 12 * 60 + 30, now), "in 12 min");
        assert_eq!(relative(now - 59, now), "59 s ago");
        assert_eq!(relative(now - 60, now), "1 min ago");
        assert_eq!(relative(now - 3_599, now), "59 min ago");
        assert_eq!(relative(now - 3_600, now), "1 h ago");
        assert_eq!(relative(now - 3 * 3_600 - 59, now), "3 h ago");
        assert_eq!(relative(now + 3 * 86_400, now), "in 3 days");
        assert_eq!(relative(now - 86_400, now), "1 day ago");
        assert_eq!(
            when("expires", "expired", now + 7_200, now),
            "expires in 2 h"
        );
        assert_eq!(
            when("expires", "expired", now - 120, now),
            "expired 2 min ago"
        );
        assert_eq!(when("expires", "expired", now, now), "expires now");
        assert_eq!(
            when("refreshes", "refresh was due", now + 12 * 60, now),
            "refreshes in 12 min"
        );
    }

    #[test]
    fn counts_read_in_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_137, "1,137"),
            (2_000_000, "2,000,000"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }

    #[test]
    fn an_account_shows_its_worst_quota_level_first() {
        let now = 1_800_000_000;
        let row = |kind: &str, calls: u64, warning: Option<u64>, used_up: u64| {
            json!({"appid": "wx1", "kind": kind, "calls_today": calls, "daily_quota": 2000,
                   "warning_percent": warning, "used_up": used_up, "resets_at": now + 3_600})
        };
        let page = quotas(
            &json!([
                row("token", 1_000, Some(50), 0),
                row("ticket", 1_800, Some(90), 0),
                row("component", 3, None, 0),
                row("authorizer", 4, None, 2),
            ]),
            now,
        );
        assert!(
            page.contains(
                "<td>wx1</td><td>access token 1,000 · ticket 1,800 · component access token 3 \
                 · authorizer access token 4</td><td><span class=\"bad\">authorizer access \
                 token calls used up for 2 authorizers</span>: WeChat answered 45009; not called \
                 again before midnight UTC+8, <time datetime=\"2027-01-15T09:00:00Z\" \
                 title=\"2027-01-15 09:00:00 UTC\">in 1 h</time>; <span class=\"bad\">warning: \
                 ticket calls at 90 % of the quota</span>; <span class=\"warn\">warning: access \
                 token calls at 50 % of the quota</span></td>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<th>Calls today, of 2,000 a day each</th>"),
            "{page}"
        );
        let fine = quotas(&json!([row("token", 999, None, 0)]), now);
        assert!(
            fine.contains("<td><span class=\"ok\">ok</span></td>"),
            "{fine}"
        );
    }

    #[test]
    fn a_time_carries_the_exact_utc_time() {
        assert_eq!(
            time(1_414_587_457, "3 h ago"),
            "<time datetime=\"2014-10-29T12:57:37Z\" title=\"2014-10-29 12:57:37 UTC\">3 h ago</time>"
        );
    }

    #[test]
    fn text_from_requests_is_escaped_everywhere() {
        let evil = "<script>alert('x')</script>\"&";
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;";
        assert_eq!(escape(evil), escaped);
        let status = json!({
            "now": 1_800_000_000u64,
            "hub": {"version": "0.1.0", "started_at": 1_799_990_000u64},
            "store": {"kind": evil, "errors": 1, "last_error": {"at": 1_799_999_000u64, "message": evil}},
            "quotas": [{"appid": evil, "kind": "token", "calls_today": 1, "daily_quota": 2000,
                        "warning_percent": null, "used_up": 0, "resets_at": 1_800_010_000u64}],
            "tokens": [{"key": evil, "words": evil, "fetched_at": 1_799_999_000u64}],
            "components": [{"appid": evil}],
            "last_upstream_errors": [{"appid": evil, "at": 1_799_999_000u64, "message": evil}],
        });
        let page = html(&status);
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("alert('x')"), "{page}");
        assert_eq!(page.matches(escaped).count(), 9, "{page}");
    }

    #[test]
    fn the_header_tells_store_errors_and_replicas() {
        let now = 1_800_000_000;
        let status = json!({
            "now": now,
            "hub": {"version": "9.9.9", "started_at": now - 2 * 86_400 - 5},
            "store": {"kind": "redis", "errors": 3, "replicas": null,
                      "replicas_error": "redis at 127.0.0.1:6379: PUBSUB NUMSUB",
                      "last_error": {"at": now - 16 * 60, "message": "redis at 127.0.0.1:6379: GET"}},
            "quotas": [], "tokens": [], "components": [], "last_upstream_errors": [],
        });
        let page = header(&status, now);
        for part in [
            "<dt>Version</dt><dd>weixin 9.9.9</dd>",
            "<dt>Uptime</dt><dd>up 2 days, since ",
            "<dt>Store</dt><dd>redis store; <span class=\"bad\">3 store errors since start</span>, \
             the last <time datetime=\"2027-01-15T07:44:00Z\" title=\"2027-01-15 07:44:00 UTC\">\
             16 min ago</time>: redis at 127.0.0.1:6379: GET</dd>",
            "<dt>Replicas</dt><dd>unknown: the store did not answer (see its health above)</dd>",
        ] {
            assert!(page.contains(part), "{part}: {page}");
        }
        let listening = json!({"kind": "redis", "replicas": 3});
        assert_eq!(
            replicas(&listening),
            "3 hubs listen to this store, this one included"
        );
        let custom = json!({"kind": "custom", "replicas": null});
        assert_eq!(
            replicas(&custom),
            "not tracked: this store does not tell which hubs share it"
        );
    }

    #[test]
    fn empty_sections_say_why() {
        let status = json!({
            "now": 1_800_000_000u64,
            "hub": {"version": "0.1.0", "started_at": 1_800_000_000u64},
            "store": {"kind": "memory", "errors": 0, "last_error": null, "replicas": null},
            "quotas": [], "tokens": [], "components": [], "last_upstream_errors": [],
        });
        let page = html(&status);
        for sentence in [
            "no tokens fetched yet: the hub fetches on first request",
            "no upstream errors since start",
            "no third-party platforms: this hub is configured with none",
            "<span class=\"ok\">healthy</span>: no store errors since start",
            "this replica only: a memory store lives in this process, shared with none",
            "up 0 s, since",
        ] {
            assert!(page.contains(sentence), "{sentence}: {page}");
        }
    }
}
