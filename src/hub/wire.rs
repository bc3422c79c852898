//! The hub's HTTP request and response, as plain data: whatever server
//! carries the hub (`HubServer`, the test fakes' loop, your own) builds a
//! [`HubRequest`] and writes out a [`HubResponse`].

use std::fmt;

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The largest request body a hub reads; protocol bodies are tiny.
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// An HTTP request as the hub sees it: build it from whatever your server
/// hands you.
///
/// # Example
///
/// ```
/// let req = weixin::hub::HubRequest::new("GET", "/client/access_token?appid=wx1")
///     .header("Authorization", "Bearer s");
/// assert_eq!(req.path, "/client/access_token");
/// assert_eq!(req.query, vec![("appid".to_string(), "wx1".to_string())]);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct HubRequest {
    /// The method, upper case: `GET`, `POST`.
    pub method: String,
    /// The path, without its query.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HubRequest {
    /// A request for `target`, a path with an optional form-encoded query
    /// (`/client/ticket?appid=wx1&type=jsapi`), with no headers and no body.
    ///
    /// # Example
    ///
    /// ```
    /// let req = weixin::hub::HubRequest::new("post", "/client/ticket?appid=wx1&type=jsapi");
    /// assert_eq!((req.method.as_str(), req.query.len()), ("POST", 2));
    /// ```
    pub fn new(method: &str, target: &str) -> HubRequest {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, parse_query(q)),
            None => (target, Vec::new()),
        };
        HubRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    ///
    /// # Example
    ///
    /// ```
    /// let req = weixin::hub::HubRequest::new("GET", "/healthz").header("Accept", "*/*");
    /// assert_eq!(req.headers, vec![("Accept".to_string(), "*/*".to_string())]);
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> HubRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    ///
    /// Defaults to empty.
    ///
    /// # Example
    ///
    /// ```
    /// let req = weixin::hub::HubRequest::new("POST", "/refresh/access_token").body("{}");
    /// assert_eq!(req.body, b"{}");
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HubRequest {
        self.body = body.into();
        self
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    #[cfg(feature = "testing")]
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for HubRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Path only: queries, headers and bodies carry tokens and secrets.
        f.debug_struct("HubRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The hub's answer: a status, headers and a JSON (or, for callbacks,
/// plain text) body.
#[derive(Clone)]
#[non_exhaustive]
pub struct HubResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send, `Content-Type` included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HubResponse {
    /// `status` with a body of `content_type`.
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HubResponse {
        HubResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// `status` with `value` as its JSON body.
    pub(crate) fn json(status: u16, value: &Value) -> HubResponse {
        HubResponse::new(status, "application/json", value.to_string())
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> HubResponse {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for HubResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body carries tokens.
        f.debug_struct("HubResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Decodes an `application/x-www-form-urlencoded` query.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_form_decoded() {
        assert_eq!(
            parse_query("a=1+2&b=x%26y&c"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "x&y".into()),
                ("c".into(), String::new())
            ]
        );
    }

    #[test]
    fn debug_shows_no_query_header_or_body() {
        let req = HubRequest::new("GET", "/client/access_token?appid=wx1&access_token=T")
            .header("Authorization", "Bearer B")
            .body("SECRET");
        let shown = format!("{req:?} {:?}", HubResponse::new(200, "text/plain", "TOKEN"));
        for hidden in ["wx1", "access_token=T", "Bearer B", "SECRET", "TOKEN"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
    }
}
