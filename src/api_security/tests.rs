//! The scheme against vectors made by Python's `cryptography` (OpenSSL):
//! tests/vectors/api_security.py, run once, its output pasted as JSON;
//! and against WeChat's own worked example in its guide
//! (tests/vectors/api_security_wechat.json, `wechat_*` tests).

use serde_json::{json, Map, Value};

use super::keys::signer;
use super::scheme;
use super::*;
use crate::error::{ApiSecurityErrorKind, ErrorKind};

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../tests/vectors/api_security.json")).unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap()
}

fn keys(v: &Value) -> ApiSecurity {
    ApiSecurity::new(
        s(v, "/sym_sn"),
        s(v, "/sym_key"),
        s(v, "/rsa_sn"),
        s(v, "/app_private_key"),
    )
    .unwrap()
    .platform_certificate(s(v, "/cert_sn"), s(v, "/platform_certificate"))
    .unwrap()
}

fn cipher(v: &Value) -> aes_gcm::Aes256Gcm {
    use aes_gcm::KeyInit;
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(s(v, "/sym_key"))
        .unwrap();
    aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap()
}

/// A response as the vectors' WeChat sent it, with headers to change.
struct Answer {
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    fn of(v: &Value) -> Answer {
        Answer {
            headers: vec![
                (HEADER_APPID, s(v, "/appid").into()),
                (HEADER_TIMESTAMP, v["response"]["timestamp"].to_string()),
                (HEADER_SERIAL, s(v, "/cert_sn").into()),
                (HEADER_SIGNATURE, s(v, "/response/signature").into()),
            ],
            body: s(v, "/response/body").into(),
        }
    }

    fn set(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    fn open(&self, keys: &ApiSecurity, v: &Value, now: i64) -> crate::error::Result<Value> {
        let lookup = |name: &'static str| {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        };
        keys.open(
            s(v, "/urlpath"),
            s(v, "/appid"),
            &lookup,
            self.body.as_bytes(),
            now,
        )
    }

    /// Re-signed with `key_pem` over its (changed) body and timestamp.
    fn signed_by(self, v: &Value, key_pem: &str) -> Answer {
        let ts = self
            .headers
            .iter()
            .find(|(n, _)| *n == HEADER_TIMESTAMP)
            .unwrap()
            .1
            .clone();
        let message = scheme::signed_string(s(v, "/urlpath"), s(v, "/appid"), &ts, &self.body);
        let signature = scheme::sign(&signer(key_pem).unwrap(), &message);
        self.set(HEADER_SIGNATURE, &signature)
    }
}

fn security_kind(result: crate::error::Result<Value>) -> ApiSecurityErrorKind {
    match result.unwrap_err().kind() {
        ErrorKind::ApiSecurity(kind) => kind.clone(),
        other => panic!("not a security error: {other:?}"),
    }
}

fn response_ts(v: &Value) -> i64 {
    v["response"]["timestamp"].as_i64().unwrap()
}

#[test]
fn request_plaintext_aad_and_body_are_the_vectors_bytes() {
    let v = vectors();
    let ts = v["request"]["timestamp"].as_i64().unwrap();
    let fields: Map<String, Value> = json!({"code": "e31968a7f94cc5ee25fafc2aef2773f0"})
        .as_object()
        .unwrap()
        .clone();
    let plaintext = scheme::plaintext(
        fields.clone(),
        "nonce-0123456789abcdef",
        s(&v, "/appid"),
        ts,
    );
    assert_eq!(plaintext, s(&v, "/request/plaintext"));
    let aad = scheme::aad(s(&v, "/urlpath"), s(&v, "/appid"), ts, s(&v, "/sym_sn"));
    assert_eq!(aad, s(&v, "/request/aad"));
    let iv: [u8; 12] = std::array::from_fn(|i| i as u8 + 1);
    // The query is not part of urlpath.
    let url = format!("{}?access_token=ACCESS", s(&v, "/urlpath"));
    let sealed = keys(&v).seal_with(
        &url,
        s(&v, "/appid"),
        ts,
        fields,
        &iv,
        "nonce-0123456789abcdef",
    );
    assert_eq!(sealed.body(), s(&v, "/request/body"));
    let names: Vec<&str> = sealed.headers().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["Wechatmp-Appid", "Wechatmp-TimeStamp", "Wechatmp-Signature"]
    );
    assert_eq!(sealed.headers()[0].1, s(&v, "/appid"));
    assert_eq!(sealed.headers()[1].1, ts.to_string());
}

