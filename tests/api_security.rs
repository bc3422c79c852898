//! Secured calls (feature `api-security`) against the fake WeChat: the
//! client seals and signs, the fake checks and decrypts with the keys the
//! test gives it, answers sealed and signed, rotates its certificate and
//! spoils its answers on demand. Keys are the Python-made vectors'.

use serde_json::json;
use weixin::testing::{FakeWechat, Tamper};
use weixin::{
    ApiSecurity, ApiSecurityErrorKind, ApiSecurityPart, Client, ErrorKind, RequestOptions,
};

use crate::common::{self, APPID};

#[path = "vectors/keys.rs"]
pub(crate) mod keys;
pub(crate) use keys::{client_keys, fake_keys, v};

fn secured_fake() -> FakeWechat {
    let fake = common::fake();
    fake.secure_account(APPID, fake_keys());
    fake
}

fn client(fake: &FakeWechat, keys: ApiSecurity) -> Client {
    common::builder(fake)
        .token_source(common::secret_source(fake))
        .api_security(keys)
        .build()
        .unwrap()
}

fn security_kind(err: &weixin::Error) -> ApiSecurityErrorKind {
    match err.kind() {
        ErrorKind::ApiSecurity(kind) => kind.clone(),
        other => panic!("not a security error: {other:?} ({err})"),
    }
}

fn header<'a>(r: &'a weixin::testing::Received, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[test]
fn a_secured_call_round_trips_with_only_ciphertext_and_three_headers_on_the_wire() {
    let fake = secured_fake();
    let client = client(&fake, client_keys());
    let code = fake.phone_code(APPID, "13800138000");
    let resp = client
        .request(
            RequestOptions::post("/wxa/business/getuserphonenumber").json(json!({"code": code})),
        )
        .unwrap();
    assert_eq!(
        resp.json().unwrap()["phone_info"]["phoneNumber"],
        "13800138000"
    );
    // The fake decrypted exactly the body the caller gave.
    assert_eq!(
        fake.secured_requests("/wxa/business/getuserphonenumber"),
        [json!({"code": code})]
    );
    let sent = fake
        .last_request("/wxa/business/getuserphonenumber")
        .unwrap();
    let wechatmp: Vec<&str> = sent
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.to_ascii_lowercase().starts_with("wechatmp-"))
        .collect();
    assert_eq!(wechatmp.len(), 3, "{wechatmp:?}");
    assert_eq!(header(&sent, "Wechatmp-Appid"), Some(APPID));
    assert!(header(&sent, "Wechatmp-TimeStamp").is_some());
    assert!(header(&sent, "Wechatmp-Signature").is_some());
    assert_eq!(header(&sent, "Wechatmp-Serial"), None);
    let body = sent.json.unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["authtag", "data", "iv"]);
    assert!(!String::from_utf8_lossy(&sent.body).contains(&code));
    let query: Vec<&str> = sent.query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(query, ["access_token"]);
}

