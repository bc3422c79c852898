//! No secret and no token in any Debug or Display output.

use std::time::Duration;

use weixin::testing::{SilentServer, StubServer};
use weixin::{
    Client, ComponentSource, HubSource, MemoryRefreshTokens, RequestOptions, SecretSource,
    TicketType, TokenKey,
};

use crate::common::{self, APPID, SECRET};

const BEARER: &str = "BEARER_hub_secret_987";
const COMPONENT: &str = "wx_component_redaction";
const COMPONENT_SECRET: &str = "COMPONENT_SECRET_redaction_654";
const VERIFY_TICKET: &str = "ticket@@@VERIFY_redaction_321";

/// Everything an error prints: Display, Debug (plain and `{:#?}`) and its sources' Display.
fn printed(err: &weixin::Error) -> Vec<String> {
    let mut out = vec![format!("{err}"), format!("{err:?}"), format!("{err:#?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks {s:?}: {text}");
    }
}

#[test]
fn clients_sources_tokens_and_errors_print_no_secret() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let token = client.token(&TokenKey::access_token(APPID)).unwrap();
    let ticket = client.jsapi_ticket().unwrap();
    let secrets = vec![
        SECRET.to_string(),
        BEARER.to_string(),
        token.expose().to_string(),
        ticket.expose().to_string(),
    ];

    let hub_client = Client::builder()
        .appid(APPID)
        .token_source(HubSource::new("http://127.0.0.1:9").unwrap().bearer(BEARER))
        .build()
        .unwrap();
    let mut shown = vec![
        format!("{client:?}"),
        format!("{hub_client:?}"),
        format!("{:?}", common::secret_source(&fake)),
        format!("{:?}", HubSource::new("http://h").unwrap().bearer(BEARER)),
        format!("{token:?}"),
        format!("{ticket:?}"),
        format!(
            "{:?}",
            RequestOptions::get("/x").query("access_token", token.expose())
        ),
    ];

    // Every error path, with the secrets in play.
    let mut errors = Vec::new();
    fake.fail_next(
        "/cgi-bin/e",
        40001,
        &format!("invalid credential, access_token={} rid: 1", token.expose()),
        3,
    );
    errors.push(client.request("/cgi-bin/e").unwrap_err());
    errors.push(
        Client::builder()
            .appid(APPID)
            .token_source(
                SecretSource::new(APPID, SECRET).base_url(weixin::testing::refused_url().unwrap()),
            )
            .build()
            .unwrap()
            .request("/cgi-bin/x")
            .unwrap_err(),
    );
    let silent = SilentServer::start().unwrap();
    errors.push(
        Client::builder()
            .timeout(Duration::from_millis(300))
            .token_source(SecretSource::new(APPID, SECRET).base_url(silent.url()))
            .build()
            .unwrap()
            .token(&TokenKey::access_token(APPID))
            .unwrap_err(),
    );
    let leaky = format!(r#"{{"errcode":1,"reason":"x","message":"secret={SECRET}"}}"#);
    let stub = StubServer::start(200, "application/json", leaky).unwrap();
    errors.push(
        Client::builder()
            .token_source(HubSource::new(stub.url()).unwrap().bearer(BEARER))
            .build()
            .unwrap()
            .token(&TokenKey::access_token(APPID))
            .unwrap_err(),
    );
    errors.push(
        client
            .request(RequestOptions::get(format!(
                "{}/cgi-bin/x?access_token=inline",
                weixin::testing::refused_url().unwrap()
            )))
            .unwrap_err(),
    );
    errors.push(
        client
            .request(RequestOptions::get("/cgi-bin/x").query("access_token", token.expose()))
            .unwrap_err(),
    );
    // The messages that say where an error came from: a token fetch's
    // context, a busy call's attempts, a transport failure's cause and a
    // timeout's limit, a hub's own error.
    let leaky_token = format!(
        r#"{{"errcode":40125,"errmsg":"invalid appsecret, secret={SECRET} component_appsecret={COMPONENT_SECRET}"}}"#
    );
    let token_stub = StubServer::start(200, "application/json", leaky_token).unwrap();
    errors.push(
        Client::builder()
            .appid(APPID)
            .base_url(token_stub.url())
            .token_source(SecretSource::new(APPID, SECRET))
            .build()
            .unwrap()
            .request("/cgi-bin/x")
            .unwrap_err(),
    );
    errors.push(
        Client::builder()
            .appid(COMPONENT)
            .base_url(token_stub.url())
            .token_source(ComponentSource::new(
                COMPONENT,
                COMPONENT_SECRET,
                |_: &str| Some(VERIFY_TICKET.to_string()),
                MemoryRefreshTokens::new(),
            ))
            .build()
            .unwrap()
            .request(RequestOptions::post(
                "/cgi-bin/component/api_create_preauthcode",
            ))
            .unwrap_err(),
    );
    fake.fail_next(
        "/cgi-bin/ticket/getticket",
        40164,
        &format!(
            "invalid ip, access_token={} ticket={}",
            token.expose(),
            ticket.expose()
        ),
        1,
    );
    errors.push(
        client
            .token(&TokenKey::ticket(APPID, TicketType::WxCard))
            .unwrap_err(),
    );
    fake.fail_next(
        "/cgi-bin/busy",
        -1,
        &format!("system error, access_token={}", token.expose()),
        usize::MAX,
    );
    errors.push(client.request("/cgi-bin/busy").unwrap_err());
    errors.push(
        Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap()
            .request(RequestOptions::get(format!(
                "{}/sns/userinfo?access_token=inline",
                silent.url()
            )))
            .unwrap_err(),
    );
    errors.push(
        client
            .request(RequestOptions::get(format!(
                "https://127.0.0.1:{}/sns/userinfo?access_token=inline",
                fake.port()
            )))
            .unwrap_err(),
    );
    let hub_own = format!(
        r#"{{"errcode":-1,"reason":"store_unavailable","message":"access_token={} secret={SECRET}","http_status":503}}"#,
        token.expose()
    );
    let hub_stub = StubServer::start(200, "application/json", hub_own).unwrap();
    errors.push(
        Client::builder()
            .appid(APPID)
            .token_source(HubSource::new(hub_stub.url()).unwrap().bearer(BEARER))
            .build()
            .unwrap()
            .request("/cgi-bin/x")
            .unwrap_err(),
    );
    shown.extend(errors.iter().flat_map(printed));
    let mut secrets = secrets;
    secrets.push("inline".into());
    secrets.push(COMPONENT_SECRET.into());
    secrets.push(VERIFY_TICKET.into());
    for text in &shown {
        assert_clean("output", text, &secrets);
    }
    // The sweep covers what it means to: each new kind of message is there.
    let all = shown.join("\n");
    for expected in [
        "could not fetch the access_token of",
        "could not fetch the component_access_token of",
        "could not fetch the wx_card ticket of",
        "(after 4 attempts)",
        "the client's timeout of 200ms was reached",
        "failed the tls handshake: tls: ",
        "could not connect: connection refused",
        "store_unavailable",
        "secret=[redacted]",
    ] {
        assert!(all.contains(expected), "{expected:?} not swept:\n{all}");
    }
}

