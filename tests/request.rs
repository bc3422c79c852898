//! The request pipeline against the fake WeChat: URLs, methods, bodies,
//! responses, errors and retries.

use std::time::Duration;

use weixin::{ErrorKind, Method, RequestOptions, TokenKey, TransportKind};

use crate::common::{self, APPID};

#[test]
fn appends_the_token_and_reuses_it() {
    let fake = common::fake();
    let client = common::direct(&fake);
    for _ in 0..3 {
        let resp = client
            .request(RequestOptions::get("/cgi-bin/user/get").query("next_openid", "o 1&x"))
            .unwrap();
        let body = resp.json().unwrap();
        assert_eq!(body["path"], "/cgi-bin/user/get");
        assert_eq!(body["appid"], APPID);
        assert_eq!(body["query"], serde_json::json!({"next_openid": "o 1&x"}));
    }
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert_eq!(fake.count("/cgi-bin/user/get"), 3);
}

#[test]
fn every_method_and_json_bodies() {
    let fake = common::fake();
    let client = common::direct(&fake);
    for method in [
        Method::Get,
        Method::Delete,
        Method::Options,
        Method::Post,
        Method::Put,
        Method::Patch,
    ] {
        let resp = client
            .request(
                RequestOptions::new(method, "/cgi-bin/anything")
                    .json(serde_json::json!({"k": method.as_str()})),
            )
            .unwrap();
        let body = resp.json().unwrap();
        assert_eq!(body["method"], method.as_str());
        assert_eq!(body["json"]["k"], method.as_str());
    }
    let head = client
        .request(RequestOptions::new(Method::Head, "/cgi-bin/anything"))
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().is_empty());
    assert_eq!(fake.count("/cgi-bin/anything"), 7);
}

#[test]
fn full_urls_and_per_call_origin() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let full = format!("{}/cgi-bin/full?a=1", fake.url());
    let body = client
        .request(RequestOptions::get(full))
        .unwrap()
        .json()
        .unwrap()
        .clone();
    assert_eq!(body["query"], serde_json::json!({"a": "1"}));

    // A client left on the real host, sent to the fake per call.
    let default_host = weixin::Client::builder()
        .appid(APPID)
        .token_source(common::secret_source(&fake))
        .build()
        .unwrap();
    let resp = default_host
        .request(
            RequestOptions::get("/cgi-bin/x")
                .scheme("http")
                .host("127.0.0.1")
                .port(fake.port()),
        )
        .unwrap();
    assert_eq!(resp.json().unwrap()["path"], "/cgi-bin/x");
}

/// The user paths carry the user's token the caller put in the query, and
/// nothing else, even from a client with a token source.
#[test]
fn oauth_user_paths_get_no_token() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let code = fake.oauth_code(APPID, "o1");
    let user = client
        .request(
            RequestOptions::get("/sns/oauth2/access_token")
                .query("appid", APPID)
                .query("secret", common::SECRET)
                .query("code", code)
                .query("grant_type", "authorization_code"),
        )
        .unwrap();
    let user_token = user.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = client
        .request(
            RequestOptions::get("/sns/userinfo")
                .query("access_token", user_token.as_str())
                .query("openid", "o1"),
        )
        .unwrap();
    assert_eq!(resp.json().unwrap()["openid"], "o1");
    let sent = fake.last_request("/sns/userinfo").unwrap();
    let tokens: Vec<&str> = sent
        .query
        .iter()
        .filter(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(tokens, [user_token.as_str()]);
    let err = client.request("/sns/auth").unwrap_err();
    assert_eq!(err.errcode(), Some(41001), "no token was added");
    assert_eq!(fake.count("/cgi-bin/token"), 0);
}

