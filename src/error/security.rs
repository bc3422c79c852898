//! The errors of WeChat's API security (feature `api-security`): why a
//! secured answer was refused, and which part of a secured request WeChat
//! refused (errcodes 40230 to 40240).

use std::fmt;

/// Why the answer to a secured call (feature `api-security`) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiSecurityErrorKind {
    /// A header the answer must carry is absent (an answer WeChat did not
    /// sign).
    MissingHeader(&'static str),
    /// Neither `Wechatmp-Serial` nor `Wechatmp-Serial-Deprecated` names a
    /// platform certificate the client holds: add the new one.
    UnknownSerial,
    /// No held certificate's signature matches the answer: a changed body,
    /// timestamp or URL, or a certificate that is not WeChat's.
    BadSignature,
    /// The answer is for another account (`Wechatmp-Appid` or `_appid`).
    AppIdMismatch,
    /// The answer's timestamp is not a number, too far from the local
    /// clock, or not the one it encrypts.
    StaleTimestamp,
    /// The body is not `{"iv","data","authtag"}` or its plaintext not JSON.
    Malformed(String),
    /// The ciphertext, tag or additional data does not match the key.
    Decrypt,
}

impl fmt::Display for ApiSecurityErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiSecurityErrorKind::MissingHeader(name) => write!(f, "no {name} header"),
            ApiSecurityErrorKind::UnknownSerial => {
                f.write_str("signed by a platform certificate the client does not hold")
            }
            ApiSecurityErrorKind::BadSignature => f.write_str("signature does not match"),
            ApiSecurityErrorKind::AppIdMismatch => f.write_str("answer is for another appid"),
            ApiSecurityErrorKind::StaleTimestamp => {
                f.write_str("timestamp is invalid or outside the accepted skew")
            }
            ApiSecurityErrorKind::Malformed(what) => write!(f, "malformed: {what}"),
            ApiSecurityErrorKind::Decrypt => f.write_str("could not be decrypted"),
        }
    }
}

/// Which part of a secured request WeChat refused, read from an errcode in
/// 40230..=40240 ([`Error::api_security_part`](crate::Error::api_security_part)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiSecurityPart {
    /// The signature (40234): the signed string, the private key, or the
    /// public key set in the console.
    Signature,
    /// The encryption: the symmetric key, its SN, the IV or tag, the AAD.
    Decryption,
    /// `Wechatmp-TimeStamp` or `_timestamp`: the clock, or the two differ.
    Timestamp,
    /// A key number (SN) WeChat does not know for the account.
    KeyNumber,
    /// `Wechatmp-Appid` or `_appid`.
    AppId,
    /// In the range, but WeChat's message names none of the above.
    Other,
}

/// The part a security errcode names: 40234 is the signature (WeChat's
/// "invalid signature"); for the rest of 40230..=40240 the `errmsg` says
/// which, read by its words.
pub(super) fn security_part(errcode: i64, errmsg: &str) -> Option<ApiSecurityPart> {
    if !(40230..=40240).contains(&errcode) {
        return None;
    }
    if errcode == 40234 {
        return Some(ApiSecurityPart::Signature);
    }
    let msg = errmsg.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| msg.contains(w));
    Some(if has(&["signature", "sign "]) {
        ApiSecurityPart::Signature
    } else if has(&["timestamp", "time stamp", "expired"]) {
        ApiSecurityPart::Timestamp
    } else if has(&["appid"]) {
        ApiSecurityPart::AppId
    } else if has(&["decrypt", "encrypt", "authtag", "cipher"]) {
        ApiSecurityPart::Decryption
    } else if has(&[" sn", "serial", "key num", "keysn"]) {
        ApiSecurityPart::KeyNumber
    } else {
        ApiSecurityPart::Other
    })
}

impl ApiSecurityPart {
    pub(super) fn hint(self) -> &'static str {
        match self {
            ApiSecurityPart::Signature => "api security: the signature was refused; check the private key matches the public key set in the console and that nothing but urlpath, appid, timestamp and body is signed",
            ApiSecurityPart::Decryption => "api security: the body could not be decrypted; check the symmetric key and its SN",
            ApiSecurityPart::Timestamp => "api security: the timestamp was refused; check this machine's clock",
            ApiSecurityPart::KeyNumber => "api security: a key number (SN) is not the console's",
            ApiSecurityPart::AppId => "api security: the appid header or _appid is not this account's",
            ApiSecurityPart::Other => "api security: the secured request was refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn security_errcodes_name_their_part() {
        use ApiSecurityPart as P;
        let part = |code, msg| security_part(code, msg);
        assert_eq!(part(40234, "anything"), Some(P::Signature));
        assert_eq!(part(40231, "decrypt failed rid: x"), Some(P::Decryption));
        assert_eq!(part(40233, "invalid timestamp"), Some(P::Timestamp));
        assert_eq!(part(40230, "invalid appid in header"), Some(P::AppId));
        assert_eq!(part(40236, "invalid sn"), Some(P::KeyNumber));
        assert_eq!(part(40240, "something else"), Some(P::Other));
        assert_eq!(part(40229, "invalid signature"), None);
        assert_eq!(part(40241, "invalid signature"), None);
        let e = Error::api(40233, "invalid timestamp", 200);
        assert_eq!(e.api_security_part(), Some(P::Timestamp));
        assert_eq!(
            e.to_string(),
            "wechat api error 40233: invalid timestamp (api security: the timestamp was refused; check this machine's clock)"
        );
        assert_eq!(Error::api(40001, "x", 200).api_security_part(), None);
    }
}
