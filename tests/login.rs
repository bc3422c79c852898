//! Users' logins: OAuth2 web authorization and the mini program's
//! code2session with the calls right after it, against the fake's login
//! endpoints. None of them may fetch or carry an account token, and a
//! user's token never enters the account cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weixin::testing::{Canned, FakeWechat};
use weixin::{
    Client, Context, ErrorKind, Lang, MiniProgram, OAuth, RequestOptions, Scope, SecretSource,
    Token, TokenKey, TokenSource, UnlimitedCode,
};

use crate::common::{self, APPID, SECRET};

/// A token source that counts every fetch and refresh it is asked for.
#[derive(Debug)]
struct Counting {
    inner: SecretSource,
    calls: Arc<AtomicUsize>,
}

impl TokenSource for Counting {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> weixin::Result<Token> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(key, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> weixin::Result<Token> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.refresh(key, stale, cx)
    }
}

/// A client with a token source that counts its calls.
fn counted(fake: &FakeWechat) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let source = Counting {
        inner: common::secret_source(fake),
        calls: calls.clone(),
    };
    let client = common::builder(fake).token_source(source).build().unwrap();
    (client, calls)
}

/// No request the fake received carried an `access_token` other than a
/// user's.
fn assert_no_account_token(fake: &FakeWechat) {
    for got in fake.received() {
        if let Some(token) = got.param("access_token") {
            assert!(token.starts_with("USER_"), "{} carried {token}", got.path);
        }
    }
}

fn oauth() -> OAuth {
    OAuth::new(APPID).secret(SECRET)
}

#[test]
fn oauth_exchange_refresh_check_and_user_info_agree() {
    let fake = common::fake();
    fake.set_unionid("o_alice", "u_alice");
    let (client, source_calls) = counted(&fake);
    let oauth = oauth();

    let code = fake.oauth_code(APPID, "o_alice");
    let user = oauth.exchange_code(&client, &code).unwrap();
    assert_eq!(user.openid, "o_alice");
    assert_eq!(user.unionid.as_deref(), Some("u_alice"));
    assert_eq!(user.scope, "snsapi_userinfo");
    assert!(user.has_scope(Scope::UserInfo));
    assert_eq!(user.expires_in, 7200);
    assert_eq!(user.expires_at(), user.obtained_at + 7200);
    let sent = fake.last_request("/sns/oauth2/access_token").unwrap();
    let names: Vec<&str> = sent.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["appid", "secret", "code", "grant_type"]);
    assert_eq!(sent.param("code"), Some(code.as_str()));

    assert!(oauth.check(&client, &user).unwrap());
    let info = oauth.user_info(&client, &user, Lang::En).unwrap();
    assert_eq!(info.openid, "o_alice");
    assert_eq!(info.unionid.as_deref(), Some("u_alice"));
    let sent = fake.last_request("/sns/userinfo").unwrap();
    assert_eq!(sent.param("lang"), Some("en"));
    assert_eq!(sent.param("openid"), Some("o_alice"));
    assert_eq!(sent.param("access_token"), Some(user.access_token.expose()));

    let renewed = oauth.refresh(&client, &user.refresh_token).unwrap();
    assert_eq!(renewed.openid, "o_alice");
    assert_eq!(renewed.refresh_token, user.refresh_token, "WeChat keeps it");
    assert_ne!(renewed.access_token, user.access_token);
    assert!(oauth.check(&client, &renewed).unwrap());
    let sent = fake.last_request("/sns/oauth2/refresh_token").unwrap();
    assert_eq!(sent.param("secret"), None, "a refresh needs no secret");

    // Nothing of this touched the account token.
    assert_eq!(source_calls.load(Ordering::SeqCst), 0);
    assert_eq!(fake.count("/cgi-bin/token"), 0);
    assert_eq!(fake.count("/cgi-bin/stable_token"), 0);
    assert_no_account_token(&fake);
    assert!(
        format!("{client:?}").contains("cached_keys: 0"),
        "{client:?}"
    );
}

#[test]
fn oauth_codes_work_once_and_for_their_app_only() {
    let fake = common::fake();
    fake.register("wx_other", "other-secret");
    let client = common::builder(&fake).build().unwrap();
    let oauth = oauth();
    let code = fake.oauth_code(APPID, "o_alice");
    oauth.exchange_code(&client, &code).unwrap();

    let reused = oauth.exchange_code(&client, &code).unwrap_err();
    assert_eq!(reused.errcode(), Some(40163));
    assert!(
        reused.to_string().contains("each login code works once"),
        "{reused}"
    );
    let unknown = oauth.exchange_code(&client, "NOT_A_CODE").unwrap_err();
    assert_eq!(unknown.errcode(), Some(40029));
    assert!(unknown.to_string().contains("valid 5 minutes"), "{unknown}");
    let foreign = fake.oauth_code("wx_other", "o_bob");
    assert_eq!(
        oauth
            .exchange_code(&client, &foreign)
            .unwrap_err()
            .errcode(),
        Some(40029)
    );
    // The other app can still use it: a refused code is not spent.
    OAuth::new("wx_other")
        .secret("other-secret")
        .exchange_code(&client, &foreign)
        .unwrap();
    let wrong_secret = OAuth::new(APPID).secret("nope");
    let code = fake.oauth_code(APPID, "o_alice");
    assert_eq!(
        wrong_secret
            .exchange_code(&client, &code)
            .unwrap_err()
            .errcode(),
        Some(40125)
    );
    assert_eq!(
        oauth
            .refresh(&client, &weixin::Secret::new("NOT_A_REFRESH_TOKEN"))
            .unwrap_err()
            .errcode(),
        Some(40030)
    );
}

