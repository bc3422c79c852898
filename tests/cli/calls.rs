//! `token`, `api`, `quota`, `sign` and `oauth` against the fake WeChat and
//! the fake hub.

use serde_json::json;
use weixin::testing::{Canned, FakeHub};
use weixin::{OAuth, Scope};

use super::{temp_dir, temp_file, text, Cli, BEARER};
use crate::common::{self, APPID};

#[path = "../../src/bin/wechat/time.rs"]
mod time;

/// Whether `stdout` is `wechat token`'s description of a token of
/// `lifetime` seconds obtained, and described, between `before` and
/// `after` (Unix seconds read by the test around the run).
fn describes(stdout: &str, first_line: &str, lifetime: u64, before: u64, after: u64) -> bool {
    (before..=after).any(|obtained| {
        (obtained..=after).any(|now| {
            stdout
                == format!(
                    "{first_line}\nobtained  {} ({} s ago)\nexpires   {} (in {} s)\n",
                    time::utc(obtained),
                    now - obtained,
                    time::utc(obtained + lifetime),
                    obtained + lifetime - now,
                )
        })
    })
}

#[test]
fn token_shows_age_and_expiry_never_the_value() {
    let fake = common::fake();
    let before = time::unix_now();
    let run = Cli::on(&fake).args(["token"]).run();
    let after = time::unix_now();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert!(
        describes(
            &run.stdout,
            "access_token of wx_test_app",
            7200,
            before,
            after
        ),
        "{}",
        run.stdout
    );
    // The stable_token lineage, which leaves servers' /cgi-bin/token alone.
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 0);

    let run = Cli::on(&fake).args(["token", "--ticket", "jsapi"]).run();
    assert!(
        describes(
            &run.stdout,
            "jsapi ticket of wx_test_app",
            7200,
            before,
            time::unix_now()
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn token_value_only_when_asked_alone_on_stdout() {
    let fake = common::fake();
    let run = Cli::on(&fake).args(["token", "--show"]).reveals().run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let token = run.stdout.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("STABLE_wx_test_app_") && !token.contains('\n'),
        "{token}"
    );

    // It works when piped into a call of one's own.
    let run = Cli::on(&fake)
        .args(["api", "GET", "/cgi-bin/mine", "--no-token", "--compact"])
        .args(["-q", &format!("access_token={token}")])
        .reveals()
        .run();
    run.expect(
        0,
        "{\"appid\":\"wx_test_app\",\"errcode\":0,\"errmsg\":\"ok\",\"json\":null,\"method\":\"GET\",\"path\":\"/cgi-bin/mine\",\"query\":{}}\n",
        "",
    );
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
}

#[test]
fn token_refresh_replaces_the_token_and_warns() {
    let fake = common::fake();
    let run = Cli::on(&fake)
        .args(["token", "--refresh", "--show"])
        .reveals()
        .run();
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            Some(0),
            "wechat: warning: forcing a new access token of wx_test_app from /cgi-bin/stable_token \
             (force_refresh): the token every server of the account got there stops working now\n"
        )
    );
    assert_eq!(
        (
            fake.count("/cgi-bin/stable_token"),
            fake.count("/cgi-bin/stable_token#force")
        ),
        (3, 1),
        "the current one, the same again in normal mode, then a forced one"
    );
    assert_eq!(fake.count("/cgi-bin/token"), 0);

    // The classic endpoint, on request: a warning for each fetch.
    let run = Cli::on(&fake)
        .args(["--classic-token", "token", "--refresh"])
        .run();
    let warning =
        "wechat: warning: fetching a new access token of wx_test_app from /cgi-bin/token: \
                   the token every server of the account got there stops working in 5 minutes, \
                   and the call counts against the daily quota\n";
    assert_eq!(
        (run.code, run.stderr),
        (Some(0), format!("{warning}{warning}"))
    );
    assert_eq!(fake.count("/cgi-bin/token"), 2);

    // Through a hub the refresh is the hub's: one refresh, compare-and-swap.
    let hub = FakeHub::start_with_bearer(common::secret_source(&fake), BEARER).unwrap();
    let run = Cli::new()
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_HUB", &hub.url())
        .env("WECHAT_HUB_BEARER", BEARER)
        .args(["token", "--refresh"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(hub.count("/client/access_token"), 1);
    assert_eq!(hub.count("/refresh/access_token"), 1);
    assert_eq!(
        fake.count("/cgi-bin/token"),
        4,
        "the hub's fetch and refresh"
    );
}

#[test]
fn token_through_a_hub_needs_its_bearer() {
    let fake = common::fake();
    let hub = FakeHub::start_with_bearer(common::secret_source(&fake), BEARER).unwrap();
    let hub_cli = || {
        Cli::new()
            .env("WECHAT_APPID", APPID)
            .args(["--hub", &hub.url(), "token"])
    };
    hub_cli().env("WECHAT_HUB_BEARER", "wrong").run().expect(
        1,
        "",
        "wechat: could not fetch the access_token of wx_test_app from the hub source: \
         hub error (http 401, errcode 401) unauthorized: missing or wrong bearer secret\n",
    );
    let run = hub_cli().env("WECHAT_HUB_BEARER", BEARER).run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

/// Several hubs, from `--hub` or a profile's list: a hub that refuses the
/// connection is passed over for the next.
#[test]
fn token_from_the_next_hub_when_one_is_unreachable() {
    let fake = common::fake();
    let hub = FakeHub::start(common::secret_source(&fake)).unwrap();
    let refused = weixin::testing::refused_url().unwrap();
    let run = Cli::new()
        .env("WECHAT_APPID", APPID)
        .args(["--hub", &format!("{refused}, {}", hub.url()), "token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(hub.count("/client/access_token"), 1);

    let config = temp_file(
        "hubs.toml",
        format!(
            "[profile.hubs]\nappid = \"{APPID}\"\nhub = [\"{refused}\", \"{}\"]\n",
            hub.url()
        )
        .as_bytes(),
    );
    let run = Cli::new()
        .args(["--config", &text(&config), "--profile", "hubs", "token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(hub.count("/client/access_token"), 2);
    assert_eq!(fake.count("/cgi-bin/token"), 1, "the hub's one fetch");
}

#[test]
fn token_needs_an_appid_and_a_source() {
    Cli::new().args(["token"]).run().expect(
        2,
        "",
        "wechat: no appid: pass --appid or set $WECHAT_APPID\n",
    );
    Cli::new().args(["--appid", APPID, "token"]).run().expect(
        2,
        "",
        "wechat: invalid configuration: a token is needed but the client has no token source\n\
         wechat: tokens come from a hub (--hub, $WECHAT_HUB) or the app secret ($WECHAT_SECRET, --secret-file): see wechat --help\n",
    );
}

#[test]
fn api_calls_with_query_and_json_from_argument_file_or_stdin() {
    let fake = common::fake();
    let echo = |method: &str, query: serde_json::Value, body: serde_json::Value| {
        format!(
            "{:#}\n",
            json!({"appid": APPID, "errcode": 0, "errmsg": "ok", "json": body,
                   "method": method, "path": "/cgi-bin/x", "query": query})
        )
    };
    Cli::on(&fake)
        .args([
            "api",
            "GET",
            "/cgi-bin/x",
            "-q",
            "a=1",
            "--query",
            "b=two words",
        ])
        .run()
        .expect(
            0,
            &echo("GET", json!({"a": "1", "b": "two words"}), json!(null)),
            "",
        );
    Cli::on(&fake)
        .args(["api", "post", "/cgi-bin/x", "-d", r#"{"touser": "o1"}"#])
        .run()
        .expect(0, &echo("POST", json!({}), json!({"touser": "o1"})), "");
    let file = temp_file("body.json", br#"{"from": "file"}"#);
    Cli::on(&fake)
        .args([
            "api",
            "POST",
            "/cgi-bin/x",
            "-d",
            &format!("@{}", text(&file)),
        ])
        .run()
        .expect(0, &echo("POST", json!({}), json!({"from": "file"})), "");
    Cli::on(&fake)
        .args(["api", "POST", "/cgi-bin/x", "--json", "@-", "--compact"])
        .stdin(r#"{"from": "stdin"}"#)
        .run()
        .expect(
            0,
            &format!(
                "{}\n",
                serde_json::from_str::<serde_json::Value>(&echo(
                    "POST",
                    json!({}),
                    json!({"from": "stdin"})
                ))
                .unwrap()
            ),
            "",
        );
    // No cache directory in these runs (no HOME): one stable_token call a
    // run, and the token servers got from /cgi-bin/token left alone.
    assert_eq!(fake.count("/cgi-bin/stable_token"), 4, "one per run");
    assert_eq!(fake.count("/cgi-bin/token"), 0);
    Cli::on(&fake)
        .args(["api", "POST", "/cgi-bin/x", "-d", "{oops"])
        .run()
        .expect(
            2,
            "",
            "wechat: the body is not JSON: key must be a string at line 1 column 2\n",
        );
    assert_eq!(fake.count("/cgi-bin/x"), 4, "nothing sent");
}

#[test]
fn api_uploads_a_file_and_writes_a_binary_answer_to_a_file() {
    let fake = common::fake();
    let image = temp_file("photo.jpg", b"\xff\xd8\xff\xe0 a jpeg");
    let run = Cli::on(&fake)
        .args([
            "api",
            "POST",
            "/cgi-bin/media/upload",
            "-q",
            "type=image",
            "--compact",
        ])
        .args(["-F", &format!("media=@{}", text(&image))])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let media_id = answer["media_id"].as_str().expect("a media id");
    assert_eq!(
        fake.media(media_id),
        Some(("photo.jpg".to_string(), b"\xff\xd8\xff\xe0 a jpeg".to_vec()))
    );

    let saved = temp_dir("download").join("got.jpg");
    let download = || {
        Cli::on(&fake).args([
            "api",
            "GET",
            "/cgi-bin/media/get",
            "-q",
            &format!("media_id={media_id}"),
        ])
    };
    download().args(["-o", &text(&saved)]).run().expect(
        0,
        "",
        &format!("wechat: wrote 11 bytes (image/jpeg) to {}\n", text(&saved)),
    );
    assert_eq!(std::fs::read(&saved).unwrap(), b"\xff\xd8\xff\xe0 a jpeg");
    // Into a pipe (not a terminal), the bytes go to stdout.
    let run = download().run();
    assert_eq!(run.code, Some(0));
    assert_eq!(
        run.stdout.as_bytes(),
        "\u{fffd}\u{fffd}\u{fffd}\u{fffd} a jpeg".as_bytes()
    );
}

#[test]
fn api_errors_say_the_errcode_with_the_hint_and_the_rid() {
    let fake = common::fake();
    fake.fail_next(
        "/cgi-bin/message/custom/send",
        45009,
        "reach max api daily quota limit rid: 6630f0a6-1a2b3c4d-5e6f7a8b",
        1,
    );
    Cli::on(&fake)
        .args(["api", "POST", "/cgi-bin/message/custom/send", "-d", "{}"])
        .run()
        .expect(
            1,
            "",
            "wechat: POST /cgi-bin/message/custom/send for wx_test_app: \
             wechat api error 45009: reach max api daily quota limit rid: 6630f0a6-1a2b3c4d-5e6f7a8b \
             (the daily quota of this API is used up; do not retry today)\n\
             wechat: what this request was: wechat quota rid 6630f0a6-1a2b3c4d-5e6f7a8b\n",
        );
    // A token WeChat rejects is refreshed and the call retried, as the SDK
    // does; its warning (a token rejected as soon as fetched is usually
    // another process's doing) shows.
    fake.fail_next("/cgi-bin/y", 40001, "invalid credential", 1);
    let run = Cli::on(&fake).args(["api", "GET", "/cgi-bin/y"]).run();
    assert_eq!(run.code, Some(0));
    assert!(
        run.stderr
            .starts_with("wechat: warning: token for AccessToken(wx_test_app) rejected ")
            && run.stderr.ends_with(
                "let every process get its token from one hub (wechat-hub, HubSource)\n"
            )
            && run.stderr.lines().count() == 1,
        "{}",
        run.stderr
    );
    // A fetch a run, then for the rejected token the same one again in
    // normal mode and a forced new one.
    assert_eq!(fake.count("/cgi-bin/stable_token"), 4);
    assert_eq!(fake.count("/cgi-bin/stable_token#force"), 1);

    let refused = weixin::testing::refused_url().unwrap();
    Cli::on(&fake)
        .env("WECHAT_BASE_URL", &refused)
        .args(["api", "GET", "/cgi-bin/y"])
        .run()
        .expect(
            3,
            "",
            &format!(
                "wechat: GET /cgi-bin/y for wx_test_app: \
                 could not fetch the access_token of wx_test_app from the direct source: \
                 request to {refused}/cgi-bin/stable_token could not connect: connection refused\n"
            ),
        );
    let run = Cli::on(&fake).args(["api", "FETCH", "/cgi-bin/y"]).run();
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.starts_with(
            "error: invalid value 'FETCH' for '<METHOD>': invalid request: unknown http method \"FETCH\""
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn quota_get_clear_and_rid() {
    let fake = common::fake();
    fake.answer(
        "/cgi-bin/openapi/quota/get",
        Canned::json(json!({"errcode": 0, "errmsg": "ok", "quota": {"daily_limit": 10000000, "used": 500, "remain": 9999500}})),
    );
    Cli::on(&fake)
        .args(["quota", "get", "/cgi-bin/message/custom/send"])
        .run()
        .expect(
            0,
            "{\n  \"errcode\": 0,\n  \"errmsg\": \"ok\",\n  \"quota\": {\n    \"daily_limit\": 10000000,\n    \"remain\": 9999500,\n    \"used\": 500\n  }\n}\n",
            "",
        );
    assert_eq!(
        fake.last_request("/cgi-bin/openapi/quota/get")
            .unwrap()
            .json,
        Some(json!({"cgi_path": "/cgi-bin/message/custom/send"}))
    );

    let prompt = "wechat: clear the API quota of wx_test_app? It uses one of the account's 10 clears this month. [y/N] \n";
    Cli::on(&fake)
        .args(["quota", "clear"])
        .stdin("n\n")
        .run()
        .expect(
            2,
            "",
            &format!("{prompt}wechat: not confirmed: nothing cleared\n"),
        );
    Cli::on(&fake).args(["quota", "clear"]).run().expect(
        2,
        "",
        &format!("{prompt}wechat: not confirmed: nothing cleared\n"),
    );
    assert_eq!(fake.count("/cgi-bin/clear_quota"), 0);
    Cli::on(&fake)
        .args(["quota", "clear"])
        .stdin("y\n")
        .run()
        .expect(0, "cleared the API quota of wx_test_app\n", prompt);
    Cli::on(&fake)
        .args(["quota", "clear", "--yes"])
        .run()
        .expect(0, "cleared the API quota of wx_test_app\n", "");
    let cleared = fake.received_on("/cgi-bin/clear_quota");
    assert_eq!(cleared.len(), 2);
    assert_eq!(cleared[1].json, Some(json!({"appid": APPID})));

    fake.answer(
        "/cgi-bin/openapi/rid/get",
        Canned::json(json!({"errcode": 0, "errmsg": "ok", "request": {"invoke_time": 1635156704, "cost_in_ms": 30, "request_url": "access_token=x&msgtype=text"}})),
    );
    let run = Cli::on(&fake)
        .args(["quota", "rid", "6630f0a6-1a2b", "--compact"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert!(run
        .stdout
        .starts_with("{\"errcode\":0,\"errmsg\":\"ok\",\"request\":{\"cost_in_ms\":30,"));
    assert_eq!(
        fake.last_request("/cgi-bin/openapi/rid/get").unwrap().json,
        Some(json!({"rid": "6630f0a6-1a2b"}))
    );
}

#[test]
fn sign_jssdk_and_card_with_the_fetched_tickets() {
    let fake = common::fake();
    // The fake hands every caller the account's live ticket.
    let client = common::direct(&fake);
    let jsapi = client.jsapi_ticket().unwrap();
    let card = client.card_ticket().unwrap();
    let url = "https://example.com/page?a=1";

    let signature = weixin::sign_jssdk_with(jsapi.expose(), url, "Wm3WZYTPz0wzccnW", 1414587457);
    Cli::on(&fake)
        .args(["sign", "jssdk", &format!("{url}#frag"), "--timestamp", "1414587457"])
        .args(["--nonce", "Wm3WZYTPz0wzccnW"])
        .run()
        .expect(
            0,
            &format!("{{\n  \"appId\": \"wx_test_app\",\n  \"nonceStr\": \"Wm3WZYTPz0wzccnW\",\n  \"signature\": \"{signature}\",\n  \"timestamp\": 1414587457\n}}\n"),
            "",
        );
    let run = Cli::on(&fake).args(["sign", "jssdk", url]).run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let config: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        config["signature"],
        weixin::sign_jssdk_with(
            jsapi.expose(),
            url,
            config["nonceStr"].as_str().unwrap(),
            config["timestamp"].as_u64().unwrap()
        )
    );

    let signature = weixin::sign_card(&[card.expose(), "1404896688", "n0nce", "pCARD", "o_alice"]);
    let ext = format!(
        "{{\\\"nonce_str\\\":\\\"n0nce\\\",\\\"openid\\\":\\\"o_alice\\\",\\\"signature\\\":\\\"{signature}\\\",\\\"timestamp\\\":\\\"1404896688\\\"}}"
    );
    Cli::on(&fake)
        .args(["sign", "card", "--card-id", "pCARD", "--openid", "o_alice"])
        .args(["--timestamp", "1404896688", "--nonce", "n0nce", "--compact"])
        .run()
        .expect(
            0,
            &format!("{{\"cardExt\":\"{ext}\",\"cardId\":\"pCARD\"}}\n"),
            "",
        );
}

#[test]
fn oauth_url_and_code_exchange() {
    let fake = common::fake();
    let expected = OAuth::new(APPID)
        .authorize_url("https://example.com/back", Scope::UserInfo, "xyz")
        .unwrap();
    Cli::on(&fake)
        .args([
            "oauth",
            "url",
            "https://example.com/back",
            "--scope",
            "userinfo",
            "--state",
            "xyz",
        ])
        .run()
        .expect(0, &format!("{expected}\n"), "");
    let expected = OAuth::new(APPID)
        .qrconnect_url("https://example.com/login", "")
        .unwrap();
    Cli::on(&fake)
        .args([
            "oauth",
            "url",
            "https://example.com/login",
            "--scope",
            "login",
        ])
        .run()
        .expect(0, &format!("{expected}\n"), "");

    let code = fake.oauth_code(APPID, "o_alice");
    let run = Cli::on(&fake)
        .args([
            "oauth",
            "exchange",
            &code,
            "--user-info",
            "--lang",
            "en",
            "--compact",
        ])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let user: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let obtained_at = user["obtained_at"].as_u64().unwrap();
    assert_eq!(
        run.stdout,
        format!(
            "{}\n",
            json!({"expires_in": 7200, "is_snapshot_user": false, "obtained_at": obtained_at,
                   "openid": "o_alice", "scope": "snsapi_userinfo", "unionid": null,
                   "user_info": {"city": "", "country": "", "headimgurl": "", "nickname": "nickname of o_alice",
                                 "openid": "o_alice", "privilege": [], "province": "", "sex": 0, "unionid": null}})
        )
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        0,
        "a login needs no account token"
    );
    Cli::on(&fake).args(["oauth", "exchange", &code]).run().expect(
        1,
        "",
        "wechat: GET /sns/oauth2/access_token for wx_test_app: \
         wechat api error 40163: code been used (the code was already used: each login code works once)\n",
    );

    let run = Cli::on(&fake)
        .args([
            "oauth",
            "exchange",
            &fake.oauth_code(APPID, "o_bob"),
            "--show-tokens",
        ])
        .reveals()
        .run();
    let user: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(user["access_token"]
        .as_str()
        .unwrap()
        .starts_with("USER_wx_test_app_"));
    assert!(user["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("USER_REFRESH_wx_test_app_"));

    Cli::on(&fake)
        .env("WECHAT_SECRET", "")
        .args(["oauth", "exchange", "c0de"])
        .run()
        .expect(2, "", "wechat: no app secret: set $WECHAT_SECRET\n");
}

#[test]
fn authorizers_of_a_platform_through_a_hub() {
    use std::sync::Arc;
    use weixin::{ComponentSource, MemoryRefreshTokens, MemoryVerifyTickets, RefreshTokenStore};

    let fake = weixin::testing::FakeWechat::start().unwrap();
    fake.register_component("wx_component_1", "COMPONENT_SECRET_abc");
    fake.push_verify_ticket("wx_component_1", "ticket@@@1");
    let tickets = Arc::new(MemoryVerifyTickets::new());
    tickets.set("wx_component_1", "ticket@@@1");
    let store = Arc::new(MemoryRefreshTokens::new());
    let refresh = fake.add_authorizer("wx_component_1", "wx_authorizer_a");
    store
        .save(
            "wx_component_1",
            "wx_authorizer_a",
            &weixin::Secret::new(refresh),
        )
        .unwrap();
    let source = ComponentSource::new("wx_component_1", "COMPONENT_SECRET_abc", tickets, store)
        .base_url(fake.url());
    let hub = FakeHub::start(source).unwrap();
    let cli = || {
        Cli::new()
            .env("WECHAT_APPID", "wx_component_1")
            .env("WECHAT_HUB", &hub.url())
            .env("WECHAT_BASE_URL", &fake.url())
    };
    cli()
        .args(["api", "GET", "/cgi-bin/x", "--authorizer", "wx_authorizer_a", "--compact"])
        .run()
        .expect(
            0,
            "{\"appid\":\"wx_authorizer_a\",\"errcode\":0,\"errmsg\":\"ok\",\"json\":null,\"method\":\"GET\",\"path\":\"/cgi-bin/x\",\"query\":{}}\n",
            "",
        );
    let run = cli()
        .args(["token", "--authorizer", "wx_authorizer_a"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert!(
        run.stdout
            .starts_with("access_token of wx_authorizer_a (authorizer of wx_component_1)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(fake.authorizer_token_calls("wx_authorizer_a"), 1);
}

/// `wechat api --secure`: signed and encrypted with the keys of the
/// environment, then of a profile; the fake decrypts the body given.
#[test]
fn api_secure_signs_and_encrypts_with_the_profile_keys() {
    use crate::api_security::{fake_keys, v};

    let fake = common::fake();
    fake.secure_account(APPID, fake_keys());
    let dir = temp_dir("cli-api-secure");
    let private = dir.join("private.pem");
    let cert = dir.join("platform.pem");
    std::fs::write(&private, v("app_private_key")).unwrap();
    std::fs::write(&cert, v("platform_certificate")).unwrap();
    let call = [
        "api",
        "POST",
        "/wxa/msg_sec_check",
        "-d",
        r#"{"content":"hi"}"#,
        "--compact",
    ];
    let run = Cli::on(&fake)
        .env("WECHAT_API_SYM_SN", &v("sym_sn"))
        .env("WECHAT_API_SYM_KEY", &v("sym_key"))
        .env("WECHAT_API_RSA_SN", &v("rsa_sn"))
        .env("WECHAT_API_RSA_KEY_FILE", &text(&private))
        .env("WECHAT_API_CERT_SN", &v("cert_sn"))
        .env("WECHAT_API_CERT_FILE", &text(&cert))
        .args(call)
        .args(["--secure"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert!(
        run.stdout.contains(r#""json":{"content":"hi"}"#),
        "{}",
        run.stdout
    );
    assert_eq!(
        fake.secured_requests("/wxa/msg_sec_check"),
        [json!({"content": "hi"})]
    );

    // The same from a profile; the symmetric key from a variable it names.
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profile.mini]\nappid = \"{APPID}\"\nbase_url = \"{}\"\napi_sym_sn = \"{}\"\n\
             api_sym_key_env = \"MY_SYM_KEY\"\napi_rsa_sn = \"{}\"\napi_rsa_key_file = \"{}\"\n\
             api_cert_sn = \"{}\"\napi_cert_file = \"{}\"\n",
            fake.url(),
            v("sym_sn"),
            v("rsa_sn"),
            text(&private),
            v("cert_sn"),
            text(&cert),
        ),
    )
    .unwrap();
    let run = Cli::new()
        .env("WECHAT_SECRET", crate::common::SECRET)
        .env("MY_SYM_KEY", &v("sym_key"))
        .args(["--config", &text(&config), "--profile", "mini"])
        .args(call)
        .args(["--secure"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.secured_requests("/wxa/msg_sec_check").len(), 2);

    // Without keys: a usage error naming what is missing, nothing sent.
    let run = Cli::on(&fake).args(call).args(["--secure"]).run();
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("WECHAT_API_SYM_KEY"), "{}", run.stderr);
    assert_eq!(fake.count("/wxa/msg_sec_check"), 2);
}

#[test]
fn calls_go_through_a_proxy_and_https_proxy_only_when_asked() {
    let fake = common::fake();
    let proxy = weixin::testing::ConnectProxy::start().unwrap();
    let api = |cli: Cli| {
        let run = cli.args(["api", "GET", "/cgi-bin/x"]).run();
        assert_eq!(run.code, Some(0), "{run:?}");
        run
    };
    // Without the opt-in, HTTPS_PROXY is not read.
    api(Cli::on(&fake).env("HTTPS_PROXY", &proxy.url()));
    assert_eq!(proxy.tunnels().len(), 0);
    api(Cli::on(&fake)
        .env("HTTPS_PROXY", &proxy.url())
        .args(["--proxy-from-env"]));
    // The token fetch and the call, each on a connection of its own.
    let through: Vec<_> = proxy
        .tunnels()
        .into_iter()
        .map(|t| t.first_request)
        .collect();
    assert_eq!(
        through,
        vec![
            Some("POST /cgi-bin/stable_token".to_string()),
            Some("GET /cgi-bin/x".to_string())
        ]
    );
    // $WECHAT_PROXY with credentials: used, never printed.
    let guarded = weixin::testing::ConnectProxy::start_with_login("me", "Pr0xy_pw_9").unwrap();
    let url = guarded.url().replace("http://", "http://me:Pr0xy_pw_9@");
    let run = api(Cli::on(&fake).env("WECHAT_PROXY", &url));
    assert_eq!(guarded.tunnels().len(), 2);
    let wrong = guarded.url().replace("http://", "http://me:Wr0ng_pw_9@");
    let run_wrong = Cli::on(&fake)
        .env("WECHAT_PROXY", &wrong)
        .args(["api", "GET", "/cgi-bin/x"])
        .run();
    assert_eq!(run_wrong.code, Some(3), "a network failure: {run_wrong:?}");
    assert!(
        run_wrong.stderr.contains("it answered 407"),
        "{run_wrong:?}"
    );
    for out in [run.stdout, run.stderr, run_wrong.stdout, run_wrong.stderr] {
        assert!(!out.contains("pw_9"), "{out}");
    }
}
