//! A newtype for secrets and tokens that never prints its value.

use std::fmt;
use std::sync::Arc;

/// A secret string: an app secret, an access token, a refresh token, a key.
///
/// `Debug` prints `[redacted]` and there is no `Display`, so a secret cannot
/// reach a log line by accident. Cloning is cheap: the value is shared.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Arc::from(value.into()))
    }

    /// The secret value.
    ///
    /// # Security
    ///
    /// The returned string is the real secret: do not log it, put it in an
    /// error message or send it anywhere but to the party that issued it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `text` with the values of secrets masked, as the crate's own errors and
/// logs show them: `access_token`, `secret`, `component_appsecret`,
/// `authorizer_refresh_token`, tickets, session keys, codes and the other
/// credentials WeChat's APIs take, as `name=value` pairs (a URL's query) or
/// `"name":"value"` members of JSON text, read `[redacted]`.
///
/// For printing what WeChat answered, such as the `request_url` of
/// `/cgi-bin/openapi/rid/get`.
///
/// # Example
///
/// ```
/// let shown = weixin::redact("https://api.weixin.qq.com/cgi-bin/ticket/getticket?access_token=ACCESS&type=jsapi");
/// assert_eq!(shown, "https://api.weixin.qq.com/cgi-bin/ticket/getticket?access_token=[redacted]&type=jsapi");
/// assert_eq!(weixin::redact(r#"{"secret":"S","appid":"wx1"}"#), r#"{"secret":"[redacted]","appid":"wx1"}"#);
/// ```
pub fn redact(text: &str) -> String {
    crate::error::redact_text(text)
}

/// `value` with the secrets in it masked: the string value of every member
/// named like a credential (`access_token`, `ticket`, `session_key`,
/// `refresh_token`, `authorizer_refresh_token`, ... as [`redact`] knows
/// them), at any depth, reads `[redacted]`, and every other string goes
/// through [`redact`].
///
/// For printing or logging what WeChat answered, such as a ticket answer
/// or a platform's authorizer tokens.
///
/// # Example
///
/// ```
/// use serde_json::json;
///
/// let answer = json!({"errcode": 0, "ticket": "T", "expires_in": 7200,
///     "authorization_info": {"authorizer_refresh_token": "R", "authorizer_appid": "wx1"}});
/// assert_eq!(weixin::redact_json(&answer), json!({"errcode": 0, "ticket": "[redacted]", "expires_in": 7200,
///     "authorization_info": {"authorizer_refresh_token": "[redacted]", "authorizer_appid": "wx1"}}));
/// ```
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(redact(text)),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, value)| {
                    let shown = match value {
                        Value::String(_)
                            if crate::error::SENSITIVE_NAMES.contains(&name.as_str()) =>
                        {
                            Value::String("[redacted]".to_string())
                        }
                        other => redact_json(other),
                    };
                    (name.clone(), shown)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
