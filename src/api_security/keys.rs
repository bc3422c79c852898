//! `ApiSecurity`: the keys of one account's API security settings, and the
//! two operations a client needs (seal a request, open a response).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use parking_lot::{Mutex, RwLock};
use ring::signature::RsaKeyPair;
use serde_json::{Map, Value};
use x509_cert::der::asn1::UintRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{DecodePem, Reader, SliceReader};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::scheme::{self, PublicKey, IV_LEN};
use super::{header, SealedRequest, DEFAULT_MAX_SKEW};
use super::{
    HEADER_APPID, HEADER_SERIAL, HEADER_SERIAL_DEPRECATED, HEADER_SIGNATURE,
    HEADER_SIGNATURE_DEPRECATED, HEADER_TIMESTAMP,
};
use crate::error::{ApiSecurityErrorKind, Error, Result};

/// The key material of one account's API security settings: the symmetric
/// key and its SN, the private key and its SN, and WeChat's platform
/// certificates by SN.
///
/// Cheap to clone: clones share the keys, and a platform certificate added
/// to one ([`ApiSecurity::add_platform_certificate`]) is used by all, so
/// a rotation needs no restart.
///
/// `Debug` shows the SNs only: the keys never reach a log or an error.
///
/// # Example
///
/// ```
/// # let v: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/api_security.json")).unwrap();
/// # let (sym_key, private_pem, cert_pem) = (v["sym_key"].as_str().unwrap(), v["app_private_key"].as_str().unwrap(), v["platform_certificate"].as_str().unwrap());
/// // In an application these come from `ApiSecurity::from_env()` or files.
/// let keys = weixin::ApiSecurity::new("fa05fe1e5bcc79b81ad5ad4b58acf787", sym_key, "97845f", private_pem)?
///     .platform_certificate("5a9a2e", cert_pem)?;
/// let shown = format!("{keys:?}");
/// assert!(shown.contains("fa05fe1e5bcc79b81ad5ad4b58acf787") && shown.contains("5a9a2e"));
/// assert!(!shown.contains(sym_key));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiSecurity {
    inner: Arc<Inner>,
}

struct Inner {
    sym_sn: String,
    cipher: Aes256Gcm,
    rsa_sn: String,
    /// Shared with keys derived by `max_skew` (a key pair does not clone).
    signer: Arc<RsaKeyPair>,
    /// By SN: several during a rotation, replaced while running; shared
    /// with keys derived by `max_skew`.
    certificates: Arc<RwLock<BTreeMap<String, PublicKey>>>,
    /// The retiring certificates already warned about (once each).
    retiring_warned: Arc<Mutex<BTreeSet<String>>>,
    max_skew: Duration,
}

impl ApiSecurity {
    /// Keys from their text as the console gives them: the symmetric key in
    /// base64 (32 bytes) with its SN, the RSA private key in PEM (PKCS#8
    /// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) with its SN. Add the
    /// platform certificate with [`ApiSecurity::platform_certificate`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config), naming which key,
    /// never its value: the symmetric key is not base64 of 32 bytes, or the
    /// private key is not an RSA key of 2048 to 4096 bits in PEM (the
    /// console's are 2048).
    pub fn new(
        sym_sn: impl Into<String>,
        sym_key_base64: &str,
        rsa_sn: impl Into<String>,
        private_key_pem: &str,
    ) -> Result<ApiSecurity> {
        let cipher = cipher(sym_key_base64)?;
        let signer = signer(private_key_pem).map_err(|_| {
            Error::config(
                "the api security private key is not an RSA private key (2048 to 4096 bits) in PEM",
            )
        })?;
        Ok(ApiSecurity {
            inner: Arc::new(Inner {
                sym_sn: sym_sn.into(),
                cipher,
                rsa_sn: rsa_sn.into(),
                signer: Arc::new(signer),
                certificates: Arc::new(RwLock::new(BTreeMap::new())),
                retiring_warned: Arc::new(Mutex::new(BTreeSet::new())),
                max_skew: DEFAULT_MAX_SKEW,
            }),
        })
    }