#[test]
fn user_tokens_are_good_for_their_user_and_scope_only() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let oauth = oauth();
    let base = fake.oauth_code_with_scope(APPID, "o_alice", "snsapi_base");
    let user = oauth.exchange_code(&client, &base).unwrap();
    assert!(user.has_scope(Scope::Base) && !user.has_scope(Scope::UserInfo));
    assert!(oauth.check(&client, &user).unwrap());
    let err = oauth.user_info(&client, &user, Lang::ZhCn).unwrap_err();
    assert_eq!(err.errcode(), Some(48001));

    let mut someone_else = user.clone();
    someone_else.openid = "o_mallory".into();
    assert!(!oauth.check(&client, &someone_else).unwrap());

    // A user's token is no account token, and an account token no user's.
    let err = client
        .request(
            RequestOptions::get("/cgi-bin/user/get")
                .no_token()
                .query("access_token", user.access_token.expose()),
        )
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    let account = client.token(&TokenKey::access_token(APPID)).unwrap();
    let err = client
        .request(
            RequestOptions::get("/sns/auth")
                .query("access_token", account.expose())
                .query("openid", "o_alice"),
        )
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40001));

    fake.expire_current(APPID);
    assert!(!oauth.check(&client, &user).unwrap(), "an expired token");
}

#[test]
fn oauth_needs_a_secret_or_a_platform_to_exchange() {
    let fake = common::fake();
    let client = common::builder(&fake).build().unwrap();
    let err = OAuth::new(APPID)
        .exchange_code(&client, "CODE")
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert!(err.to_string().contains(".secret(..)"), "{err}");
    assert_eq!(fake.received().len(), 0, "nothing was sent");
}

#[test]
fn code2session_is_typed_single_use_and_tokenless() {
    let fake = common::fake();
    fake.set_unionid("o_alice", "u_alice");
    let (client, source_calls) = counted(&fake);
    let mini = MiniProgram::new(APPID).secret(SECRET);

    let code = fake.js_code(APPID, "o_alice");
    let session = mini.code2session(&client, &code).unwrap();
    assert_eq!(session.openid, "o_alice");
    assert_eq!(session.unionid.as_deref(), Some("u_alice"));
    assert_eq!(
        Some(session.session_key.expose().to_string()),
        fake.session_key(APPID, "o_alice")
    );
    let sent = fake.last_request("/sns/jscode2session").unwrap();
    let names: Vec<&str> = sent.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["appid", "secret", "js_code", "grant_type"]);

    let reused = mini.code2session(&client, &code).unwrap_err();
    assert_eq!(reused.errcode(), Some(40163));
    assert!(reused.to_string().contains("works once"), "{reused}");
    let unknown = mini.code2session(&client, "NOT_A_CODE").unwrap_err();
    assert_eq!(unknown.errcode(), Some(40029));
    // An OAuth code is not a wx.login code.
    let web = fake.oauth_code(APPID, "o_alice");
    assert_eq!(
        mini.code2session(&client, &web).unwrap_err().errcode(),
        Some(40029)
    );

    // Each login gives a new session key.
    let again = mini
        .code2session(&client, &fake.js_code(APPID, "o_alice"))
        .unwrap();
    assert_ne!(again.session_key, session.session_key);

    assert_eq!(source_calls.load(Ordering::SeqCst), 0);
    assert_eq!(fake.count("/cgi-bin/token"), 0);
    assert_no_account_token(&fake);
    assert!(format!("{client:?}").contains("cached_keys: 0"));
}

#[test]
fn code2session_past_100_logins_a_minute_is_45011() {
    let fake = common::fake();
    let client = common::builder(&fake).build().unwrap();
    let mini = MiniProgram::new(APPID).secret(SECRET);
    for _ in 0..100 {
        mini.code2session(&client, &fake.js_code(APPID, "o_busy"))
            .unwrap();
    }
    let code = fake.js_code(APPID, "o_busy");
    let err = mini.code2session(&client, &code).unwrap_err();
    assert_eq!(err.errcode(), Some(45011));
    assert!(err.to_string().contains("100 per user per minute"), "{err}");
    // Another user is not limited, and the refused code is not spent.
    mini.code2session(&client, &fake.js_code(APPID, "o_calm"))
        .unwrap();
    assert_eq!(
        mini.code2session(&client, &code).unwrap_err().errcode(),
        Some(45011)
    );
}

