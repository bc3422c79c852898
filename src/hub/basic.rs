//! HTTP Basic credentials (RFC 7617) for the status page: a browser sends
//! them after a `WWW-Authenticate: Basic` challenge, where it cannot send a
//! bearer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The challenge `/status` answers a request without valid credentials
/// with, so that a browser asks its user for a name and password.
pub(super) const CHALLENGE: &str = r#"Basic realm="wechat-hub", charset="UTF-8""#;

/// The password of an `Authorization: Basic base64(user:password)` header
/// value, whatever the user name; `None` for another scheme or a malformed
/// value (not base64, not UTF-8, no colon).
pub(super) fn password(header: &str) -> Option<String> {
    let (scheme, credentials) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    // The user name cannot hold a colon (RFC 7617); the password may.
    let (_user, password) = text.split_once(':')?;
    Some(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &[u8]) -> String {
        format!("Basic {}", STANDARD.encode(credentials))
    }

    #[test]
    fn reads_the_password_whatever_the_user() {
        assert_eq!(password(&basic(b"ops:pa:ss")).as_deref(), Some("pa:ss"));
        assert_eq!(password(&basic(b":pw")).as_deref(), Some("pw"));
        assert_eq!(
            password(&format!("basic  {}", STANDARD.encode("u:pw"))).as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn malformed_values_are_none() {
        assert_eq!(password("Basic"), None);
        assert_eq!(password("Basic !!!not-base64"), None);
        assert_eq!(password(&basic(b"no-colon")), None);
        assert_eq!(password(&basic(b"u:\xff\xfe")), None);
        assert_eq!(password("Bearer dTpwdw=="), None);
        assert_eq!(password(""), None);
    }
}