    /// Keys from files: the private key's PEM file and the platform
    /// certificate's PEM file; the symmetric key and the SNs are short
    /// strings given as they are.
    ///
    /// # Errors
    ///
    /// As [`ApiSecurity::new`] and [`ApiSecurity::platform_certificate`],
    /// and [`ErrorKind::Config`](crate::ErrorKind::Config) naming the file
    /// that could not be read.
    pub fn from_files(
        sym_sn: impl Into<String>,
        sym_key_base64: &str,
        rsa_sn: impl Into<String>,
        private_key_file: impl AsRef<Path>,
        cert_sn: impl Into<String>,
        certificate_file: impl AsRef<Path>,
    ) -> Result<ApiSecurity> {
        let private = read_file(private_key_file.as_ref())?;
        let certificate = read_file(certificate_file.as_ref())?;
        ApiSecurity::new(sym_sn, sym_key_base64, rsa_sn, &private)?
            .platform_certificate(cert_sn, &certificate)
    }

    /// Keys from the environment: `WECHAT_API_SYM_SN`, `WECHAT_API_SYM_KEY`
    /// (base64), `WECHAT_API_RSA_SN`, `WECHAT_API_RSA_KEY` (the PEM text) or
    /// `WECHAT_API_RSA_KEY_FILE`, `WECHAT_API_CERT_SN`, `WECHAT_API_CERT`
    /// (the PEM text) or `WECHAT_API_CERT_FILE`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the variable
    /// that is missing, else as [`ApiSecurity::from_files`].
    pub fn from_env() -> Result<ApiSecurity> {
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| Error::config(format!("environment variable {name} is not set")))
        };
        let text_or_file = |text: &str, file: &str| match std::env::var(text) {
            Ok(value) => Ok(value),
            Err(_) => read_file(Path::new(&var(file)?)),
        };
        let private = text_or_file("WECHAT_API_RSA_KEY", "WECHAT_API_RSA_KEY_FILE")?;
        let certificate = text_or_file("WECHAT_API_CERT", "WECHAT_API_CERT_FILE")?;
        ApiSecurity::new(
            var("WECHAT_API_SYM_SN")?,
            &var("WECHAT_API_SYM_KEY")?,
            var("WECHAT_API_RSA_SN")?,
            &private,
        )?
        .platform_certificate(var("WECHAT_API_CERT_SN")?, &certificate)
    }

    /// These keys with the platform certificate `sn` added (an X.509
    /// `CERTIFICATE` or a `PUBLIC KEY` in PEM).
    ///
    /// # Errors
    ///
    /// As [`ApiSecurity::add_platform_certificate`].
    pub fn platform_certificate(self, sn: impl Into<String>, pem: &str) -> Result<ApiSecurity> {
        self.add_platform_certificate(sn, pem)?;
        Ok(self)
    }

    /// Adds (or replaces) the platform certificate `sn`, for every clone of
    /// these keys, while they are in use: WeChat's rotation, with no
    /// restart. Responses signed by a certificate no longer held are
    /// refused; drop one with [`ApiSecurity::remove_platform_certificate`].
    ///
    /// Where the certificate comes from: WeChat offers no API that returns
    /// a mini program's API-security platform certificate. Its guide
    /// (<https://developers.weixin.qq.com/miniprogram/dev/server/getting_started/api_signature.html>,
    /// 2.4 获取平台证书) has it downloaded from the console ("开发 - 开发管理 -
    /// 开发设置 - API安全"), with its SN shown there (not the serial number
    /// inside the certificate). During a rotation WeChat's answers name the
    /// retiring certificate in `Wechatmp-Serial-Deprecated` and the new one
    /// in `Wechatmp-Serial`; while the client holds only the retiring one
    /// it logs a warning (once per certificate) naming the new SN to
    /// download, and a process adds it here without restarting. (WeChat
    /// Pay's `/v3/certificates` is another product's API and does not
    /// serve these certificates.)
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `pem` holds
    /// neither an X.509 certificate nor a public key with an RSA key of
    /// 2048 to 8192 bits.
    ///
    /// # Example
    ///
    /// ```
    /// # let v: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/api_security.json")).unwrap();
    /// # let s = |k: &str| v[k].as_str().unwrap().to_string();
    /// let keys = weixin::ApiSecurity::new("sym1", &s("sym_key"), "rsa1", &s("app_private_key"))?
    ///     .platform_certificate("old", &s("platform_certificate"))?;
    /// let in_use = keys.clone(); // as a client holds them
    /// keys.add_platform_certificate("new", &s("platform2_certificate"))?;
    /// assert_eq!(in_use.platform_certificate_sns(), ["new", "old"]);
    /// assert!(keys.remove_platform_certificate("old"));
    /// assert_eq!(in_use.platform_certificate_sns(), ["new"]);
    /// assert!(keys.add_platform_certificate("bad", "not a pem").is_err());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn add_platform_certificate(&self, sn: impl Into<String>, pem: &str) -> Result<()> {
        let key = public_key(pem)?;
        self.inner.certificates.write().insert(sn.into(), key);
        Ok(())
    }

    /// Drops the platform certificate `sn`; whether it was held.
    pub fn remove_platform_certificate(&self, sn: &str) -> bool {
        self.inner.certificates.write().remove(sn).is_some()
    }

    /// The SNs of the platform certificates held, in order.
    pub fn platform_certificate_sns(&self) -> Vec<String> {
        self.inner.certificates.read().keys().cloned().collect()
    }

    /// These keys accepting responses whose timestamp is at most `skew`
    /// from the local clock; the platform certificates stay shared with
    /// these keys' other clones. Defaults to 300 seconds.
    pub fn max_skew(self, skew: Duration) -> ApiSecurity {
        let inner = &self.inner;
        ApiSecurity {
            inner: Arc::new(Inner {
                sym_sn: inner.sym_sn.clone(),
                cipher: inner.cipher.clone(),
                rsa_sn: inner.rsa_sn.clone(),
                signer: Arc::clone(&inner.signer),
                certificates: Arc::clone(&inner.certificates),
                retiring_warned: Arc::clone(&inner.retiring_warned),
                max_skew: skew,
            }),
        }
    }

    /// The symmetric key's SN.
    pub fn sym_sn(&self) -> &str {
        &self.inner.sym_sn
    }

    /// The private key's SN. WeChat finds the public key by the account, so
    /// it is sent nowhere (a `Wechatmp-Serial` request header or the SN in
    /// the signed string gets 40234); kept to show which key is loaded.
    pub fn rsa_sn(&self) -> &str {
        &self.inner.rsa_sn
    }

    /// Seals a request to `url` (the full `https://` URL; its query is not
    /// part of the scheme) for `appid` at Unix time `timestamp`: `fields`
    /// (the original body's members) encrypted with a random IV and nonce,
    /// and signed.
    ///
    /// # Example
    ///
    /// ```
    /// # let v: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/api_security.json")).unwrap();
    /// # let keys = weixin::ApiSecurity::new("sn1", v["sym_key"].as_str().unwrap(), "rsa1", v["app_private_key"].as_str().unwrap())?;
    /// let fields = serde_json::json!({"code": "abc"});
    /// let sealed = keys.seal("https://api.weixin.qq.com/wxa/business/getuserphonenumber", "wx1", 1700000000, fields.as_object().unwrap());
    /// let names: Vec<&str> = sealed.headers().iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["Wechatmp-Appid", "Wechatmp-TimeStamp", "Wechatmp-Signature"]);
    /// assert!(sealed.body().starts_with(r#"{"iv":""#) && !sealed.body().contains("abc"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn seal(
        &self,
        url: &str,
        appid: &str,
        timestamp: i64,
        fields: &Map<String, Value>,
    ) -> SealedRequest {
        let mut iv = [0u8; IV_LEN];
        let mut nonce = [0u8; 16];
        fill_random(&mut iv);
        fill_random(&mut nonce);
        let nonce = STANDARD_NO_PAD.encode(nonce);
        self.seal_with(url, appid, timestamp, fields.clone(), &iv, &nonce)
    }

    /// [`ApiSecurity::seal`] with the IV and nonce given: the vectors'
    /// door.
    pub(crate) fn seal_with(
        &self,
        url: &str,
        appid: &str,
        timestamp: i64,
        fields: Map<String, Value>,
        iv: &[u8; IV_LEN],
        nonce: &str,
    ) -> SealedRequest {
        let urlpath = super::urlpath(url);
        let inner = &self.inner;
        let plaintext = scheme::plaintext(fields, nonce, appid, timestamp);
        let aad = scheme::aad(urlpath, appid, timestamp, &inner.sym_sn);
        let body = scheme::encrypt(&inner.cipher, iv, &plaintext, &aad);
        let signature = scheme::sign(
            &inner.signer,
            &scheme::signed_string(urlpath, appid, &timestamp.to_string(), &body),
        );
        SealedRequest {
            body,
            headers: [
                (HEADER_APPID, appid.to_string()),
                (HEADER_TIMESTAMP, timestamp.to_string()),
                (HEADER_SIGNATURE, signature),
            ],
        }
    }

    /// Opens WeChat's answer to a sealed request to `url` for `appid`:
    /// `headers` looks a response header up by name, `now` is the local
    /// Unix time. Returns the decrypted JSON without `_n`, `_appid` and
    /// `_timestamp`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ApiSecurity`](crate::ErrorKind::ApiSecurity), checked in
    /// this order:
    ///
    /// - [`ApiSecurityErrorKind::MissingHeader`] when `Wechatmp-TimeStamp`,
    ///   `Wechatmp-Serial` or `Wechatmp-Signature` is absent;
    /// - [`ApiSecurityErrorKind::UnknownSerial`] when neither
    ///   `Wechatmp-Serial` nor `Wechatmp-Serial-Deprecated` names a
    ///   certificate these keys hold;
    /// - [`ApiSecurityErrorKind::BadSignature`] when no held certificate's
    ///   signature matches (a changed body, timestamp or URL, another key);
    /// - [`ApiSecurityErrorKind::AppIdMismatch`] when `Wechatmp-Appid` or the
    ///   decrypted `_appid` is another account;
    /// - [`ApiSecurityErrorKind::StaleTimestamp`] when the timestamp is not a
    ///   number, further than the skew from `now`, or not the one inside;
    /// - [`ApiSecurityErrorKind::Malformed`] when the body is not
    ///   `{"iv","data","authtag"}` of JSON;
    /// - [`ApiSecurityErrorKind::Decrypt`] when the ciphertext, tag or
    ///   additional data does not match.
    ///
    /// # Example
    ///
    /// An answer signed and sealed by another implementation (Python's
    /// `cryptography`, the crate's test vectors):
    ///
    /// ```
    /// # let v: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/api_security.json")).unwrap();
    /// # let s = |p: &str| v.pointer(p).unwrap().as_str().unwrap().to_string();
    /// # let keys = weixin::ApiSecurity::new(s("/sym_sn"), &s("/sym_key"), s("/rsa_sn"), &s("/app_private_key"))?
    /// #     .platform_certificate(s("/cert_sn"), &s("/platform_certificate"))?;
    /// let ts = v["response"]["timestamp"].as_i64().unwrap();
    /// let headers = |name: &'static str| match name {
    ///     "Wechatmp-TimeStamp" => Some(ts.to_string()),
    ///     "Wechatmp-Serial" => Some(s("/cert_sn")),
    ///     "Wechatmp-Signature" => Some(s("/response/signature")),
    ///     _ => None,
    /// };
    /// let body = s("/response/body");
    /// let answer = keys.open(&s("/urlpath"), &s("/appid"), &headers, body.as_bytes(), ts + 5)?;
    /// assert_eq!(answer["phone_info"]["phoneNumber"], "13800138000");
    /// assert!(answer.get("_appid").is_none());
    /// // Ten minutes later the same answer is a replay.
    /// let err = keys.open(&s("/urlpath"), &s("/appid"), &headers, body.as_bytes(), ts + 600).unwrap_err();
    /// assert_eq!(err.kind(), &weixin::ErrorKind::ApiSecurity(weixin::ApiSecurityErrorKind::StaleTimestamp));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn open(
        &self,
        url: &str,
        appid: &str,
        headers: &dyn Fn(&'static str) -> Option<String>,
        body: &[u8],
        now: i64,
    ) -> Result<Value> {
        let urlpath = super::urlpath(url);
        let inner = &self.inner;
        let timestamp_text = header(headers, HEADER_TIMESTAMP)?;
        let serial = header(headers, HEADER_SERIAL)?;
        let signature = header(headers, HEADER_SIGNATURE)?;
        let body_text = std::str::from_utf8(body).map_err(|_| {
            Error::api_security(ApiSecurityErrorKind::Malformed(
                "the body is not utf-8".into(),
            ))
        })?;
        // The timestamp is signed as sent: verify over its text, read it after.
        let signed = scheme::signed_string(urlpath, appid, &timestamp_text, body_text);
        let pairs = [
            (Some(serial.clone()), Some(signature)),
            (
                headers(HEADER_SERIAL_DEPRECATED),
                headers(HEADER_SIGNATURE_DEPRECATED),
            ),
        ];
        let verified_by = {
            let certificates = inner.certificates.read();
            let mut known = false;
            let mut verified_by = None;
            for (sn, signature) in pairs {
                let (Some(sn), Some(signature)) = (sn, signature) else {
                    continue;
                };
                if let Some(key) = certificates.get(&sn) {
                    known = true;
                    if scheme::verify(key, &signed, &signature) {
                        verified_by = Some(sn);
                        break;
                    }
                }
            }
            if !known {
                return Err(Error::api_security(ApiSecurityErrorKind::UnknownSerial));
            }
            verified_by.ok_or_else(|| Error::api_security(ApiSecurityErrorKind::BadSignature))?
        };
        if verified_by != serial {
            self.warn_retiring(appid, &verified_by, &serial);
        }
        if headers(HEADER_APPID).is_some_and(|a| a != appid) {
            return Err(Error::api_security(ApiSecurityErrorKind::AppIdMismatch));
        }
        let timestamp: i64 = timestamp_text
            .trim()
            .parse()
            .map_err(|_| Error::api_security(ApiSecurityErrorKind::StaleTimestamp))?;
        if timestamp.abs_diff(now) > inner.max_skew.as_secs() {
            return Err(Error::api_security(ApiSecurityErrorKind::StaleTimestamp));
        }
        let aad = scheme::aad(urlpath, appid, timestamp, &inner.sym_sn);
        let plaintext = scheme::decrypt(&inner.cipher, body, &aad)?;
        scheme::read_plaintext(&plaintext, appid, timestamp)
    }
}

