//! JSSDK and card signatures (pure functions).

use serde::Serialize;

use crate::token::unix_now;

/// A JSSDK signature with the nonce and timestamp it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JssdkSignature {
    /// SHA-1, lowercase hex.
    pub signature: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// The random string signed (`noncestr` in the string signed,
    /// `nonceStr` in `wx.config`), named as in [`JssdkConfig`].
    pub nonce_str: String,
}

/// What a page passes to `wx.config`: serializes with the field names
/// JSSDK expects (`appId`, `timestamp`, `nonceStr`, `signature`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JssdkConfig {
    /// The account's appid.
    pub app_id: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// The random string signed.
    pub nonce_str: String,
    /// SHA-1, lowercase hex.
    pub signature: String,
}

/// Signs the page at `url` with a `jsapi` ticket, a fresh random nonce
/// and the current time. Everything from `#` on is removed from the url.
///
/// # Example
///
/// ```
/// let sig = weixin::sign_jssdk("ticket", "https://example.com/page?a=1#frag");
/// assert_eq!(sig.signature.len(), 40);
/// assert_eq!(
///     sig.signature,
///     weixin::sign_jssdk_with("ticket", "https://example.com/page?a=1", &sig.nonce_str, sig.timestamp)
/// );
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn sign_jssdk(ticket: &str, url: &str) -> JssdkSignature {
    let nonce_str = noncestr();
    let timestamp = unix_now();
    JssdkSignature {
        signature: sign_jssdk_with(ticket, url, &nonce_str, timestamp),
        timestamp,
        nonce_str,
    }
}

/// Signs the page at `url` with the given noncestr and timestamp: SHA-1 of
/// `jsapi_ticket=..&noncestr=..&timestamp=..&url=..` with raw values and the
/// url's `#fragment` removed.
///
/// # Example
///
/// The official example:
///
/// ```
/// let sig = weixin::sign_jssdk_with(
///     "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
///     "http://mp.weixin.qq.com?params=value",
///     "Wm3WZYTPz0wzccnW",
///     1414587457,
/// );
/// assert_eq!(sig, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn sign_jssdk_with(ticket: &str, url: &str, noncestr: &str, timestamp: u64) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let mut sha = sha1_smol::Sha1::new();
    // Fields are already in name order: jsapi_ticket, noncestr, timestamp, url.
    for part in [
        "jsapi_ticket=",
        ticket,
        "&noncestr=",
        noncestr,
        "&timestamp=",
        &timestamp.to_string(),
        "&url=",
        url,
    ] {
        sha.update(part.as_bytes());
    }
    sha.digest().to_string()
}

/// Signs card values (`api_ticket`, timestamp, nonce_str, card_id, and
/// code/openid when used; for chooseCard also appid, location_id,
/// card_type): the values sorted as strings and concatenated with no
/// separator, SHA-1 lowercase hex.
///
/// # Example
///
/// ```
/// let sig = weixin::sign_card(&["ticket", "1404896688", "nonce", "pDF3iY9tv9zCGCj4jTXFOo1DxHdo"]);
/// assert_eq!(sig, weixin::sign_card(&["nonce", "pDF3iY9tv9zCGCj4jTXFOo1DxHdo", "1404896688", "ticket"]));
/// assert_eq!(sig.len(), 40);
/// # Ok::<(), weixin::Error>(())
/// ```
pub fn sign_card(values: &[&str]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut sha = sha1_smol::Sha1::new();
    for value in sorted {
        sha.update(value.as_bytes());
    }
    sha.digest().to_string()
}

