//! `HubError`: every failure the hub answers, in the Elixir hub's body
//! `{"errcode", "message", "reason", "http_status"}`, converted from the
//! crate's [`Error`] in one place.

use serde_json::{json, Map, Value};

use super::quota::{day_ends_at, QUOTA_ERRCODE};
use super::wire::HubResponse;
use crate::error::{Error, ErrorKind};

/// The reason a used-up daily quota (WeChat's 45009) is answered with.
const QUOTA_EXHAUSTED: &str = "quota_exhausted";

/// A failure to answer: an HTTP status, the protocol's `reason`, a message
/// for an operator, WeChat's errcode when it gave one, extra body fields
/// and headers.
#[derive(Debug)]
pub(crate) struct HubError {
    status: u16,
    reason: &'static str,
    message: String,
    errcode: Option<i64>,
    extra: Map<String, Value>,
    headers: Vec<(&'static str, String)>,
}

impl HubError {
    pub fn new(status: u16, reason: &'static str, message: impl Into<String>) -> HubError {
        HubError {
            status,
            reason,
            message: message.into(),
            errcode: None,
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A missing or malformed parameter (400).
    pub fn invalid(message: impl Into<String>) -> HubError {
        HubError::new(400, "invalid_request", message)
    }

    /// `method` is not one of `allowed` on this path (405, with `Allow`).
    pub fn method_not_allowed(method: &str, path: &str, allowed: &str) -> HubError {
        HubError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
        .header("Allow", allowed)
    }

    /// Missing or wrong bearer secret (401, with `WWW-Authenticate`).
    pub fn unauthorized() -> HubError {
        HubError::unauthorized_with("Bearer")
    }

    /// Missing or wrong credentials (401), with `challenge` as
    /// `WWW-Authenticate`: `Bearer`, or the status page's `Basic` one.
    pub fn unauthorized_with(challenge: &str) -> HubError {
        HubError::new(401, "unauthorized", "missing or wrong bearer secret")
            .header("WWW-Authenticate", challenge)
    }

    /// A used-up quota (`quota_exhausted`) says when to try again, as
    /// `refresh_limited` does: `retry_after` seconds in the body and a
    /// `Retry-After` header, until the quota resets at midnight UTC+8
    /// after `now`. Any other error is left as it is.
    pub fn until_quota_resets(self, now: u64) -> HubError {
        if self.reason != QUOTA_EXHAUSTED {
            return self;
        }
        let secs = day_ends_at(now).saturating_sub(now);
        let mut error = self.header("Retry-After", secs.to_string());
        error.extra.insert("retry_after".into(), secs.into());
        error
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> HubError {
        self.headers.push((name, value.into()));
        self
    }

    /// The answer; with `errors_with_200` (elixir_wechat's habit) its HTTP
    /// status is 200 and only the body's `http_status` says what happened.
    pub fn into_response(self, errors_with_200: bool) -> HubResponse {
        let mut body = json!({
            // WeChat's errcode when it answered one, else the HTTP status
            // (as the Elixir hub does).
            "errcode": self.errcode.unwrap_or(i64::from(self.status)),
            "message": self.message,
            "reason": self.reason,
            "http_status": self.status,
        });
        if let Value::Object(body) = &mut body {
            body.extend(self.extra);
        }
        let status = if errors_with_200 { 200 } else { self.status };
        self.headers
            .into_iter()
            .fold(HubResponse::json(status, &body), |resp, (name, value)| {
                resp.with_header(name, value)
            })
    }
}

impl From<&Error> for HubError {
    fn from(e: &Error) -> HubError {
        // The cause (an I/O or Redis error) is what an operator needs.
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&crate::error::redact_text(&c.to_string()));
            cause = c.source();
        }
        let (status, reason, errcode) = match e.kind() {
            ErrorKind::RefreshLimited {
                key,
                retry_after,
                rejected_after,
            } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut limited = HubError::new(429, "refresh_limited", message)
                    .header("Retry-After", secs.to_string());
                limited.extra.insert("key".into(), json!(key));
                limited.extra.insert("retry_after".into(), secs.into());
                if let Some(age) = rejected_after {
                    limited
                        .extra
                        .insert("rejected_after".into(), age.as_secs().into());
                }
                return limited;
            }
            ErrorKind::Api {
                errcode: QUOTA_ERRCODE,
                ..
            } => {
                let message = format!(
                    "WeChat's daily quota of token calls is used up (errcode 45009); \
                     it resets at midnight UTC+8, or clear it with /cgi-bin/clear_quota/v2: {message}"
                );
                return HubError {
                    errcode: Some(QUOTA_ERRCODE),
                    ..HubError::new(429, QUOTA_EXHAUSTED, message)
                };
            }
            ErrorKind::Api { errcode, .. } => (502, "wechat_error", Some(*errcode)),
            ErrorKind::Hub { errcode, .. } => (502, "wechat_error", *errcode),
            ErrorKind::Store { .. } => (503, "store_unavailable", None),
            ErrorKind::InvalidRequest { .. } => (400, "invalid_request", None),
            ErrorKind::Transport { .. }
            | ErrorKind::HttpStatus { .. }
            | ErrorKind::Decode { .. } => (502, "upstream_unavailable", None),
            _ => (500, "hub_error", None),
        };
        HubError {
            errcode,
            ..HubError::new(status, reason, message)
        }
    }
}

impl From<Error> for HubError {
    fn from(e: Error) -> HubError {
        HubError::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: &HubResponse) -> Value {
        serde_json::from_slice(&resp.body).unwrap()
    }