/// Every path that authenticates by appid + secret or by a user's code or
/// token goes out without `access_token`, from a client with no appid and
/// no token source, and causes no token fetch; `no_token()` does the same
/// for any path.
#[test]
fn calls_without_an_account_token_need_no_appid_and_fetch_none() {
    let fake = common::fake();
    let bare = weixin::Client::builder()
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .build()
        .unwrap();
    let calls = [
        RequestOptions::get("/cgi-bin/token")
            .query("grant_type", "client_credential")
            .query("appid", common::APPID)
            .query("secret", common::SECRET),
        RequestOptions::post("/cgi-bin/stable_token").json(serde_json::json!({
            "grant_type": "client_credential",
            "appid": common::APPID,
            "secret": common::SECRET,
        })),
        RequestOptions::post("/cgi-bin/clear_quota/v2")
            .query("appid", common::APPID)
            .query("appsecret", common::SECRET),
        RequestOptions::get("/sns/oauth2/access_token").query("code", "C"),
        RequestOptions::get("/sns/oauth2/refresh_token").query("refresh_token", "R"),
        RequestOptions::get("/sns/jscode2session").query("js_code", "J"),
        RequestOptions::get("/sns/userinfo").query("access_token", "USER"),
        RequestOptions::get("/sns/auth").query("access_token", "USER"),
        RequestOptions::get("/my/own/api").no_token(),
    ];
    for call in calls {
        let path = call.url().to_string();
        // WeChat's answer does not matter here, only what was sent.
        let _ = bare.request(call);
        let got = fake.last_request(&path).expect(&path);
        let tokens = got
            .query
            .iter()
            .filter(|(k, v)| k == "access_token" && v != "USER")
            .count();
        assert_eq!(tokens, 0, "{path} carried an account token");
    }
    let counts = fake.counts();
    assert_eq!(
        counts.get("/cgi-bin/token"),
        Some(&1),
        "only the call itself"
    );
    assert_eq!(counts.values().sum::<usize>(), 9, "{counts:?}");
}

#[test]
fn invalid_requests_are_typed_errors() {
    let fake = common::fake();
    let no_appid = weixin::Client::builder()
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .token_source(common::secret_source(&fake))
        .build()
        .unwrap();
    let err = no_appid.request("/cgi-bin/x").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
        "{err}"
    );

    let no_source = weixin::Client::builder().appid(APPID).build().unwrap();
    let err = no_source.request("/cgi-bin/x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");

    let client = common::direct(&fake);
    for bad in ["cgi-bin/no-slash", "ftp://h/x", "http:///x"] {
        let err = client.request(bad).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
            "{bad}: {err}"
        );
    }
    let err = client
        .request(RequestOptions::get("/cgi-bin/x").query("access_token", "mine"))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest { .. }));
    let err = client
        .request(
            RequestOptions::post("/cgi-bin/media/upload").form_file("media", "/no/such/file.jpg"),
        )
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
        "{err}"
    );
    assert!(matches!(
        "BREW".parse::<Method>().unwrap_err().kind(),
        ErrorKind::InvalidRequest { .. }
    ));
    assert_eq!(fake.count("/cgi-bin/x"), 0);
}

#[test]
fn media_upload_from_bytes_and_file_then_download() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let jpeg: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let resp = client
        .request(
            RequestOptions::post("/cgi-bin/media/upload")
                .query("type", "image")
                .form_text("description", "a test")
                .form_bytes("media", "photo.jpg", jpeg.clone()),
        )
        .unwrap();
    let media_id = resp.json().unwrap()["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.json().unwrap()["type"], "image");
    assert_eq!(
        fake.media(&media_id),
        Some(("photo.jpg".to_string(), jpeg.clone()))
    );

    let path = std::env::temp_dir().join(format!("wechat-upload-{}.jpg", std::process::id()));
    std::fs::write(&path, b"\xff\xd8\xff file bytes").unwrap();
    let resp = client
        .request(
            RequestOptions::post("/cgi-bin/media/upload")
                .query("type", "thumb")
                .form_file("media", &path),
        )
        .unwrap();
    let file_id = resp.json().unwrap()["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(&path).unwrap();
    let (name, bytes) = fake.media(&file_id).unwrap();
    assert!(name.starts_with("wechat-upload-"), "{name}");
    assert_eq!(bytes, b"\xff\xd8\xff file bytes");

    let download = client
        .request(RequestOptions::get("/cgi-bin/media/get").query("media_id", &media_id))
        .unwrap();
    assert!(!download.is_json());
    assert_eq!(download.content_type(), Some("image/jpeg"));
    assert_eq!(download.bytes(), &jpeg[..]);
    assert!(download
        .header("content-disposition")
        .unwrap()
        .contains("photo.jpg"));

    let err = client
        .request(RequestOptions::get("/cgi-bin/media/get").query("media_id", "nope"))
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40007));
}