/// A card signature for `wx.addCard` (and `wx.batchAddCard`) with the
/// nonce and timestamp it was made with, and the `cardExt` a page passes.
///
/// Made by [`sign_add_card`], [`sign_add_card_for`], [`sign_add_card_with`],
/// or [`Client::add_card_signature`](crate::Client::add_card_signature),
/// which also fetches the `wx_card` ticket. Holds no ticket.
///
/// # Example
///
/// ```
/// let sig = weixin::sign_add_card("api-ticket", "p_card");
/// // What the page passes: wx.addCard({cardList: [{cardId: "p_card", cardExt}]}).
/// let ext: serde_json::Value = serde_json::from_str(&sig.card_ext)?;
/// assert_eq!(ext["signature"], sig.signature.as_str());
/// assert_eq!(ext["timestamp"], sig.timestamp.to_string());
/// assert!(!format!("{sig:?}").contains("api-ticket"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSignature {
    /// Unix seconds.
    pub timestamp: u64,
    /// The random string signed.
    pub nonce_str: String,
    /// SHA-1, lowercase hex.
    pub signature: String,
    /// The `cardExt` JSON string `wx.addCard` takes with the card's
    /// `cardId`: `code` and `openid` when signed, then `timestamp` (a
    /// string, as WeChat's table asks), `nonce_str` and `signature`.
    pub card_ext: String,
}

/// What `cardExt` holds, in the order written.
#[derive(Serialize)]
struct CardExt<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
    timestamp: String,
    nonce_str: &'a str,
    signature: &'a str,
}

/// Signs card `card_id` for `wx.addCard` with a `wx_card` ticket
/// (`api_ticket`), a fresh random nonce and the current time: anyone may
/// take the card. elixir_wechat's `sign_card(wxcard_ticket, card_id)`.
///
/// # Example
///
/// ```
/// let sig = weixin::sign_add_card("api-ticket", "pjZ8Yt1XGILfi-FUsewpnnolGgZk");
/// assert_eq!(
///     sig,
///     weixin::sign_add_card_with(
///         "api-ticket",
///         "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
///         None,
///         None,
///         &sig.nonce_str,
///         sig.timestamp,
///     )
/// );
/// ```
pub fn sign_add_card(ticket: &str, card_id: &str) -> CardSignature {
    sign_add_card_with(ticket, card_id, None, None, &noncestr(), unix_now())
}

/// Signs card `card_id` for `wx.addCard` so that only the user `openid`
/// may take it (a card created with `bind_openid`), with a fresh random
/// nonce and the current time. elixir_wechat's
/// `sign_card(wxcard_ticket, card_id, openid)`.
///
/// # Example
///
/// ```
/// let sig = weixin::sign_add_card_for("api-ticket", "p_card", "o_user");
/// assert!(sig.card_ext.starts_with(r#"{"openid":"o_user","timestamp":""#));
/// assert_eq!(
///     sig.signature,
///     weixin::sign_card(&["api-ticket", "p_card", "o_user", &sig.nonce_str, &sig.timestamp.to_string()])
/// );
/// ```
pub fn sign_add_card_for(ticket: &str, card_id: &str, openid: &str) -> CardSignature {
    sign_add_card_with(ticket, card_id, None, Some(openid), &noncestr(), unix_now())
}

/// Signs card `card_id` for `wx.addCard` with the given nonce and
/// timestamp, and the card's `code` (a card with its own codes) and the
/// `openid` allowed to take it when given: the values signed with
/// [`sign_card`], and the `cardExt` that carries them.
///
/// # Example
///
/// WeChat's example (JS-SDK documentation, appendix 4):
///
/// ```
/// let sig = weixin::sign_add_card_with(
///     "ojZ8YtyVyr30HheH3CM73y7h4jJE",
///     "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
///     Some("1434008071"),
///     None,
///     "123",
///     1404896688,
/// );
/// assert_eq!(sig.signature, "f137ab68b7f8112d20ee528ab6074564e2796250");
/// assert_eq!(
///     sig.card_ext,
///     r#"{"code":"1434008071","timestamp":"1404896688","nonce_str":"123","signature":"f137ab68b7f8112d20ee528ab6074564e2796250"}"#
/// );
/// ```
pub fn sign_add_card_with(
    ticket: &str,
    card_id: &str,
    code: Option<&str>,
    openid: Option<&str>,
    nonce_str: &str,
    timestamp: u64,
) -> CardSignature {
    let timestamp_str = timestamp.to_string();
    let mut values = vec![ticket, card_id, nonce_str, &timestamp_str];
    values.extend(code);
    values.extend(openid);
    let signature = sign_card(&values);
    let card_ext = serde_json::to_string(&CardExt {
        code,
        openid,
        timestamp: timestamp_str.clone(),
        nonce_str,
        signature: &signature,
    })
    // ok because a struct of strings always serializes
    .unwrap_or_default();
    CardSignature {
        timestamp,
        nonce_str: nonce_str.to_string(),
        signature,
        card_ext,
    }
}

