//! The data a mini program hands over encrypted (`wx.getUserInfo`'s
//! `encryptedData`, shared-group info, ...): AES-128-CBC under the user's
//! session key, base64 key, IV and data, PKCS#7 padding, and a
//! `watermark.appid` naming the mini program it was meant for.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{Error, Result};
use crate::miniprogram::MiniProgram;
use crate::secret::Secret;

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The largest `encryptedData` accepted, in base64 characters: user data
/// is a few hundred bytes.
const MAX_DATA: usize = 1024 * 1024;

// The module is behind `crypto`; the label tells docs.rs readers so.
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
impl MiniProgram {
    /// Decrypts the `encryptedData` and `iv` the mini program got from
    /// WeChat (`wx.getUserInfo`, `wx.getShareInfo`, ...) with the user's
    /// session key from [`code2session`](MiniProgram::code2session), and
    /// checks that its `watermark.appid` is this mini program's. Returns
    /// the decrypted JSON, watermark included.
    ///
    /// # Errors
    ///
    /// In the order they are checked:
    /// - [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest)
    ///   when the session key or the IV is not 16 bytes of base64, or the
    ///   data is larger than 1 MiB;
    /// - [`ErrorKind::Decode`](crate::ErrorKind::Decode) when the data is
    ///   not base64 or not whole AES blocks, when its padding is wrong (the
    ///   usual sign of a session key a later `wx.login` replaced), when it
    ///   is not a JSON object, and when its `watermark.appid` is missing or
    ///   another app's.
    ///
    /// # Example
    ///
    /// WeChat's published sample:
    ///
    /// ```
    /// use weixin::{MiniProgram, Secret};
    ///
    /// let session_key = Secret::new("tiihtNczf5v6AKRyjwEUhQ==");
    /// let encrypted_data = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    /// let iv = "r7BXXKkLb8qrSNn05n0qiA==";
    ///
    /// let data = MiniProgram::new("wx4f4bc4dec97d474b").decrypt_data(&session_key, encrypted_data, iv)?;
    /// assert_eq!(data["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    /// assert_eq!(data["watermark"]["appid"], "wx4f4bc4dec97d474b");
    ///
    /// let err = MiniProgram::new("wx_other").decrypt_data(&session_key, encrypted_data, iv).unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Decode { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn decrypt_data(
        &self,
        session_key: &Secret,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<serde_json::Value> {
        decrypt(session_key, encrypted_data, iv, self.appid())
    }
}

/// Decrypts `encrypted_data` and checks its watermark against `appid`.
pub(crate) fn decrypt(
    session_key: &Secret,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<serde_json::Value> {
    let key = block(session_key.expose(), "session_key")?;
    let iv = block(iv, "iv")?;
    if encrypted_data.len() > MAX_DATA {
        return Err(Error::invalid(format!(
            "encrypted data is {} characters; at most {MAX_DATA} are accepted",
            encrypted_data.len()
        )));
    }
    let mut data = STANDARD
        .decode(encrypted_data)
        .map_err(|_| Error::decode("encrypted data: not base64"))?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(Error::decode("encrypted data: not whole AES blocks"));
    }
    let plain = Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut data)
        .map_err(|_| {
            Error::decode("encrypted data: bad padding (a session key a later login replaced?)")
        })?;
    let value: serde_json::Value = serde_json::from_slice(plain)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| Error::decode("encrypted data: not a JSON object"))?;
    match value["watermark"]["appid"].as_str() {
        Some(found) if found == appid => Ok(value),
        Some(found) => Err(Error::decode(format!(
            "encrypted data: watermark.appid is {found:?}, expected {appid:?}"
        ))),
        None => Err(Error::decode("encrypted data: no watermark.appid")),
    }
}

/// Decodes one 16-byte base64 value (a session key, an IV).
fn block(value: &str, name: &str) -> Result<[u8; 16]> {
    STANDARD
        .decode(value)
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .ok_or_else(|| Error::invalid(format!("{name} is not 16 bytes of base64")))
}

/// Encrypts `value` the way WeChat does, for tests: `(encryptedData, iv)`
/// in base64.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn encrypt(
    session_key: &str,
    iv: [u8; 16],
    value: &serde_json::Value,
) -> Result<(String, String)> {
    use aes::cipher::BlockEncryptMut;
    let key = block(session_key, "session_key")?;
    let plain = value.to_string().into_bytes();
    let len = plain.len();
    let mut buf = plain;
    buf.resize(len + 16, 0);
    let sealed = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, len)
        // ok because the buffer has a whole block of room for the padding
        .expect("room for the padding");
    Ok((STANDARD.encode(sealed), STANDARD.encode(iv)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    const KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: [u8; 16] = *b"0123456789abcdef";

    fn what(err: Error) -> String {
        match err.kind() {
            ErrorKind::Decode { what } => what.clone(),
            ErrorKind::InvalidRequest { reason } => reason.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trips_and_checks_the_watermark() {
        let value =
            serde_json::json!({"openId": "o1", "watermark": {"appid": "wxA", "timestamp": 1}});
        let (data, iv) = encrypt(KEY, IV, &value).unwrap();
        assert_eq!(
            decrypt(&Secret::new(KEY), &data, &iv, "wxA").unwrap(),
            value
        );
        let err = decrypt(&Secret::new(KEY), &data, &iv, "wxB").unwrap_err();
        assert_eq!(
            what(err),
            r#"encrypted data: watermark.appid is "wxA", expected "wxB""#
        );
        let (data, iv) = encrypt(KEY, IV, &serde_json::json!({"openId": "o1"})).unwrap();
        let err = decrypt(&Secret::new(KEY), &data, &iv, "wxA").unwrap_err();
        assert_eq!(what(err), "encrypted data: no watermark.appid");
    }

    #[test]
    fn refuses_bad_keys_ivs_and_data_in_order() {
        let key = Secret::new(KEY);
        let (data, iv) =
            encrypt(KEY, IV, &serde_json::json!({"watermark": {"appid": "wxA"}})).unwrap();
        let short = Secret::new("c2hvcnQ=");
        assert!(what(decrypt(&short, &data, &iv, "wxA").unwrap_err()).starts_with("session_key"));
        assert!(what(decrypt(&key, &data, "AAAA", "wxA").unwrap_err()).starts_with("iv"));
        assert_eq!(
            what(decrypt(&key, "!!", &iv, "wxA").unwrap_err()),
            "encrypted data: not base64"
        );
        assert_eq!(
            what(decrypt(&key, "AAAA", &iv, "wxA").unwrap_err()),
            "encrypted data: not whole AES blocks"
        );
        // Another key garbles the plaintext: its padding or its JSON breaks.
        let other = Secret::new("AAAAAAAAAAAAAAAAAAAAAA==");
        let garbled = what(decrypt(&other, &data, &iv, "wxA").unwrap_err());
        assert!(
            garbled.starts_with("encrypted data: bad padding")
                || garbled == "encrypted data: not a JSON object",
            "{garbled}"
        );
        let huge = "A".repeat(MAX_DATA + 4);
        assert!(what(decrypt(&key, &huge, &iv, "wxA").unwrap_err()).contains("at most"));
    }

    proptest! {
        #[test]
        fn any_data_is_an_error_or_a_value_never_a_panic(data in "[A-Za-z0-9+/=]{0,200}") {
            let _ = decrypt(&Secret::new(KEY), &data, "r7BXXKkLb8qrSNn05n0qiA==", "wxA");
        }
    }
}