#[test]
fn phone_number_uses_the_account_token_and_its_code_once() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let mini = MiniProgram::new(APPID);
    let code = fake.phone_code(APPID, "13800138000");
    let phone = mini.phone_number(&client, &code).unwrap();
    assert_eq!(phone.phone_number, "13800138000");
    assert_eq!(phone.pure_phone_number, "13800138000");
    assert_eq!(phone.country_code, "86");
    let sent = fake
        .last_request("/wxa/business/getuserphonenumber")
        .unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.json, Some(serde_json::json!({"code": code})));
    assert!(sent.param("access_token").unwrap().starts_with("TOKEN_"));
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    // WeChat answers a used phone code as an unknown one.
    let err = mini.phone_number(&client, &code).unwrap_err();
    assert_eq!(err.errcode(), Some(40029));
    // Another app's code is unknown here.
    let foreign = fake.phone_code("wx_other", "13900139000");
    assert_eq!(
        mini.phone_number(&client, &foreign).unwrap_err().errcode(),
        Some(40029)
    );
}

#[test]
fn unlimited_code_is_image_bytes_or_a_typed_error() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let mini = MiniProgram::new(APPID);
    let png = b"\x89PNG\r\n\x1a\nIHDR".to_vec();
    fake.answer(
        "/wxa/getwxacodeunlimit",
        Canned::bytes("image/png", png.clone()).times(1),
    );
    // WeChat's JSON error, declared as an image as it has been seen to.
    fake.answer(
        "/wxa/getwxacodeunlimit",
        Canned::bytes(
            "image/jpeg",
            r#"{"errcode":41030,"errmsg":"invalid page rid: 1"}"#,
        )
        .times(1),
    );
    let code = UnlimitedCode::new("order=42")
        .page("pages/order/order")
        .check_path(false)
        .hyaline(true);
    let image = mini.unlimited_code(&client, &code).unwrap();
    assert_eq!(image.bytes, png);
    assert_eq!(image.content_type, "image/png");
    let sent = fake.last_request("/wxa/getwxacodeunlimit").unwrap();
    assert_eq!(
        sent.json,
        Some(
            serde_json::json!({"scene": "order=42", "page": "pages/order/order",
            "check_path": false, "is_hyaline": true})
        )
    );
    assert!(sent.param("access_token").unwrap().starts_with("TOKEN_"));

    let err = mini.unlimited_code(&client, &code).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Api {
            errcode: 41030,
            errmsg: "invalid page rid: 1".into(),
            status: 200
        }
    );
    // A bad scene is refused before anything is sent.
    let before = fake.count("/wxa/getwxacodeunlimit");
    let err = mini
        .unlimited_code(&client, &UnlimitedCode::new("x".repeat(33)))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest { .. }));
    assert_eq!(fake.count("/wxa/getwxacodeunlimit"), before);
}

#[cfg(feature = "crypto")]
#[test]
fn encrypted_data_round_trips_under_the_latest_session_key_only() {
    let fake = common::fake();
    let client = common::builder(&fake).build().unwrap();
    let mini = MiniProgram::new(APPID).secret(SECRET);
    assert!(fake
        .encrypted_data(APPID, "o_alice", serde_json::json!({}))
        .is_none());
    let first = mini
        .code2session(&client, &fake.js_code(APPID, "o_alice"))
        .unwrap();
    let profile = serde_json::json!({"nickName": "Alice", "gender": 2});
    let (data, iv) = fake
        .encrypted_data(APPID, "o_alice", profile.clone())
        .unwrap();
    let opened = mini.decrypt_data(&first.session_key, &data, &iv).unwrap();
    assert_eq!(opened["nickName"], "Alice");
    assert_eq!(opened["watermark"]["appid"], APPID);

    // Another mini program cannot take it for its own.
    let err = MiniProgram::new("wx_other")
        .decrypt_data(&first.session_key, &data, &iv)
        .unwrap_err();
    assert!(err.to_string().contains("watermark.appid"), "{err}");

    // A later login replaces the session key: data sealed under the new
    // one does not open under the old one.
    let second = mini
        .code2session(&client, &fake.js_code(APPID, "o_alice"))
        .unwrap();
    let (data, iv) = fake.encrypted_data(APPID, "o_alice", profile).unwrap();
    assert!(mini.decrypt_data(&second.session_key, &data, &iv).is_ok());
    let err = mini
        .decrypt_data(&first.session_key, &data, &iv)
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err:?}");
}

/// WeChat's published sample for `wx.getUserInfo`'s encrypted data.
#[cfg(feature = "crypto")]
#[test]
fn decrypts_wechats_published_sample() {
    const ENCRYPTED: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    let key = weixin::Secret::new("tiihtNczf5v6AKRyjwEUhQ==");
    let data = MiniProgram::new("wx4f4bc4dec97d474b")
        .decrypt_data(&key, ENCRYPTED, "r7BXXKkLb8qrSNn05n0qiA==")
        .unwrap();
    assert_eq!(data["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(data["nickName"], "Band");
    assert_eq!(data["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
    assert_eq!(
        data["watermark"],
        serde_json::json!({"timestamp": 1477314187, "appid": "wx4f4bc4dec97d474b"})
    );
}