impl ApiSecurity {
    /// WeChat's guide: when the certificate held is the one an answer
    /// names in `Wechatmp-Serial-Deprecated`, it is about to expire and the
    /// new one should be downloaded ("请尽快更新MP平台证书"). WeChat offers no
    /// API for it, so the crate can only say so: once per retiring SN.
    fn warn_retiring(&self, appid: &str, retiring: &str, current: &str) {
        if self
            .inner
            .retiring_warned
            .lock()
            .insert(retiring.to_string())
        {
            log::warn!(
                "api security ({appid}): WeChat is retiring platform certificate {retiring}; \
                 download certificate {current} from the console (API security) and add it \
                 with ApiSecurity::add_platform_certificate"
            );
        }
    }
}

impl fmt::Debug for ApiSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSecurity")
            .field("sym_sn", &self.inner.sym_sn)
            .field("sym_key", &format_args!("[redacted]"))
            .field("rsa_sn", &self.inner.rsa_sn)
            .field("private_key", &format_args!("[redacted]"))
            .field("platform_certificates", &self.platform_certificate_sns())
            .field("max_skew", &self.inner.max_skew)
            .finish()
    }
}

/// AES-256-GCM with the symmetric key the console gives (base64 of 32
/// bytes).
pub(crate) fn cipher(sym_key_base64: &str) -> Result<Aes256Gcm> {
    STANDARD
        .decode(sym_key_base64.trim())
        .ok()
        .and_then(|key| Aes256Gcm::new_from_slice(&key).ok())
        .ok_or_else(|| Error::config("the api security symmetric key is not base64 of 32 bytes"))
}