#[test]
fn request_signature_verifies_both_ways() {
    let v = vectors();
    let app_public = verifier(s(&v, "/app_certificate"));
    let ts = v["request"]["timestamp"].to_string();
    let message = scheme::signed_string(
        s(&v, "/urlpath"),
        s(&v, "/appid"),
        &ts,
        s(&v, "/request/body"),
    );
    assert_eq!(
        message,
        format!(
            "{}\n{}\n{ts}\n{}",
            s(&v, "/urlpath"),
            s(&v, "/appid"),
            s(&v, "/request/body")
        )
    );
    // OpenSSL's signature, checked by the crate.
    assert!(scheme::verify(
        &app_public,
        &message,
        s(&v, "/request/signature")
    ));
    // The crate's signature of the same bytes (PSS is randomized, so not
    // equal to OpenSSL's) verifies; a changed byte does not.
    let ours = scheme::sign(&signer(s(&v, "/app_private_key")).unwrap(), &message);
    assert_ne!(ours, s(&v, "/request/signature"));
    assert!(scheme::verify(&app_public, &message, &ours));
    assert!(!scheme::verify(
        &app_public,
        &message.replace("wxba", "wxbb"),
        &ours
    ));
    // A sealed request's signature is over exactly its body.
    let sealed = keys(&v).seal(s(&v, "/urlpath"), s(&v, "/appid"), 1, &Map::new());
    let message = scheme::signed_string(s(&v, "/urlpath"), s(&v, "/appid"), "1", sealed.body());
    assert!(scheme::verify(
        &app_public,
        &message,
        &sealed.headers()[2].1
    ));
}

fn verifier(pem: &str) -> scheme::PublicKey {
    keys::public_key(pem).unwrap()
}

#[test]
fn request_decrypts_to_the_plaintext() {
    let v = vectors();
    let plain = scheme::decrypt(
        &cipher(&v),
        s(&v, "/request/body").as_bytes(),
        s(&v, "/request/aad"),
    )
    .unwrap();
    assert_eq!(plain, s(&v, "/request/plaintext").as_bytes());
}

#[test]
fn response_opens_to_the_members_without_security_fields() {
    let v = vectors();
    let opened = Answer::of(&v).open(&keys(&v), &v, response_ts(&v)).unwrap();
    assert_eq!(
        opened,
        json!({"errcode": 0, "errmsg": "ok", "phone_info": {"phoneNumber": "13800138000", "countryCode": "86"}})
    );
}