#[test]
fn every_call_class_in_the_table_is_secured_and_the_others_are_not() {
    let fake = secured_fake();
    let client = client(&fake, client_keys());
    // One call of each class the table names (the phone number has its
    // own test above).
    let secured = [
        "/wxa/getuserriskrank",
        "/wxa/getwxacodeunlimit",
        "/cgi-bin/message/custom/send",
        "/wxaapi/newtmpl/addtemplate",
        "/wxa/msg_sec_check",
        "/cgi-bin/openapi/quota/get",
        "/datacube/getweanalysisappiddailyretaininfo",
        "/wxa/servicemarket",
        "/cgi-bin/express/intracity/querystore",
    ];
    for path in secured {
        let resp = client
            .request(RequestOptions::post(path).json(json!({"n": path})))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // The fake's echo of the decrypted body, decrypted again by the client.
        assert_eq!(resp.json().unwrap()["json"], json!({"n": path}), "{path}");
        assert_eq!(fake.secured_requests(path), [json!({"n": path})], "{path}");
    }
    // A GET the docs mark: its query (but the token) travels sealed.
    client
        .request(RequestOptions::get("/wxa/business/getuserencryptkey").query("openid", "o1"))
        .unwrap();
    assert_eq!(
        fake.secured_requests("/wxa/business/getuserencryptkey"),
        [json!({"openid": "o1"})]
    );
    // Not in the table (WeChat's pages carry no note, or it is not an
    // account API), switched off for one call, an upload: plain.
    for path in [
        "/cgi-bin/user/info/updateremark",
        "/wxa/generate_urllink",
        "/cgi-bin/message/subscribe/send",
        "/cgi-bin/express/intracity/apply",
    ] {
        client
            .request(RequestOptions::post(path).json(json!({"a": 1})))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let sent = fake.last_request(path).unwrap();
        assert_eq!(header(&sent, "Wechatmp-Signature"), None, "{path}");
        assert!(fake.secured_requests(path).is_empty(), "{path}");
    }
    client
        .request(
            RequestOptions::post("/wxa/msg_sec_check")
                .json(json!({"a": 2}))
                .secure(false),
        )
        .unwrap();
    client
        .request(
            RequestOptions::post("/cgi-bin/media/upload")
                .query("type", "image")
                .form_bytes("media", "a.jpg", b"jpeg".to_vec())
                .secure(true),
        )
        .unwrap();
    let sent = fake.last_request("/cgi-bin/media/upload").unwrap();
    assert_eq!(header(&sent, "Wechatmp-Signature"), None);
    assert_eq!(fake.secured_requests("/wxa/msg_sec_check").len(), 1);
    // Switched on for a call the table does not name; its query moves
    // into the sealed body, the token stays in the URL.
    client
        .request(
            RequestOptions::get("/wxa/custom/thing")
                .query("x", "1")
                .secure(true),
        )
        .unwrap();
    assert_eq!(
        fake.secured_requests("/wxa/custom/thing"),
        [json!({"x": "1"})]
    );
    let sent = fake.last_request("/wxa/custom/thing").unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.query.len(), 1);
}

#[test]
fn a_certificate_rotation_in_the_middle_of_a_run_loses_no_call() {
    common::logs::capture();
    let fake = secured_fake();
    let keys = client_keys();
    let client = client(&fake, keys.clone());
    let call = || client.request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})));
    call().unwrap();
    // WeChat rotates: the new certificate signs, the old one too, deprecated.
    fake.rotate_platform_certificate(APPID, &v("cert2_sn"), &v("platform2_private_key"))
        .unwrap();
    call().unwrap();
    call().unwrap();
    // The client held only the retiring certificate: told once to fetch
    // the new one from the console (WeChat has no API for it).
    let retiring = format!("retiring platform certificate {}", v("cert_sn"));
    let warned: Vec<String> = common::logs::warnings_naming(APPID)
        .into_iter()
        .filter(|line| line.contains(&retiring))
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains(&format!("download certificate {}", v("cert2_sn"))));
    // The client is given the new certificate while running and drops the old.
    keys.add_platform_certificate(v("cert2_sn"), &v("platform2_certificate"))
        .unwrap();
    assert!(keys.remove_platform_certificate(&v("cert_sn")));
    call().unwrap();
    fake.finish_rotation(APPID);
    call().unwrap();
    assert_eq!(fake.secured_requests("/wxa/msg_sec_check").len(), 5);
    // A client that never got the new certificate refuses answers now.
    let stale = self::client(&fake, client_keys());
    let err = stale
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap_err();
    assert_eq!(security_kind(&err), ApiSecurityErrorKind::UnknownSerial);
}

#[test]
fn each_tampered_answer_is_refused_with_its_kind_and_names_the_call() {
    let fake = secured_fake();
    let client = client(&fake, client_keys());
    let cases = [
        (Tamper::Body, ApiSecurityErrorKind::BadSignature),
        (Tamper::Aad, ApiSecurityErrorKind::Decrypt),
        (
            Tamper::Timestamp(-301),
            ApiSecurityErrorKind::StaleTimestamp,
        ),
        (Tamper::AppId, ApiSecurityErrorKind::AppIdMismatch),
        (Tamper::Serial, ApiSecurityErrorKind::UnknownSerial),
        (
            Tamper::Certificate(v("platform2_private_key")),
            ApiSecurityErrorKind::BadSignature,
        ),
    ];
    for (tamper, kind) in cases {
        fake.tamper_secured(Some(tamper.clone()));
        let err = client
            .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({"c": 1})))
            .unwrap_err();
        assert_eq!(security_kind(&err), kind, "{tamper:?}");
        assert_eq!(err.call().map(|c| c.path()), Some("/wxa/msg_sec_check"));
        assert!(
            err.to_string().contains("secured answer rejected: "),
            "{err}"
        );
    }
    fake.tamper_secured(None);
    client
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({"c": 1})))
        .unwrap();
}

