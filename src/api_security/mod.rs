//! Signed and encrypted server API calls: WeChat's "API security" for mini
//! programs (服务端API签名, 安全鉴权模式), feature `api-security`.
//!
//! A secured request's JSON body becomes `{"iv","data","authtag"}`:
//! AES-256-GCM with a random 12-byte IV of the original members plus `_n`
//! (a random nonce), `_appid` and `_timestamp`, with
//! `urlpath|appid|timestamp|sym_sn` as additional data (`urlpath` is the
//! full `https://` URL without its query; `access_token` stays in the
//! query). It carries exactly three more headers, `Wechatmp-Appid`,
//! `Wechatmp-TimeStamp` and `Wechatmp-Signature`: RSASSA-PSS (SHA-256,
//! MGF1-SHA256, salt 32) over `urlpath\nappid\ntimestamp\nbody`, base64.
//!
//! WeChat answers the same way, signed with its platform key: the answer is
//! verified with the platform certificate `Wechatmp-Serial` names (during a
//! rotation, `Wechatmp-Serial-Deprecated` and its signature are accepted
//! too), its appid and timestamp checked, then decrypted with its own
//! timestamp in the additional data.
//!
//! `scheme.rs` holds the pure steps, `keys.rs` the key material and how it
//! is read, `calls.rs` the one table of calls WeChat lets be secured (with
//! the source of each row). AES-256-GCM is RustCrypto's `aes-gcm`; the
//! RSA signatures are *ring*'s (constant time); certificates and PEM are
//! read with `x509-cert`. Everything is checked against WeChat's own
//! worked example (tests/vectors/api_security_wechat.json) and vectors
//! made by OpenSSL (tests/vectors/api_security.py).

mod calls;
mod keys;
pub(crate) mod scheme;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{ApiSecurityErrorKind, Error, Result};

pub use calls::is_securable;
#[cfg(any(test, feature = "testing"))]
pub(crate) use keys::signer;
pub use keys::ApiSecurity;
#[cfg(any(test, feature = "testing"))]
pub(crate) use keys::{cipher, public_key};

/// The request header naming the account.
pub const HEADER_APPID: &str = "Wechatmp-Appid";
/// The request and response header carrying the Unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "Wechatmp-TimeStamp";
/// The request and response header carrying the signature.
pub const HEADER_SIGNATURE: &str = "Wechatmp-Signature";
/// The response header naming the platform certificate that signed it.
pub const HEADER_SERIAL: &str = "Wechatmp-Serial";
/// During a rotation: the retiring platform certificate's SN.
pub const HEADER_SERIAL_DEPRECATED: &str = "Wechatmp-Serial-Deprecated";
/// During a rotation: the signature by the retiring certificate.
pub const HEADER_SIGNATURE_DEPRECATED: &str = "Wechatmp-Signature-Deprecated";

/// How far a response's timestamp may be from the local clock by default.
pub(crate) const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// A request sealed for WeChat: the body to send and the three headers to
/// add, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRequest {
    body: String,
    headers: [(&'static str, String); 3],
}

impl SealedRequest {
    /// The JSON body to send: `{"iv","data","authtag"}`.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// `Wechatmp-Appid`, `Wechatmp-TimeStamp` and `Wechatmp-Signature`
    /// with their values, in that order.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
}

/// `url` without its query and fragment: the `urlpath` of the scheme.
pub(crate) fn urlpath(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// The object a request's plaintext starts from: the JSON body's members
/// and the query's pairs other than the token (WeChat: "包含URL参数、POST
/// 参数,不包含AccessToken").
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) when the
/// body is JSON but not an object.
pub(crate) fn request_fields<'a>(
    body: Option<&Value>,
    query: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Map<String, Value>> {
    let mut fields = match body {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(Error::invalid(
                "a secured call's JSON body must be an object",
            ))
        }
    };
    for (name, value) in query {
        fields
            .entry(name.to_string())
            .or_insert_with(|| Value::from(value));
    }
    Ok(fields)
}

/// The value of header `name`, which the response must carry.
pub(crate) fn header(
    headers: &dyn Fn(&'static str) -> Option<String>,
    name: &'static str,
) -> Result<String> {
    headers(name).ok_or_else(|| Error::api_security(ApiSecurityErrorKind::MissingHeader(name)))
}

#[cfg(test)]
mod tests;