/// Users' logins: the app secret, users' access and refresh tokens and
/// session keys never show, in values, errors or requests' `Debug`.
#[test]
fn logins_print_no_secret_user_token_or_session_key() {
    let fake = common::fake();
    let client = common::builder(&fake).build().unwrap();
    let oauth = weixin::OAuth::new(APPID).secret(SECRET);
    let user = oauth
        .exchange_code(&client, &fake.oauth_code(APPID, "o1"))
        .unwrap();
    let mini = weixin::MiniProgram::new(APPID).secret(SECRET);
    let session = mini
        .code2session(&client, &fake.js_code(APPID, "o1"))
        .unwrap();
    let secrets = vec![
        SECRET.to_string(),
        user.access_token.expose().to_string(),
        user.refresh_token.expose().to_string(),
        session.session_key.expose().to_string(),
    ];
    let mut shown = vec![
        format!("{oauth:?}"),
        format!("{mini:?}"),
        format!("{user:?}"),
        format!("{session:?}"),
        format!(
            "{:?}",
            RequestOptions::get("/x").query("session_key", session.session_key.expose())
        ),
    ];
    shown.extend(fake.received().iter().map(|r| format!("{r:?}")));

    let mut errors = Vec::new();
    // WeChat echoing the request in its errmsg.
    fake.fail_next(
        "/sns/jscode2session",
        40029,
        &format!(
            "invalid code, secret={SECRET} session_key={} rid: 1",
            session.session_key.expose()
        ),
        1,
    );
    errors.push(mini.code2session(&client, "CODE").unwrap_err());
    fake.fail_next(
        "/sns/oauth2/refresh_token",
        40030,
        &format!("invalid refresh_token={}", user.refresh_token.expose()),
        1,
    );
    errors.push(oauth.refresh(&client, &user.refresh_token).unwrap_err());
    // Nobody answers: the URLs held the secret, tokens and code.
    let gone = weixin::Client::builder()
        .host("127.0.0.1")
        .scheme("http")
        .port(common::port_of(&weixin::testing::refused_url().unwrap()))
        .build()
        .unwrap();
    errors.push(oauth.exchange_code(&gone, "CODE").unwrap_err());
    errors.push(oauth.refresh(&gone, &user.refresh_token).unwrap_err());
    errors.push(oauth.check(&gone, &user).unwrap_err());
    errors.push(oauth.user_info(&gone, &user, weixin::Lang::En).unwrap_err());
    errors.push(mini.code2session(&gone, "CODE").unwrap_err());
    #[cfg(feature = "crypto")]
    {
        let (data, iv) = fake
            .encrypted_data(APPID, "o1", serde_json::json!({"a": 1}))
            .unwrap();
        errors.push(
            weixin::MiniProgram::new("wx_other")
                .decrypt_data(&session.session_key, &data, &iv)
                .unwrap_err(),
        );
        let wrong = weixin::Secret::new("AAAAAAAAAAAAAAAAAAAAAA==");
        errors.push(mini.decrypt_data(&wrong, &data, &iv).unwrap_err());
    }
    shown.extend(errors.iter().flat_map(printed));
    for text in &shown {
        assert_clean("output", text, &secrets);
    }
}