#[test]
fn decodes_into_caller_types() {
    #[derive(serde::Deserialize)]
    struct Echo {
        path: String,
        appid: String,
    }
    let fake = common::fake();
    let echo: Echo = common::direct(&fake)
        .request("/cgi-bin/echo")
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(
        (echo.path.as_str(), echo.appid.as_str()),
        ("/cgi-bin/echo", APPID)
    );
}

#[test]
fn quota_and_other_errcodes_are_not_retried() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/q", 45009, "reach max api daily quota limit", 1);
    let err = client.request("/cgi-bin/q").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Api {
            errcode: 45009,
            errmsg: "reach max api daily quota limit".into(),
            status: 200
        }
    );
    fake.fail_next("/cgi-bin/q", 48001, "api unauthorized", 1);
    assert_eq!(
        client.request("/cgi-bin/q").unwrap_err().errcode(),
        Some(48001)
    );
    assert_eq!(fake.count("/cgi-bin/q"), 2);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

#[test]
fn system_busy_is_retried_a_bounded_number_of_times() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/busy", -1, "system error", 2);
    assert!(client.request("/cgi-bin/busy").is_ok());
    assert_eq!(fake.count("/cgi-bin/busy"), 3);

    fake.fail_next("/cgi-bin/always-busy", -1, "system error", usize::MAX);
    let err = client.request("/cgi-bin/always-busy").unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(fake.count("/cgi-bin/always-busy"), 4, "1 call + 3 retries");
}

#[test]
fn always_40001_fails_after_one_retry_per_token_two_at_most() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/broken", 40001, "invalid credential", usize::MAX);
    let err = client.request("/cgi-bin/broken").unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert!(err.is_token_expired());
    assert_eq!(
        fake.count("/cgi-bin/broken"),
        1 + weixin::TOKEN_RETRIES,
        "one call and two retries"
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        3,
        "one fetch and two refreshes"
    );
}

#[test]
fn invalidated_and_expired_tokens_recover() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let key = TokenKey::access_token(APPID);
    client.request("/cgi-bin/a").unwrap();
    let first = client.token(&key).unwrap();

    fake.invalidate_current(APPID);
    client.request("/cgi-bin/a").unwrap();
    let second = client.token(&key).unwrap();
    assert_ne!(first, second);

    fake.expire_current(APPID);
    client.request("/cgi-bin/a").unwrap();
    assert_ne!(client.token(&key).unwrap(), second);
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    assert_eq!(fake.count("/cgi-bin/a"), 5, "3 successes + 2 rejected");
}

#[test]
fn stable_token_mode() {
    let fake = common::fake();
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake).stable(true))
        .build()
        .unwrap();
    client.request("/cgi-bin/s").unwrap();
    client.request("/cgi-bin/s").unwrap();
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 0);

    // WeChat already rolled the token: a normal call returns the new one and
    // no forced refresh is spent.
    fake.invalidate_current(APPID);
    client.request("/cgi-bin/s").unwrap();
    assert_eq!(fake.count("/cgi-bin/stable_token"), 2);
    assert_eq!(fake.count("/cgi-bin/stable_token#force"), 0);

    // WeChat rejects a token it still hands out: only then force.
    fake.fail_next("/cgi-bin/s", 40001, "invalid credential", 1);
    client.request("/cgi-bin/s").unwrap();
    assert_eq!(fake.count("/cgi-bin/stable_token"), 4);
    assert_eq!(fake.count("/cgi-bin/stable_token#force"), 1);
}

#[test]
fn wrong_secret_is_a_clear_error() {
    let fake = common::fake();
    let client = common::builder(&fake)
        .token_source(weixin::SecretSource::new(APPID, "wrong").base_url(fake.url()))
        .build()
        .unwrap();
    let err = client.request("/cgi-bin/x").unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    assert_eq!(fake.count("/cgi-bin/x"), 0);
}

#[test]
fn per_call_timeout_and_unreachable_hosts() {
    let fake = common::fake();
    let client = common::direct(&fake);
    client.request("/cgi-bin/warm").unwrap();
    fake.delay("/cgi-bin/slow", Duration::from_secs(3));
    let err = client
        .request(RequestOptions::get("/cgi-bin/slow").timeout(Duration::from_millis(200)))
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    let refused = weixin::testing::refused_url().unwrap();
    let err = client
        .request(RequestOptions::get(format!("{refused}/cgi-bin/x")))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
}