#[test]
fn response_checks_fail_with_their_kind() {
    let v = vectors();
    let keys = keys(&v);
    let now = response_ts(&v);
    let platform = s(&v, "/platform_private_key");
    // Body changed: the signature no longer matches.
    let mut changed = Answer::of(&v);
    changed.body = changed.body.replacen("\"data\":\"", "\"data\":\"AA", 1);
    assert_eq!(
        security_kind(changed.open(&keys, &v, now)),
        ApiSecurityErrorKind::BadSignature
    );
    // Timestamp header changed: the signature no longer matches.
    let moved = Answer::of(&v).set(HEADER_TIMESTAMP, &(now + 1).to_string());
    assert_eq!(
        security_kind(moved.open(&keys, &v, now)),
        ApiSecurityErrorKind::BadSignature
    );
    // Timestamp changed and re-signed: the AAD no longer matches.
    let resigned = Answer::of(&v)
        .set(HEADER_TIMESTAMP, &(now + 1).to_string())
        .signed_by(&v, platform);
    assert_eq!(
        security_kind(resigned.open(&keys, &v, now)),
        ApiSecurityErrorKind::Decrypt
    );
    // Far from the local clock.
    assert_eq!(
        security_kind(Answer::of(&v).open(&keys, &v, now + 301)),
        ApiSecurityErrorKind::StaleTimestamp
    );
    assert!(Answer::of(&v).open(&keys, &v, now + 300).is_ok());
    let strict = keys.clone().max_skew(std::time::Duration::from_secs(10));
    assert_eq!(
        security_kind(Answer::of(&v).open(&strict, &v, now - 11)),
        ApiSecurityErrorKind::StaleTimestamp
    );
    // Another account's answer.
    let other = Answer::of(&v).set(HEADER_APPID, "wx0000000000000000");
    assert_eq!(
        security_kind(other.open(&keys, &v, now)),
        ApiSecurityErrorKind::AppIdMismatch
    );
    // An SN the client does not hold.
    let unknown = Answer::of(&v).set(HEADER_SERIAL, "no-such-sn");
    assert_eq!(
        security_kind(unknown.open(&keys, &v, now)),
        ApiSecurityErrorKind::UnknownSerial
    );
    // Signed by a key that is not the held certificate's.
    let forged = Answer::of(&v).signed_by(&v, s(&v, "/app_private_key"));
    assert_eq!(
        security_kind(forged.open(&keys, &v, now)),
        ApiSecurityErrorKind::BadSignature
    );
    // Unsigned.
    let mut unsigned = Answer::of(&v);
    unsigned.headers.retain(|(n, _)| *n != HEADER_SIGNATURE);
    assert_eq!(
        security_kind(unsigned.open(&keys, &v, now)),
        ApiSecurityErrorKind::MissingHeader("Wechatmp-Signature")
    );
    // Not an envelope (signed, so the shape is what fails).
    let mut plain = Answer::of(&v);
    plain.body = r#"{"errcode":0}"#.into();
    let plain = plain.signed_by(&v, platform);
    assert!(matches!(
        security_kind(plain.open(&keys, &v, now)),
        ApiSecurityErrorKind::Malformed(_)
    ));
}

#[test]
fn rotation_accepts_either_held_certificate() {
    let v = vectors();
    let keys = keys(&v);
    let now = response_ts(&v);
    // WeChat rotating: signed by the new certificate, the old pair deprecated.
    let rotating = Answer::of(&v)
        .signed_by(&v, s(&v, "/platform2_private_key"))
        .set(HEADER_SERIAL, s(&v, "/cert2_sn"))
        .set(HEADER_SERIAL_DEPRECATED, s(&v, "/cert_sn"))
        .set(HEADER_SIGNATURE_DEPRECATED, s(&v, "/response/signature"));
    // Only the old one held: accepted through the deprecated pair.
    assert!(rotating.open(&keys, &v, now).is_ok());
    // Keys with another skew share the certificates as they change.
    let strict = keys.clone().max_skew(std::time::Duration::from_secs(10));
    // The new one added, the old one dropped: accepted through the new.
    keys.add_platform_certificate(s(&v, "/cert2_sn"), s(&v, "/platform2_certificate"))
        .unwrap();
    assert!(keys.remove_platform_certificate(s(&v, "/cert_sn")));
    assert!(rotating.open(&keys, &v, now).is_ok());
    assert_eq!(strict.platform_certificate_sns(), [s(&v, "/cert2_sn")]);
    // An answer signed only by the old certificate is now refused.
    assert_eq!(
        security_kind(Answer::of(&v).open(&keys, &v, now)),
        ApiSecurityErrorKind::UnknownSerial
    );
}

