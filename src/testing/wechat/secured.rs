//! WeChat's API security on the fake (feature `api-security`): a secured
//! request's signature is checked with the account's public key and its
//! body decrypted, the call answered as any other, and the answer sealed
//! and signed with the platform key, as WeChat does, or tampered with as a
//! test asks.
//!
//! The errcodes of a refused request are WeChat's table of them (the guide
//! "服务端 API 签名加密指南", section 五、错误码,
//! <https://developers.weixin.qq.com/miniprogram/dev/server/getting_started/api_signature.html>):
//! a missing header 40231 (timestamp), 40232 (signature), 40233 (appid);
//! 40234 a bad signature; 40235 a body that does not decrypt; 40237 a
//! `Wechatmp-Appid` that is not the token's account; 40240 an old
//! timestamp. The table does not say which code WeChat gives to a
//! timestamp that is not a number, to an `_appid` or `_timestamp` inside
//! the data that differs from the header, or how old "old" is: the fake
//! treats the first as missing (40231), the others as a bad encryption
//! (40235), and refuses a timestamp more than 300 s from its clock.

use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use ring::signature::RsaKeyPair;
use serde_json::{Map, Value};

use super::state::err;
use crate::api_security::scheme::{self, PublicKey};
use crate::api_security::{
    cipher, public_key, signer, HEADER_APPID, HEADER_SERIAL, HEADER_SERIAL_DEPRECATED,
    HEADER_SIGNATURE, HEADER_SIGNATURE_DEPRECATED, HEADER_TIMESTAMP,
};
use crate::error::Result;
use crate::testing::server::{Req, Resp};

/// How the fake spoils its next secured answers, so a test sees each check
/// of the client refuse them ([`FakeWechat::tamper_secured`](super::FakeWechat::tamper_secured)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// A byte of the body changed after signing.
    Body,
    /// The additional data encrypted with names another URL (signed as is).
    Aad,
    /// The answer's timestamp moved by this many seconds (signed and
    /// encrypted consistently: only the clock check can refuse it).
    Timestamp(i64),
    /// `Wechatmp-Appid` names another account.
    AppId,
    /// `Wechatmp-Serial` names a certificate nobody holds.
    Serial,
    /// Signed with this PEM private key instead of the platform's, under
    /// the platform certificate's SN.
    Certificate(String),
}

/// One account's API security as the fake WeChat holds it: the symmetric
/// key and SN, the account's public key (what the console is given), and
/// the platform's private key and certificate SN.
#[derive(Clone)]
pub struct FakeApiSecurity {
    sym_sn: String,
    cipher: Aes256Gcm,
    app_key: PublicKey,
    platform: (String, Arc<RsaKeyPair>),
    /// During a rotation: the retiring certificate, which signs too.
    deprecated: Option<(String, Arc<RsaKeyPair>)>,
}

impl fmt::Debug for FakeApiSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeApiSecurity")
            .field("sym_sn", &self.sym_sn)
            .field("platform_sn", &self.platform.0)
            .field("deprecated_sn", &self.deprecated.as_ref().map(|d| &d.0))
            .finish_non_exhaustive()
    }
}

impl FakeApiSecurity {
    /// The symmetric key (base64 of 32 bytes) and its SN, the account's
    /// public key (an X.509 certificate or a public key, PEM), the platform
    /// certificate's SN and the platform's private key (PEM).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a key that does
    /// not read.
    pub fn new(
        sym_sn: &str,
        sym_key_base64: &str,
        app_public_pem: &str,
        cert_sn: &str,
        platform_private_pem: &str,
    ) -> Result<FakeApiSecurity> {
        Ok(FakeApiSecurity {
            sym_sn: sym_sn.to_string(),
            cipher: cipher(sym_key_base64)?,
            app_key: public_key(app_public_pem)?,
            platform: (cert_sn.to_string(), Arc::new(signer(platform_private_pem)?)),
            deprecated: None,
        })
    }

    /// Starts a rotation: answers are signed by the new certificate and,
    /// under the `-Deprecated` headers, by the current one.
    pub(super) fn rotate(&mut self, cert_sn: &str, platform_private_pem: &str) -> Result<()> {
        let new = (cert_sn.to_string(), Arc::new(signer(platform_private_pem)?));
        self.deprecated = Some(std::mem::replace(&mut self.platform, new));
        Ok(())
    }

