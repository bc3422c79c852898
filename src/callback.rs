//! Signatures on server callbacks: the URL check WeChat makes when a server
//! is configured, and the `msg_signature` over an encrypted message.
//!
//! Both are `sha1(concat(sort(parts)))` in lowercase hex, compared in
//! constant time so that the comparison leaks nothing about the expected
//! value.

use crate::error::{CallbackErrorKind, Error, Result};
use crate::secret::Secret;

/// The SHA-1 of the given strings sorted and concatenated, as lowercase hex.
///
/// This is the shape of every callback signature: `[token, timestamp, nonce]`
/// for the URL check and `[token, timestamp, nonce, Encrypt]` for the
/// `msg_signature` of an encrypted message. The order of `parts` does not
/// matter.
///
/// # Example
///
/// ```
/// let a = weixin::sha1_sorted(&["b", "a", "c"]);
/// assert_eq!(a, weixin::sha1_sorted(&["a", "b", "c"]));
/// // sha1("abc")
/// assert_eq!(a, "a9993e364706816aba3e25717850c26c9cd0d89d");
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn sha1_sorted(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = sha1_smol::Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hasher.digest().to_string()
}

/// Checks the `signature` WeChat sends with the server URL check (and with
/// every plain-mode push): `sha1(sort([token, timestamp, nonce]))`.
///
/// The comparison runs in constant time. Upper-case hex is accepted.
///
/// # Errors
///
/// [`CallbackErrorKind::BadSignature`] when `signature` does not match.
///
/// # Example
///
/// ```
/// use weixin::Secret;
///
/// let token = Secret::new(std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into()));
/// let signature = weixin::sha1_sorted(&[token.expose(), "1409304348", "xxxxxx"]);
/// assert!(weixin::verify_signature(&token, &signature, "1409304348", "xxxxxx").is_ok());
/// assert!(weixin::verify_signature(&token, &signature, "1409304349", "xxxxxx").is_err());
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn verify_signature(
    token: &Secret,
    signature: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<()> {
    verify_sorted(signature, &[token.expose(), timestamp, nonce])
}

/// Answers the server URL check: verifies `signature` and returns `echostr`,
/// which is the body to send back.
///
/// # Errors
///
/// [`CallbackErrorKind::BadSignature`] when `signature` does not match; do
/// not echo anything then.
///
/// # Example
///
/// ```
/// use weixin::Secret;
///
/// let token = Secret::new(std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into()));
/// let signature = weixin::sha1_sorted(&[token.expose(), "1409304348", "xxxxxx"]);
/// let body = weixin::check_url(&token, &signature, "1409304348", "xxxxxx", "4919486574")?;
/// assert_eq!(body, "4919486574");
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn check_url<'a>(
    token: &Secret,
    signature: &str,
    timestamp: &str,
    nonce: &str,
    echostr: &'a str,
) -> Result<&'a str> {
    verify_signature(token, signature, timestamp, nonce)?;
    Ok(echostr)
}

/// Compares `signature` with `sha1_sorted(parts)` in constant time.
pub(crate) fn verify_sorted(signature: &str, parts: &[&str]) -> Result<()> {
    let expected = sha1_sorted(parts);
    let given = signature.to_ascii_lowercase();
    if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(Error::callback(CallbackErrorKind::BadSignature))
    }
}

/// Equality whose running time depends only on the lengths, which are public
/// (a signature is always 40 hex digits).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const BAD_SIGNATURE: ErrorKind = ErrorKind::Callback(CallbackErrorKind::BadSignature);

    #[test]
    fn sha1_sorted_sorts_before_hashing() {
        // `printf '1409304348t0kenxxxxxx' | sha1sum`
        let expected = "d2c984a469434d79c73b65ef1c5f3f946bb7747f";
        assert_eq!(sha1_sorted(&["t0ken", "1409304348", "xxxxxx"]), expected);
        assert_eq!(sha1_sorted(&["xxxxxx", "t0ken", "1409304348"]), expected);
    }

    #[test]
    fn url_check_returns_echostr_only_for_the_right_signature() {
        let token = Secret::new("t0ken");
        let sig = sha1_sorted(&["t0ken", "1409304348", "xxxxxx"]);
        assert_eq!(
            check_url(&token, &sig, "1409304348", "xxxxxx", "echo").unwrap(),
            "echo"
        );
        assert_eq!(
            check_url(&token, &sig.to_uppercase(), "1409304348", "xxxxxx", "echo").unwrap(),
            "echo"
        );

        let err = check_url(&token, &sig, "1409304348", "yyyyyy", "echo").unwrap_err();
        assert_eq!(err.kind(), &BAD_SIGNATURE);
        let err =
            check_url(&Secret::new("other"), &sig, "1409304348", "xxxxxx", "echo").unwrap_err();
        assert_eq!(err.kind(), &BAD_SIGNATURE);
        // A truncated or empty signature is a mismatch, not a panic.
        let err = verify_signature(&token, &sig[..39], "1409304348", "xxxxxx").unwrap_err();
        assert_eq!(err.kind(), &BAD_SIGNATURE);
        let err = verify_signature(&token, "", "1409304348", "xxxxxx").unwrap_err();
        assert_eq!(err.kind(), &BAD_SIGNATURE);
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
