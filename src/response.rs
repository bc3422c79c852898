//! `Response`, and the pure parsing of what WeChat answered.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::http::Incoming;

/// A successful answer from WeChat: a JSON document or bytes (a media file).
///
/// A JSON body with a non-zero `errcode` never becomes a `Response`: it is
/// returned as an [`ErrorKind::Api`] error instead.
#[derive(Clone)]
pub struct Response {
    status: u16,
    content_type: Option<String>,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
    json: Option<serde_json::Value>,
}

impl Response {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The first value of header `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The raw body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The raw body, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.body
    }

    /// True when the body was read as a JSON document.
    pub fn is_json(&self) -> bool {
        self.json.is_some()
    }

    /// The body as a JSON value.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Decode`] error when the body is not JSON (a media
    /// download, for example).
    pub fn json(&self) -> Result<&serde_json::Value> {
        self.json.as_ref().ok_or_else(|| {
            Error::decode(format!(
                "body as json: content type is {:?}",
                self.content_type
            ))
        })
    }

    /// The body decoded into the caller's type.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Decode`] error when the body is not JSON or does not
    /// have the shape of `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        let value = self.json()?;
        T::deserialize(value).map_err(|e| {
            Error::with_source(
                ErrorKind::Decode {
                    what: format!("body as {}: {e}", std::any::type_name::<T>()),
                },
                e,
            )
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body is not printed: it may hold tokens or personal data.
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Content types that are never JSON, so a media download that happens to
/// start with `{` is not mistaken for an error.
fn is_binary(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.trim().as_bytes();
        ["image/", "audio/", "video/", "application/octet-stream"]
            .iter()
            .any(|p| {
                ct.get(..p.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(p.as_bytes()))
            })
    })
}

/// Whether a content type says JSON (`application/json`, `text/json`,
/// `application/problem+json`, any case).
fn declares_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"json"))
    })
}

/// Reads WeChat's `errcode`/`errmsg` from a JSON document, if it has a
/// non-zero one.
pub(crate) fn api_error(value: &serde_json::Value, status: u16) -> Option<Error> {
    let errcode = value.get("errcode")?;
    let errcode = errcode
        .as_i64()
        .or_else(|| errcode.as_str().and_then(|s| s.parse().ok()))?;
    if errcode == 0 {
        return None;
    }
    let errmsg = value.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
    Some(Error::api(errcode, errmsg, status))
}

/// Turns what the server sent into a `Response` or an error. Pure: no I/O.
pub(crate) fn parse(incoming: Incoming) -> Result<Response> {
    let Incoming {
        status,
        url,
        content_type,
        headers,
        body,
    } = incoming;
    let looks_json = !is_binary(content_type.as_deref())
        && body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
    let json = if looks_json {
        serde_json::from_slice::<serde_json::Value>(&body).ok()
    } else {
        None
    };
    if let Some(err) = json.as_ref().and_then(|v| api_error(v, status)) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(Error::new(ErrorKind::HttpStatus { status, url }));
    }
    // An empty body (a HEAD answer) is fine whatever its declared type.
    // The content type is read last: only a body that did not parse needs it.
    if json.is_none() && !body.is_empty() && declares_json(content_type.as_deref()) {
        return Err(Error::decode(format!(
            "json body from {url}: not valid json ({} bytes)",
            body.len()
        )));
    }
    Ok(Response {
        status,
        content_type,
        headers,
        body,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(status: u16, ct: &str, body: &[u8]) -> Incoming {
        Incoming {
            status,
            url: "https://api.weixin.qq.com/x".into(),
            content_type: Some(ct.into()),
            headers: [(
                ureq::http::header::CONTENT_TYPE,
                ureq::http::HeaderValue::from_str(ct).unwrap(),
            )]
            .into_iter()
            .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn errcode_becomes_typed_error() {
        let err = parse(incoming(
            200,
            "application/json",
            br#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Api {
                errcode: 45009,
                errmsg: "reach max api daily quota limit".into(),
                status: 200
            }
        );
    }

    #[test]
    fn errcode_zero_is_success() {
        let resp = parse(incoming(
            200,
            "text/plain",
            br#"{"errcode":0,"errmsg":"ok","a":1}"#,
        ))
        .unwrap();
        assert_eq!(resp.json().unwrap()["a"], 1);
    }

    #[test]
    fn media_bytes_stay_bytes() {
        let resp = parse(incoming(200, "image/jpeg", b"{not json")).unwrap();
        assert!(!resp.is_json());
        assert_eq!(resp.bytes(), b"{not json");
        assert_eq!(resp.content_type(), Some("image/jpeg"));
        assert!(matches!(
            resp.json().unwrap_err().kind(),
            ErrorKind::Decode { .. }
        ));
    }

    #[test]
    fn bad_status_without_errcode() {
        let err = parse(incoming(502, "text/html", b"<html>bad gateway</html>")).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::HttpStatus {
                status: 502,
                url: "https://api.weixin.qq.com/x".into()
            }
        );
    }

    #[test]
    fn content_types_are_read_in_any_case() {
        assert!(is_binary(Some(" IMAGE/jpeg")));
        assert!(is_binary(Some("Application/Octet-Stream")));
        assert!(!is_binary(Some("image")));
        assert!(!is_binary(Some("text/plain")));
        assert!(!is_binary(None));
        assert!(declares_json(Some("application/JSON; encoding=utf-8")));
        assert!(declares_json(Some("application/problem+json")));
        assert!(!declares_json(Some("text/plain")));
        assert!(!declares_json(Some("jso")));
        assert!(!declares_json(None));
        let resp = parse(incoming(200, "application/json", b"{}")).unwrap();
        assert_eq!(resp.header("CONTENT-type"), Some("application/json"));
        assert_eq!(resp.header("x-missing"), None);
    }

    #[test]
    fn declared_json_that_is_not() {
        let err = parse(incoming(200, "application/json", b"oops")).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }));
    }

    #[test]
    fn decode_into_caller_type() {
        #[derive(serde::Deserialize)]
        struct Ip {
            ip_list: Vec<String>,
        }
        let resp = parse(incoming(
            200,
            "application/json",
            br#"{"ip_list":["1.1.1.1"]}"#,
        ))
        .unwrap();
        assert_eq!(resp.decode::<Ip>().unwrap().ip_list, ["1.1.1.1"]);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // ok because only the decode failure is tested
        struct Wrong {
            missing: u8,
        }
        assert!(matches!(
            resp.decode::<Wrong>().unwrap_err().kind(),
            ErrorKind::Decode { .. }
        ));
    }
}
