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
    /// The signature: `Wechatmp-Signature` missing (40232) or refused
    /// (40234): the signed string, the private key, or the public key set
    /// in the console.
    Signature,
    /// The encryption (40235): the symmetric key, its SN, the IV or tag,
    /// the AAD.
    Decryption,
    /// `Wechatmp-TimeStamp` missing (40231) or too old (40240): the clock.
    Timestamp,
    /// `Wechatmp-Serial` missing (40230): a key number (SN) header.
    KeyNumber,
    /// `Wechatmp-Appid` missing (40233), invalid (40236) or not the
    /// account of the access token (40237).
    AppId,
    /// The console's API security has no symmetric key (40238) or no
    /// public key (40239) set for the account.
    ConsoleKeys,
}

/// WeChat's errcodes of API security, with the name WeChat gives each,
/// the part it names and the hint printed with it: the table "五、错误码" of
/// WeChat's guide "服务端 API 签名加密指南",
/// <https://developers.weixin.qq.com/miniprogram/dev/server/getting_started/api_signature.html>
/// (read from a stored copy of that page; the same table appears in
/// third-party guides of the scheme). WeChat's `errmsg` is not read: the
/// code alone says the part.
const SECURITY_ERRCODES: [(i64, &str, ApiSecurityPart, &str); 11] = {
    use ApiSecurityPart as P;
    [
        (40230, "API_Missing_Wechatmp_Serial", P::KeyNumber, "api security: no Wechatmp-Serial header was sent"),
        (40231, "API_Missing_Wechatmp_Timestamp", P::Timestamp, "api security: no Wechatmp-TimeStamp header was sent"),
        (40232, "API_Missing_Wechatmp_Signature", P::Signature, "api security: no Wechatmp-Signature header was sent"),
        (40233, "API_Missing_Wechatmp_Appid", P::AppId, "api security: no Wechatmp-Appid header was sent"),
        (40234, "API_Invalid_Signature", P::Signature, "api security: the signature was refused; check the private key matches the public key set in the console and that nothing but urlpath, appid, timestamp and body is signed"),
        (40235, "API_Invalid_Encrypt", P::Decryption, "api security: the body could not be decrypted; check the symmetric key and its SN"),
        (40236, "API_Invalid_Wechatmp_Appid", P::AppId, "api security: Wechatmp-Appid is not a valid appid"),
        (40237, "API_Invalid_Wechatmp_Appidmatch", P::AppId, "api security: Wechatmp-Appid is not the account of the access token"),
        (40238, "API_NoExist_DevSecretSym", P::ConsoleKeys, "api security: no symmetric key is set in the console's API security settings"),
        (40239, "API_NoExist_DevSecretAsym", P::ConsoleKeys, "api security: no public key is set in the console's API security settings"),
        (40240, "API_Expired_Wechatmp_Timestamp", P::Timestamp, "api security: the timestamp is too old; check this machine's clock"),
    ]
};

/// The row of WeChat's table for `errcode`, if it is one of API security's.
fn row(errcode: i64) -> Option<&'static (i64, &'static str, ApiSecurityPart, &'static str)> {
    SECURITY_ERRCODES.iter().find(|(code, ..)| *code == errcode)
}

/// The part a security errcode names.
pub(super) fn security_part(errcode: i64) -> Option<ApiSecurityPart> {
    row(errcode).map(|(_, _, part, _)| *part)
}

/// The hint printed after a security errcode's message: WeChat's name for
/// it and what to check.
pub(super) fn security_hint(errcode: i64) -> Option<(&'static str, &'static str)> {
    row(errcode).map(|(_, name, _, hint)| (*name, *hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn security_errcodes_name_their_part() {
        use ApiSecurityPart as P;
        let parts: Vec<_> = (40229..=40241).map(security_part).collect();
        assert_eq!(
            parts,
            [
                None,
                Some(P::KeyNumber),
                Some(P::Timestamp),
                Some(P::Signature),
                Some(P::AppId),
                Some(P::Signature),
                Some(P::Decryption),
                Some(P::AppId),
                Some(P::AppId),
                Some(P::ConsoleKeys),
                Some(P::ConsoleKeys),
                Some(P::Timestamp),
                None,
            ]
        );
        let e = Error::api(40240, "timestamp expired", 200);
        assert_eq!(e.api_security_part(), Some(P::Timestamp));
        assert_eq!(
            e.to_string(),
            "wechat api error 40240: timestamp expired (API_Expired_Wechatmp_Timestamp; api security: the timestamp is too old; check this machine's clock)"
        );
        assert_eq!(Error::api(40001, "x", 200).api_security_part(), None);
    }
}
