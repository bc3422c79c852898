//! The scheme itself, as pure functions: no I/O, no clock, no randomness of
//! its own (the IV, nonce and time come in as arguments), so each step is
//! unit-tested against vectors made by another implementation.
//!
//! Both directions are here because they are one scheme seen from two
//! sides: a client seals requests and opens responses; the fake WeChat
//! (`testing`) opens requests and seals responses with the same code.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, UnparsedPublicKey, RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256};
use serde_json::{Map, Value};

use crate::error::{ApiSecurityErrorKind, Error, Result};

/// The bytes of GCM's tag at the end of `aes-gcm`'s ciphertext.
const TAG_LEN: usize = 16;
/// The IV WeChat's scheme uses: 12 random bytes.
pub(crate) const IV_LEN: usize = 12;
/// The fields the scheme adds to a plaintext, removed from what a caller
/// reads.
const SECURITY_FIELDS: [&str; 3] = ["_n", "_appid", "_timestamp"];

/// `urlpath|appid|timestamp|sn`: the additional authenticated data of both
/// directions.
pub(crate) fn aad(urlpath: &str, appid: &str, timestamp: i64, sym_sn: &str) -> String {
    format!("{urlpath}|{appid}|{timestamp}|{sym_sn}")
}

/// `urlpath\nappid\ntimestamp\ndata`: the string both directions sign.
/// Nothing else goes in (WxJava's 4.8 added the key's SN here and every
/// call got 40234).
pub(crate) fn signed_string(urlpath: &str, appid: &str, timestamp: &str, data: &str) -> String {
    format!("{urlpath}\n{appid}\n{timestamp}\n{data}")
}

/// The plaintext of a sealed body: `fields` (the original body's members)
/// with `_n`, `_appid` and `_timestamp` added, as compact JSON with sorted
/// keys (serde_json's default map).
pub(crate) fn plaintext(
    mut fields: Map<String, Value>,
    nonce: &str,
    appid: &str,
    timestamp: i64,
) -> String {
    fields.insert("_n".into(), Value::from(nonce));
    fields.insert("_appid".into(), Value::from(appid));
    fields.insert("_timestamp".into(), Value::from(timestamp));
    Value::Object(fields).to_string()
}

/// AES-256-GCM of `plaintext` as the body `{"iv","data","authtag"}`, in that
/// order, each base64.
pub(crate) fn encrypt(cipher: &Aes256Gcm, iv: &[u8; IV_LEN], plaintext: &str, aad: &str) -> String {
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(iv),
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        // ok because aes-gcm fails only for plaintexts past 64 GiB, which
        // no capped body reaches.
        .expect("aes-gcm encrypts any body under 64 GiB");
    let (data, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    // Written out in WeChat's order: base64 never needs escaping in JSON,
    // and the signature covers these exact bytes.
    format!(
        r#"{{"iv":"{}","data":"{}","authtag":"{}"}}"#,
        STANDARD.encode(iv),
        STANDARD.encode(data),
        STANDARD.encode(tag)
    )
}

/// The plaintext of a body `{"iv","data","authtag"}` sealed with `aad`.
///
/// # Errors
///
/// [`ApiSecurityErrorKind::Malformed`] when the body is not such an object
/// or a field is not base64 of the right length;
/// [`ApiSecurityErrorKind::Decrypt`] when the tag does not match (a changed
/// ciphertext, another key, another AAD).
pub(crate) fn decrypt(cipher: &Aes256Gcm, body: &[u8], aad: &str) -> Result<Vec<u8>> {
    let envelope: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| malformed("the body is not a JSON object"))?;
    let field = |name: &'static str| -> Result<Vec<u8>> {
        let text = envelope
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("the body has no string {name:?}")))?;
        STANDARD
            .decode(text)
            .map_err(|_| malformed(format!("{name:?} is not base64")))
    };
    let iv = field("iv")?;
    let mut data = field("data")?;
    let tag = field("authtag")?;
    if iv.len() != IV_LEN {
        return Err(malformed(format!("the iv is {} bytes, not 12", iv.len())));
    }
    if tag.len() != TAG_LEN {
        return Err(malformed(format!(
            "the authtag is {} bytes, not 16",
            tag.len()
        )));
    }
    data.extend_from_slice(&tag);
    cipher
        .decrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| Error::api_security(ApiSecurityErrorKind::Decrypt))
}

/// An RSA public key (PKCS#1 `RSAPublicKey`, DER) that checks the
/// scheme's signatures: the account's (on the fake WeChat) or a platform
/// certificate's (on a client).
#[derive(Clone)]
pub(crate) struct PublicKey {
    pkcs1_der: Vec<u8>,
}

impl PublicKey {
    /// `pkcs1_der` as it is; the caller has checked its shape.
    pub(crate) fn new(pkcs1_der: Vec<u8>) -> PublicKey {
        PublicKey { pkcs1_der }
    }
}

/// RSASSA-PSS (SHA-256, MGF1-SHA256, salt 32) of `message`, base64.
///
/// *ring* signs: its private-key operation is constant time
/// (`elem_exp_consttime` with CRT, the result checked against faults), so
/// it has no timing side channel of the kind RUSTSEC-2023-0071 (the Marvin
/// attack) reports in `rsa` 0.9. Its PSS salt is the digest's length, 32
/// bytes: WeChat's "salt 长度为 32".
pub(crate) fn sign(key: &RsaKeyPair, message: &str) -> String {
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PSS_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    // ok because *ring* fails only for a buffer of another length than
    // the modulus (sized from it above) or when the OS generator fails,
    // which leaves no safe salt to use.
    .expect("PSS signing with a modulus-sized buffer");
    STANDARD.encode(signature)
}

/// Whether `signature` (base64) is `key`'s PSS signature (SHA-256, salt 32)
/// of `message`.
pub(crate) fn verify(key: &PublicKey, message: &str, signature: &str) -> bool {
    let Ok(bytes) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &key.pkcs1_der)
        .verify(message.as_bytes(), &bytes)
        .is_ok()
}

/// The JSON a decrypted plaintext holds, checked and with the scheme's own
/// fields removed.
///
/// # Errors
///
/// [`ApiSecurityErrorKind::Malformed`] when it is not a JSON object;
/// [`ApiSecurityErrorKind::AppIdMismatch`] when its `_appid` is not
/// `appid`; [`ApiSecurityErrorKind::StaleTimestamp`] when its `_timestamp`
/// is not the signed one.
pub(crate) fn read_plaintext(plaintext: &[u8], appid: &str, timestamp: i64) -> Result<Value> {
    let mut fields: Map<String, Value> = serde_json::from_slice(plaintext)
        .map_err(|_| malformed("the decrypted data is not a JSON object"))?;
    if let Some(inner) = fields.get("_appid") {
        if inner.as_str() != Some(appid) {
            return Err(Error::api_security(ApiSecurityErrorKind::AppIdMismatch));
        }
    }
    if let Some(inner) = fields.get("_timestamp") {
        if inner.as_i64() != Some(timestamp) {
            return Err(Error::api_security(ApiSecurityErrorKind::StaleTimestamp));
        }
    }
    for name in SECURITY_FIELDS {
        fields.remove(name);
    }
    Ok(Value::Object(fields))
}

fn malformed(what: impl Into<String>) -> Error {
    Error::api_security(ApiSecurityErrorKind::Malformed(what.into()))
}