#[test]
fn a_request_wechat_refuses_gets_the_part_that_failed() {
    let fake = secured_fake();
    // Signed with a key whose public half the console was not given.
    let wrong_private = ApiSecurity::new(
        v("sym_sn"),
        &v("sym_key"),
        v("rsa_sn"),
        &v("platform2_private_key"),
    )
    .unwrap()
    .platform_certificate(v("cert_sn"), &v("platform_certificate"))
    .unwrap();
    let err = client(&fake, wrong_private)
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40234));
    assert_eq!(err.api_security_part(), Some(ApiSecurityPart::Signature));
    // Another symmetric key: the signature passes, the decryption does not.
    let wrong_sym = ApiSecurity::new(
        v("sym_sn"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        v("rsa_sn"),
        &v("app_private_key"),
    )
    .unwrap()
    .platform_certificate(v("cert_sn"), &v("platform_certificate"))
    .unwrap();
    let err = client(&fake, wrong_sym)
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40235));
    assert_eq!(err.api_security_part(), Some(ApiSecurityPart::Decryption));
    assert!(
        err.to_string()
            .contains("check the symmetric key and its SN"),
        "{err}"
    );
    assert!(fake.secured_requests("/wxa/msg_sec_check").is_empty());
}

#[test]
fn an_unsigned_answer_is_refused_unless_it_is_an_error() {
    let fake = common::fake();
    // The account is not secured at the fake: it answers in plain JSON.
    let err = client(&fake, client_keys())
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap_err();
    assert_eq!(
        security_kind(&err),
        ApiSecurityErrorKind::MissingHeader("Wechatmp-Signature")
    );
}

#[test]
fn a_token_error_inside_a_sealed_answer_refreshes_and_retries() {
    let fake = secured_fake();
    let client = client(&fake, client_keys());
    client
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap();
    fake.fail_next("/wxa/msg_sec_check", 40001, "invalid credential", 1);
    client
        .request(RequestOptions::post("/wxa/msg_sec_check").json(json!({})))
        .unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert_eq!(fake.count("/wxa/msg_sec_check"), 3);
}

#[test]
fn a_secured_call_reads_the_time_from_the_clients_clock() {
    use std::time::Duration;
    use weixin::{Clock, ManualClock};

    let fake = secured_fake();
    // A client whose clock is `behind` seconds behind the fake's (the
    // system's), accepting answers `skew` seconds from its clock.
    let client_at = |behind: u64, skew: u64| {
        let clock = ManualClock::new(Clock::system().now() - Duration::from_secs(behind));
        let client = common::builder(&fake)
            .token_source(common::secret_source(&fake))
            .clock(clock.clock())
            .api_security(client_keys().max_skew(Duration::from_secs(skew)))
            .build()
            .unwrap();
        (client, clock.clock().unix_secs())
    };
    let call = |client: &Client| {
        client.request(RequestOptions::post("/wxa/msg_sec_check").json(json!({"t": 1})))
    };
    // 100 s behind: inside the fake's 300 s, outside the client's 10 s.
    let (client, its_time) = client_at(100, 10);
    let err = call(&client).unwrap_err();
    assert_eq!(security_kind(&err), ApiSecurityErrorKind::StaleTimestamp);
    // The fake decrypted it: the AAD and `_timestamp` held the header's
    // time, which is the client's clock's, not the system's.
    assert_eq!(fake.secured_requests("/wxa/msg_sec_check").len(), 1);
    let sent = fake.last_request("/wxa/msg_sec_check").unwrap();
    assert_eq!(
        header(&sent, "Wechatmp-TimeStamp"),
        Some(its_time.to_string().as_str())
    );
    // The same distance is accepted when the client allows 200 s.
    call(&client_at(100, 200).0).unwrap();
    // 400 s behind: the fake (WeChat) refuses the request's timestamp.
    let err = call(&client_at(400, 1000).0).unwrap_err();
    assert_eq!(err.errcode(), Some(40240));
    assert_eq!(err.api_security_part(), Some(ApiSecurityPart::Timestamp));
    assert_eq!(fake.secured_requests("/wxa/msg_sec_check").len(), 2);
}