/// The `wechat` command line prints no secret, token or ticket in any
/// subcommand's output or error, nor in a batch's results, even when WeChat
/// or a hub echoes one back (the harness checks every run's stdout and
/// stderr for the tests' secrets and anything the fakes minted).
#[cfg(feature = "cli")]
#[test]
fn the_command_line_prints_no_secret_or_token() {
    use crate::cli::{assert_no_secret, temp_file, Cli};
    use weixin::testing::{Canned, FakeHub};

    let fake = common::fake();
    let leaky =
        format!("invalid credential, access_token=TOKEN_{APPID}_9_deadbeef secret={SECRET} rid: 1");
    fake.answer("/cgi-bin/echo", Canned::error(40013, &leaky));
    let code = fake.oauth_code(APPID, "o1");
    // Each with the exit code that shows it did what it is here for.
    let runs: &[(&[&str], i32)] = &[
        (&["token"], 0),
        (&["token", "--refresh", "--ticket", "wx_card"], 0),
        (&["api", "GET", "/cgi-bin/x", "-q", "a=b"], 0),
        (&["api", "GET", "/cgi-bin/echo"], 1),
        (
            &[
                "api",
                "GET",
                "/cgi-bin/x",
                "-q",
                &format!("access_token={SECRET}"),
            ],
            2,
        ),
        (&["quota", "get", "/cgi-bin/x"], 0),
        (&["quota", "clear", "--yes"], 0),
        (&["quota", "rid", "1"], 0),
        (&["sign", "jssdk", "https://example.com/"], 0),
        (&["sign", "card", "--card-id", "c"], 0),
        (&["oauth", "exchange", &code, "--user-info"], 0),
        (&["oauth", "exchange", "unknown-code"], 1),
        (&["callback", "sign", "--timestamp", "1", "--nonce", "n"], 0),
        (
            &[
                "callback",
                "verify",
                "signature=x&timestamp=1&nonce=n&echostr=e",
            ],
            4,
        ),
        (
            &["callback", "decrypt", "msg_signature=x&timestamp=1&nonce=n"],
            4,
        ),
        (&["callback", "encrypt", "--body", "-"], 0),
    ];
    for (args, code) in runs {
        let run = Cli::on(&fake)
            .callback_secrets()
            .args(args.iter().copied())
            .stdin("<xml><ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>")
            .run();
        assert!(!run.stdout.contains("ticket@@@x") && !run.stderr.contains("ticket@@@x"));
        assert_eq!(run.code, Some(*code), "{args:?}: {}", run.stderr);
    }
    // Nobody answers at the base URL: the token URL held the secret.
    let refused = weixin::testing::refused_url().unwrap();
    Cli::on(&fake)
        .env("WECHAT_BASE_URL", &refused)
        .args(["token"])
        .run();
    // A hub that echoes a secret in its error.
    let stub = StubServer::start(
        200,
        "application/json",
        format!(
            r#"{{"errcode":1,"reason":"x","message":"secret={SECRET} secret={}"}}"#,
            crate::cli::BEARER
        ),
    )
    .unwrap();
    Cli::new()
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_HUB", &stub.url())
        .env("WECHAT_HUB_BEARER", crate::cli::BEARER)
        .args(["token"])
        .run();
    // A batch's results hold answers, never the token they were called with.
    let hub = FakeHub::start(common::secret_source(&fake)).unwrap();
    let input = temp_file(
        "calls.jsonl",
        b"{\"id\": 1, \"path\": \"/cgi-bin/x\"}\n{\"id\": 2, \"path\": \"/cgi-bin/echo\"}\n",
    );
    let output = input.with_file_name("results.jsonl");
    let run = Cli::new()
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_HUB", &hub.url())
        .env("WECHAT_BASE_URL", &fake.url())
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_no_secret(&std::fs::read_to_string(&output).unwrap());
}