    /// Ends a rotation: the retiring certificate signs no more.
    pub(super) fn finish_rotation(&mut self) {
        self.deprecated = None;
    }
}

/// A secured request opened: the fields it carried, or WeChat's refusal.
pub(super) fn open_request(
    sec: &FakeApiSecurity,
    req: &Req,
    appid: &str,
    now: i64,
) -> std::result::Result<Map<String, Value>, Resp> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match header(HEADER_APPID) {
        None => return Err(err(40233, "API_Missing_Wechatmp_Appid")),
        Some(sent) if sent != appid => return Err(err(40237, "API_Invalid_Wechatmp_Appidmatch")),
        Some(_) => {}
    }
    let ts_text = header(HEADER_TIMESTAMP).unwrap_or("");
    let Ok(ts) = ts_text.parse::<i64>() else {
        return Err(err(40231, "API_Missing_Wechatmp_Timestamp"));
    };
    if ts.abs_diff(now) > 300 {
        return Err(err(40240, "API_Expired_Wechatmp_Timestamp"));
    }
    let Some(signature) = header(HEADER_SIGNATURE) else {
        return Err(err(40232, "API_Missing_Wechatmp_Signature"));
    };
    let urlpath = urlpath(req);
    let body = String::from_utf8_lossy(&req.body);
    let signed = scheme::signed_string(&urlpath, appid, ts_text, &body);
    if !scheme::verify(&sec.app_key, &signed, signature) {
        return Err(err(40234, "API_Invalid_Signature"));
    }
    let aad = scheme::aad(&urlpath, appid, ts, &sec.sym_sn);
    let plain = scheme::decrypt(&sec.cipher, &req.body, &aad)
        .map_err(|_| err(40235, "API_Invalid_Encrypt"))?;
    let mut fields: Map<String, Value> = serde_json::from_slice(&plain)
        .map_err(|_| err(40235, "API_Invalid_Encrypt: the data is not json"))?;
    if fields.get("_appid").and_then(Value::as_str) != Some(appid) {
        return Err(err(
            40235,
            "API_Invalid_Encrypt: _appid is not Wechatmp-Appid",
        ));
    }
    if fields.get("_timestamp").and_then(Value::as_i64) != Some(ts) {
        return Err(err(
            40235,
            "API_Invalid_Encrypt: _timestamp is not Wechatmp-TimeStamp",
        ));
    }
    for name in ["_n", "_appid", "_timestamp"] {
        fields.remove(name);
    }
    Ok(fields)
}

/// `answer` sealed and signed for `req`, spoiled as `tamper` says.
pub(super) fn seal_answer(
    sec: &FakeApiSecurity,
    req: &Req,
    appid: &str,
    now: i64,
    answer: Resp,
    tamper: Option<&Tamper>,
) -> Resp {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&answer.body) else {
        return answer;
    };
    let urlpath = urlpath(req);
    let ts = match tamper {
        Some(Tamper::Timestamp(offset)) => now + offset,
        _ => now,
    };
    let mut iv = [0u8; scheme::IV_LEN];
    let mut nonce = [0u8; 12];
    // ok because a fake without randomness cannot answer.
    getrandom::fill(&mut iv).expect("random");
    getrandom::fill(&mut nonce).expect("random");
    let plaintext = scheme::plaintext(fields, &STANDARD_NO_PAD.encode(nonce), appid, ts);
    let aad_url = match tamper {
        Some(Tamper::Aad) => format!("{urlpath}/other"),
        _ => urlpath.clone(),
    };
    let aad = scheme::aad(&aad_url, appid, ts, &sec.sym_sn);
    let mut body = scheme::encrypt(&sec.cipher, &iv, &plaintext, &aad);
    let signed = scheme::signed_string(&urlpath, appid, &ts.to_string(), &body);
    let signature = match tamper {
        Some(Tamper::Certificate(pem)) => match signer(pem) {
            Ok(key) => scheme::sign(&key, &signed),
            Err(_) => return err(-1, "the tamper key does not read"),
        },
        _ => scheme::sign(&sec.platform.1, &signed),
    };
    if tamper == Some(&Tamper::Body) {
        // The data's first character, changed after signing.
        body = body.replacen("\"data\":\"", "\"data\":\"A", 1);
    }
    let serial = match tamper {
        Some(Tamper::Serial) => "no-such-serial".to_string(),
        _ => sec.platform.0.clone(),
    };
    let header_appid = match tamper {
        Some(Tamper::AppId) => "wx_another_account".to_string(),
        _ => appid.to_string(),
    };
    let mut resp = Resp::new(answer.status, "application/json", body.clone())
        .with_header(HEADER_APPID, header_appid)
        .with_header(HEADER_TIMESTAMP, ts.to_string())
        .with_header(HEADER_SERIAL, serial)
        .with_header(HEADER_SIGNATURE, signature);
    if let Some((sn, key)) = &sec.deprecated {
        resp = resp
            .with_header(HEADER_SERIAL_DEPRECATED, sn.clone())
            .with_header(HEADER_SIGNATURE_DEPRECATED, scheme::sign(key, &signed));
    }
    resp
}