/// 16 random alphanumeric characters: a fresh nonce for a signature, as
/// [`sign_jssdk`] draws, [`sign_card`] and
/// [`MessageCrypto::encrypt`] need.
///
/// # Example
///
/// ```
/// let nonce = weixin::noncestr();
/// assert_eq!(nonce.len(), 16);
/// assert!(nonce.chars().all(|c| c.is_ascii_alphanumeric()));
/// assert_ne!(nonce, weixin::noncestr());
/// ```
///
// A link to an item behind a feature that is off goes to docs.rs, which
// documents every feature.
#[cfg_attr(
    feature = "crypto",
    doc = "[`MessageCrypto::encrypt`]: crate::MessageCrypto::encrypt"
)]
#[cfg_attr(
    not(feature = "crypto"),
    doc = "[`MessageCrypto::encrypt`]: https://docs.rs/weixin/latest/weixin/struct.MessageCrypto.html#method.encrypt"
)]
pub fn noncestr() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // ok because a nonce only needs to be unlikely to repeat: fall back
        // to the clock if the OS has no randomness to give
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_jssdk_vector() {
        assert_eq!(
            sign_jssdk_with(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "http://mp.weixin.qq.com?params=value#fragment",
                "Wm3WZYTPz0wzccnW",
                1414587457,
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn card_signature_sorts_values() {
        // sha1("abc") with values given out of order.
        assert_eq!(
            sign_card(&["c", "a", "b"]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn official_card_vector_and_its_card_ext() {
        // JS-SDK documentation, appendix 4: the values sorted give
        // "12314048966881434008071ojZ8YtyVyr30HheH3CM73y7h4jJEpjZ8Yt1XGILfi-FUsewpnnolGgZk".
        let sig = sign_add_card_with(
            "ojZ8YtyVyr30HheH3CM73y7h4jJE",
            "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
            Some("1434008071"),
            None,
            "123",
            1404896688,
        );
        assert_eq!(sig.signature, "f137ab68b7f8112d20ee528ab6074564e2796250");
        assert_eq!(
            sig.card_ext,
            r#"{"code":"1434008071","timestamp":"1404896688","nonce_str":"123","signature":"f137ab68b7f8112d20ee528ab6074564e2796250"}"#
        );
        let bound = sign_add_card_with("t", "c", None, Some("o\"1"), "n", 7);
        // sha1 of "7cno\"1t", the values sorted.
        assert_eq!(bound.signature, "388c05158e6b27b0adcd90b9065a970acade2735");
        assert_eq!(
            bound.card_ext,
            format!(
                r#"{{"openid":"o\"1","timestamp":"7","nonce_str":"n","signature":"{}"}}"#,
                bound.signature
            )
        );
    }

    #[test]
    fn nonces_differ_and_are_alphanumeric() {
        let a = noncestr();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, noncestr());
    }

    #[test]
    fn config_serializes_for_wx_config() {
        let c = JssdkConfig {
            app_id: "wx1".into(),
            timestamp: 1,
            nonce_str: "n".into(),
            signature: "s".into(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"appId":"wx1","timestamp":1,"nonceStr":"n","signature":"s"}"#
        );
    }
}