#[test]
fn keys_are_never_shown() {
    let v = vectors();
    let keys = keys(&v);
    let shown = format!("{keys:?}");
    assert!(!shown.contains(s(&v, "/sym_key")));
    assert!(!shown.contains("PRIVATE"));
    assert!(shown.contains("[redacted]") && shown.contains(s(&v, "/cert_sn")));
    let bad = ApiSecurity::new("sn", "not base64!", "rsa", s(&v, "/app_private_key")).unwrap_err();
    assert_eq!(
        bad.to_string(),
        "invalid configuration: the api security symmetric key is not base64 of 32 bytes"
    );
    let pem = s(&v, "/app_private_key");
    let broken = pem.replace("MII", "MIJ");
    let bad = ApiSecurity::new("sn", s(&v, "/sym_key"), "rsa", &broken).unwrap_err();
    assert!(!bad.to_string().contains("MIJ"));
}

#[test]
fn urlpath_and_fields() {
    assert_eq!(
        urlpath("https://a.b/c/d?access_token=X#f"),
        "https://a.b/c/d"
    );
    let fields =
        request_fields(Some(&json!({"a": 1})), [("b", "2"), ("a", "q")].into_iter()).unwrap();
    assert_eq!(Value::Object(fields), json!({"a": 1, "b": "2"}));
    assert!(request_fields(Some(&json!([1])), std::iter::empty()).is_err());
}

/// WeChat's worked example (the guide's sections 3.1.2 to 4.2.1, for
/// `/wxa/getuserriskrank`), its bytes as the guide prints them.
fn wechat() -> Value {
    serde_json::from_str(include_str!("../../tests/vectors/api_security_wechat.json")).unwrap()
}

#[test]
fn wechat_example_request_encrypts_to_the_guides_bytes() {
    let v = wechat();
    let ts = v["request"]["timestamp"].as_i64().unwrap();
    let aad = scheme::aad(s(&v, "/urlpath"), s(&v, "/appid"), ts, s(&v, "/sym_sn"));
    assert_eq!(aad, s(&v, "/request/aad"));
    let iv: [u8; scheme::IV_LEN] = {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s(&v, "/request/iv"))
            .unwrap();
        bytes.try_into().unwrap()
    };
    // The guide's plaintext keeps its members in its own order; the bytes
    // encrypted are what count, and they give the guide's body exactly.
    let body = scheme::encrypt(&cipher(&v), &iv, s(&v, "/request/plaintext"), &aad);
    assert_eq!(body, s(&v, "/request/body"));
    assert_eq!(body.len(), 324); // "原postdata总长度324"
    let plain = scheme::decrypt(&cipher(&v), body.as_bytes(), &aad).unwrap();
    assert_eq!(plain, s(&v, "/request/plaintext").as_bytes());
}

#[test]
fn wechat_example_request_signature_verifies_and_ours_does_too() {
    let v = wechat();
    let message = scheme::signed_string(
        s(&v, "/urlpath"),
        s(&v, "/appid"),
        &v["request"]["timestamp"].to_string(),
        s(&v, "/request/body"),
    );
    // The guide's key is PKCS#1 (`RSA PRIVATE KEY`); its public half
    // checks the guide's signature and ours.
    let private = signer(s(&v, "/app_private_key")).unwrap();
    let public = scheme::PublicKey::new(
        ring::signature::KeyPair::public_key(&private)
            .as_ref()
            .to_vec(),
    );
    assert!(scheme::verify(
        &public,
        &message,
        s(&v, "/request/signature")
    ));
    let ours = scheme::sign(&private, &message);
    assert!(scheme::verify(&public, &message, &ours));
    assert!(!scheme::verify(
        &public,
        &format!("{message} "),
        s(&v, "/request/signature")
    ));
    // The same public key as a bare `PUBLIC KEY` (made from the guide's
    // key with OpenSSL) reads and checks it too; a private key, an EC key
    // or text is no public key.
    let bare = keys::public_key(WECHAT_APP_PUBLIC_KEY).unwrap();
    assert!(scheme::verify(&bare, &message, s(&v, "/request/signature")));
    assert!(keys::public_key(s(&v, "/app_private_key")).is_err());
    assert!(keys::public_key(EC_PUBLIC_KEY).is_err());
    assert!(keys::public_key("not a pem").is_err());
}