    #[test]
    fn the_elixir_body_with_its_status_or_200() {
        let resp = HubError::invalid("missing parameter appid").into_response(false);
        assert_eq!(resp.status, 400);
        assert_eq!(
            body(&resp),
            json!({"errcode": 400, "message": "missing parameter appid",
                   "reason": "invalid_request", "http_status": 400})
        );
        let resp = HubError::unauthorized().into_response(true);
        assert_eq!(
            (resp.status, body(&resp)["http_status"].as_u64()),
            (200, Some(401))
        );
        assert!(resp
            .headers
            .contains(&("WWW-Authenticate".into(), "Bearer".into())));
        let resp =
            HubError::method_not_allowed("PUT", "/healthz", "GET, HEAD").into_response(false);
        assert_eq!(resp.status, 405);
        assert!(resp.headers.contains(&("Allow".into(), "GET, HEAD".into())));
    }

    #[test]
    fn errors_map_to_statuses_and_reasons() {
        let api = Error::api(40164, "invalid ip", 200);
        let resp = HubError::from(&api).into_response(false);
        assert_eq!(
            (
                resp.status,
                body(&resp)["reason"].clone(),
                body(&resp)["errcode"].clone()
            ),
            (502, json!("wechat_error"), json!(40164))
        );
        let used_up = HubError::from(&Error::api(45009, "reach max api daily quota limit", 200))
            // 2026-01-01T15:58:19Z: 100 s before midnight in China.
            .until_quota_resets(1_767_283_100);
        let resp = used_up.into_response(false);
        assert_eq!(
            (
                resp.status,
                body(&resp)["reason"].clone(),
                body(&resp)["errcode"].clone(),
                body(&resp)["retry_after"].clone()
            ),
            (429, json!("quota_exhausted"), json!(45009), json!(100))
        );
        assert!(resp.headers.contains(&("Retry-After".into(), "100".into())));
        let other = HubError::from(&api).until_quota_resets(1_767_283_100);
        assert!(other.headers.is_empty() && !other.extra.contains_key("retry_after"));
        let store = crate::store::store_error("redis is down");
        let resp = HubError::from(&store).into_response(false);
        assert_eq!(
            (resp.status, body(&resp)["reason"].clone()),
            (503, json!("store_unavailable"))
        );
    }
}