#[cfg(feature = "crypto")]
#[test]
fn callback_handlers_their_answers_and_pushes_print_no_secret() {
    use std::sync::Arc;

    use weixin::store::MemoryStore;
    use weixin::{CallbackHandler, ComponentPushHandler, Message, MessageCrypto};

    const TOKEN: &str = "CALLBACK_TOKEN_s3cret";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const OLD_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
    let crypto = MessageCrypto::new(TOKEN, KEY, "wx_component")
        .unwrap()
        .previous_key(OLD_KEY)
        .unwrap();
    let handler = CallbackHandler::encrypted(crypto.clone());
    let push = "<xml><AppId>wx_component</AppId><CreateTime>1</CreateTime>\
        <InfoType>authorized</InfoType><AuthorizerAppid>wx_a</AuthorizerAppid>\
        <AuthorizationCode>CODE_s3cret</AuthorizationCode></xml>";
    let body = crypto.encrypt(push, "1", "n").unwrap();
    let signature = Message::parse(&body)
        .unwrap()
        .field("MsgSignature")
        .unwrap()
        .to_string();
    let query = format!("timestamp=1&nonce=n&msg_signature={signature}");
    let client = Client::builder().appid("wx_component").build().unwrap();
    let pushes = ComponentPushHandler::new("wx_component", client, Arc::new(MemoryStore::new()));

    let mut shown = vec![format!("{handler:?}"), format!("{pushes:?}")];
    // A push whose exchange fails (no token source), one refused, one
    // answered with a reply it cannot have.
    let failed = handler.handle("POST", &query, body.as_bytes(), |message| {
        shown.push(format!("{message:?}"));
        pushes.handle(message).map(|()| None)
    });
    let refused = handler.handle("POST", &query.replace("n&", "m&"), body.as_bytes(), |_| {
        Ok(None)
    });
    for response in [failed, refused] {
        shown.push(format!("{response:?}"));
        shown.push(response.body().to_string());
        let error = response.error().expect("an error");
        shown.push(error.to_string());
    }
    let secrets = [TOKEN, KEY, OLD_KEY, "CODE_s3cret"].map(String::from);
    for text in &shown {
        assert_clean("callback output", text, &secrets);
    }
}

#[cfg(feature = "hub")]
#[test]
fn a_hub_server_prints_no_secret() {
    use weixin::hub::{HubHandler, HubServer};
    let handler = HubHandler::builder()
        .account(APPID, SECRET)
        .bearer(BEARER)
        .build()
        .unwrap();
    let server = HubServer::bind("127.0.0.1:0", handler).unwrap();
    let shown = format!("{server:?}");
    assert!(shown.contains("max_connections"), "{shown}");
    assert_clean("HubServer", &shown, &[SECRET.into(), BEARER.into()]);
}