#[test]
fn wechat_example_response_opens_with_the_guides_certificate() {
    let v = wechat();
    let ts = v["response"]["timestamp"].as_i64().unwrap();
    let keys = ApiSecurity::new(
        s(&v, "/sym_sn"),
        s(&v, "/sym_key"),
        s(&v, "/rsa_sn"),
        s(&v, "/app_private_key"),
    )
    .unwrap()
    .platform_certificate(s(&v, "/cert_sn"), s(&v, "/platform_certificate"))
    .unwrap();
    let answer = |deprecated_only: bool| {
        let headers = [
            (HEADER_APPID, s(&v, "/appid").to_string()),
            (HEADER_TIMESTAMP, ts.to_string()),
            (
                HEADER_SERIAL,
                if deprecated_only {
                    "an-unknown-sn"
                } else {
                    s(&v, "/response/serial")
                }
                .to_string(),
            ),
            (HEADER_SIGNATURE, s(&v, "/response/signature").to_string()),
            (
                HEADER_SERIAL_DEPRECATED,
                s(&v, "/response/serial_deprecated").to_string(),
            ),
            (
                HEADER_SIGNATURE_DEPRECATED,
                s(&v, "/response/signature_deprecated").to_string(),
            ),
        ];
        let lookup = move |name: &'static str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| value.clone())
        };
        keys.open(
            s(&v, "/urlpath"),
            s(&v, "/appid"),
            &lookup,
            s(&v, "/response/body").as_bytes(),
            ts + 1,
        )
    };
    // The guide's answer carries a rotation: the current certificate
    // (held) and a retiring one (not held); the held one is enough.
    assert_eq!(answer(false).unwrap(), v["response"]["members"]);
    // Neither SN held: refused before any signature is checked.
    let err = answer(true).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ApiSecurity(ApiSecurityErrorKind::UnknownSerial)
    );
    let plain = scheme::decrypt(
        &cipher(&v),
        s(&v, "/response/body").as_bytes(),
        &scheme::aad(s(&v, "/urlpath"), s(&v, "/appid"), ts, s(&v, "/sym_sn")),
    )
    .unwrap();
    assert_eq!(plain, s(&v, "/response/plaintext").as_bytes());
}

/// The public half of the guide's private key, as OpenSSL writes it.
const WECHAT_APP_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3FoQOmOl5/CF5hF7ta4E
zCy2LaU3Eu2k9DBwQ73J82I53Sx9LAgM1DH3IsYohRRx/BESfbdDI2powvr6QYKV
IC+4Yavwg7gzhZRxWWmT1HruEADCZAgkUCu+9Il/9FPuitPSoIpBd07NqdkkRe82
NBOfrKTdhge/5zd457fl7J81Q5VTIxO8vvq7FSw7k6Jtv+eOjR6SZOWbbUO7f9r4
UuUkXmvdGv21qiqtaO1EMw4tUCELzY73M7NpCH3RorlommYX3P6q0VrkDHrCE0/Q
MhmHsF+46E+IRcJ3wtEj3p/mO1VoCpEhawC1U728ZUTwWNEii8hPEhcNAZTKaQMa
TQIDAQAB
-----END PUBLIC KEY-----";

/// A P-256 public key (not RSA), made with OpenSSL.
const EC_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELWTTPxSFVbKPxm5G9D27Gu89+QT5
aJnPVazoV07n76JQaG7wElom2zYPNNEi0C0gDIbLG8BJJLceT0Ao2r5GpQ==
-----END PUBLIC KEY-----";