/// Whether `req` is a secured one (it carries a signature).
pub(super) fn is_secured(req: &Req) -> bool {
    req.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(HEADER_SIGNATURE))
}

/// The URL the client sealed for: the fake's own, as the Host header names it.
fn urlpath(req: &Req) -> String {
    let host = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or("", |(_, v)| v.as_str());
    format!("http://{host}{}", req.path)
}

impl super::FakeWechat {
    /// Turns WeChat's API security on for `appid`: requests that carry a
    /// `Wechatmp-Signature` are checked and decrypted with `keys`, answered
    /// as their plain twin would be, and the answer sealed and signed.
    /// Requests without it are answered as before.
    ///
    /// # Example
    ///
    /// ```
    /// # let v: serde_json::Value = serde_json::from_str(include_str!("../../../tests/vectors/api_security.json")).unwrap();
    /// # let s = |k: &str| v[k].as_str().unwrap().to_string();
    /// use weixin::testing::{FakeApiSecurity, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// fake.secure_account("wx1", FakeApiSecurity::new(
    ///     &s("sym_sn"), &s("sym_key"), &s("app_certificate"), &s("cert_sn"), &s("platform_private_key"),
    /// )?);
    /// let keys = weixin::ApiSecurity::new(s("sym_sn"), &s("sym_key"), s("rsa_sn"), &s("app_private_key"))?
    ///     .platform_certificate(s("cert_sn"), &s("platform_certificate"))?;
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .api_security(keys)
    ///     .build()?;
    /// let resp = client.request(
    ///     weixin::RequestOptions::post("/wxa/msg_sec_check").json(serde_json::json!({"content": "hi"})),
    /// )?;
    /// assert_eq!(resp.json()?["json"]["content"], "hi");
    /// assert_eq!(fake.secured_requests("/wxa/msg_sec_check"), [serde_json::json!({"content": "hi"})]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn secure_account(&self, appid: &str, keys: FakeApiSecurity) {
        self.shared
            .state
            .lock()
            .secured
            .insert(appid.to_string(), keys);
    }

    /// Starts a platform certificate rotation for `appid`: answers are
    /// signed with `platform_private_pem` under `cert_sn`, and with the
    /// retiring key under `Wechatmp-Serial-Deprecated`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the key does
    /// not read or `appid` is not secured.
    pub fn rotate_platform_certificate(
        &self,
        appid: &str,
        cert_sn: &str,
        platform_private_pem: &str,
    ) -> Result<()> {
        let mut st = self.shared.state.lock();
        let sec = st
            .secured
            .get_mut(appid)
            .ok_or_else(|| crate::Error::config(format!("{appid} is not secured")))?;
        sec.rotate(cert_sn, platform_private_pem)
    }

    /// Ends the rotation of `appid`: only the new certificate signs.
    pub fn finish_rotation(&self, appid: &str) {
        if let Some(sec) = self.shared.state.lock().secured.get_mut(appid) {
            sec.finish_rotation();
        }
    }

    /// Spoils every secured answer as `tamper` says, until set to `None`.
    pub fn tamper_secured(&self, tamper: Option<Tamper>) {
        self.shared.state.lock().tamper = tamper;
    }

    /// The decrypted fields of every secured request to `path` that passed
    /// the checks, oldest first (without `_n`, `_appid`, `_timestamp`).
    pub fn secured_requests(&self, path: &str) -> Vec<Value> {
        self.shared
            .state
            .lock()
            .secured_seen
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}