/// `rsaEncryption`, the algorithm of an RSA key in an X.509 certificate or
/// a `PUBLIC KEY` (RFC 8017, appendix C).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The RSA public key in `pem`: an X.509 certificate's, or a bare
/// `PUBLIC KEY`.
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) when `pem` holds
/// neither, or its key is not RSA (`rsaEncryption`) with a well-formed
/// `RSAPublicKey` of 2048 to 8192 bits.
pub(crate) fn public_key(pem: &str) -> Result<PublicKey> {
    let pem = pem.trim();
    let bad = || Error::config("the platform certificate is not an RSA certificate in PEM");
    let spki = if pem.contains("BEGIN CERTIFICATE") {
        x509_cert::Certificate::from_pem(pem)
            .map_err(|_| bad())?
            .tbs_certificate
            .subject_public_key_info
    } else {
        SubjectPublicKeyInfoOwned::from_pem(pem).map_err(|_| bad())?
    };
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(bad());
    }
    let pkcs1 = spki.subject_public_key.as_bytes().ok_or_else(bad)?;
    if !(2048..=8192).contains(&modulus_bits(pkcs1).ok_or_else(bad)?) {
        return Err(bad());
    }
    Ok(PublicKey::new(pkcs1.to_vec()))
}

/// The bit length of the modulus of a PKCS#1 `RSAPublicKey`
/// (`SEQUENCE { modulus INTEGER, publicExponent INTEGER }`), if it is one.
fn modulus_bits(pkcs1_der: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(pkcs1_der).ok()?;
    let modulus = reader
        .sequence(|seq| {
            let modulus: UintRef<'_> = seq.decode()?;
            let _exponent: UintRef<'_> = seq.decode()?;
            Ok(modulus.as_bytes())
        })
        .ok()?;
    reader.finish(()).ok()?;
    let first = *modulus.first()?;
    Some(modulus.len() * 8 - first.leading_zeros() as usize)
}

/// The RSA private key in `pem` (PKCS#8 `PRIVATE KEY` or PKCS#1
/// `RSA PRIVATE KEY`) as a *ring* key pair: 2048 to 4096 bits, checked
/// for consistency by *ring*.
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) when it is neither, or
/// *ring* refuses the key; the message never holds key material.
pub(crate) fn signer(pem: &str) -> Result<RsaKeyPair> {
    let bad = || Error::config("the private key is not an RSA private key in PEM");
    let (label, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| bad())?;
    match label {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        _ => return Err(bad()),
    }
    .map_err(|_| bad())
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("could not read {}: {e}", path.display())))
}

fn fill_random(buf: &mut [u8]) {
    // ok because the OS's generator failing leaves no safe IV to use.
    getrandom::fill(buf).expect("the OS random generator");
}