#[cfg(feature = "hub")]
#[test]
fn a_hubs_quota_clear_and_rebuild_answers_print_no_secret() {
    use weixin::hub::{HubHandler, HubRequest};
    let fake = common::fake();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .clear_quota(true)
        .refresh_ahead(None)
        .build()
        .unwrap();
    let target = format!("/client/access_token?appid={APPID}");
    // 45009, then a clear_quota that fails: the answer (the quota used
    // up), the status page (the clear's failure) and the hub's Debug name
    // no secret.
    fake.fail_next(
        "/cgi-bin/token",
        45009,
        "reach max api daily quota limit",
        1,
    );
    fake.fail_next("/cgi-bin/clear_quota/v2", 48006, "forbid to clear quota", 1);
    let failed = hub.handle(&HubRequest::new("GET", &target));
    let used_up = String::from_utf8_lossy(&failed.body).into_owned();
    assert!(used_up.contains("quota_exhausted"), "{used_up}");
    assert_eq!(fake.count("/cgi-bin/clear_quota/v2"), 1);
    let status = hub.handle(&HubRequest::new("GET", "/status"));
    let text = String::from_utf8_lossy(&status.body).into_owned();
    assert!(text.contains("48006"), "{text}");
    for (what, shown) in [
        ("clear failed", &text),
        ("quota used up", &used_up),
        ("hub", &format!("{hub:?}")),
    ] {
        assert_clean(what, shown, &[SECRET.into()]);
    }
}

/// API security (feature `api-security`): the symmetric key, the private
/// key and the platform's private key never show, in the keys' `Debug`, a
/// client's, the fake's, errors of bad keys or of refused answers.
#[cfg(feature = "api-security")]
#[test]
fn api_security_keys_print_nowhere() {
    use crate::api_security::{client_keys, fake_keys, v};
    use weixin::testing::Tamper;
    use weixin::ApiSecurity;

    // Every line of base64 inside the PEMs, and the symmetric key.
    let mut secrets: Vec<String> = vec![v("sym_key")];
    for pem in [
        v("app_private_key"),
        v("platform_private_key"),
        v("platform2_private_key"),
    ] {
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string),
        );
    }
    let fake = common::fake();
    let fake_keys = fake_keys();
    let mut shown = vec![format!("{fake_keys:?}"), format!("{:?}", client_keys())];
    fake.secure_account(APPID, fake_keys);
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake))
        .api_security(client_keys())
        .build()
        .unwrap();
    shown.push(format!("{client:?}"));
    shown.push(format!("{client:#?}"));
    let mut errors = Vec::new();
    fake.tamper_secured(Some(Tamper::Certificate(v("platform2_private_key"))));
    errors.push(
        client
            .request(RequestOptions::post("/wxa/msg_sec_check").json(serde_json::json!({})))
            .unwrap_err(),
    );
    fake.tamper_secured(Some(Tamper::Aad));
    errors.push(
        client
            .request(RequestOptions::post("/wxa/msg_sec_check").json(serde_json::json!({})))
            .unwrap_err(),
    );
    // Keys that do not read: a broken private key, a key of the wrong size.
    let private = v("app_private_key");
    let broken = private.replacen("MII", "MIX", 1);
    errors.push(ApiSecurity::new("sn", &v("sym_key"), "rsa", &broken).unwrap_err());
    errors.push(ApiSecurity::new("sn", &v("sym_key")[4..], "rsa", &private).unwrap_err());
    errors.push(
        client_keys()
            .platform_certificate("sn2", &private)
            .unwrap_err(),
    );
    shown.extend(errors.iter().flat_map(printed));
    for text in &shown {
        assert_clean("api security output", text, &secrets);
    }
    let all = shown.join("\n");
    for expected in [
        "sym_key: [redacted]",
        "private_key: [redacted]",
        "secured answer rejected: signature does not match",
        "secured answer rejected: could not be decrypted",
        "the api security private key is not an RSA private key (2048 to 4096 bits) in PEM",
        "the api security symmetric key is not base64 of 32 bytes",
        "the platform certificate is not an RSA certificate in PEM",
    ] {
        assert!(all.contains(expected), "{expected:?} not swept:\n{all}");
    }
}
