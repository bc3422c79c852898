//! Errors that say where they came from: the call they were raised in
//! (method, path, appid, authorizer), the token fetch (token, appid, kind of
//! source), a transport failure's cause, a timeout's limit, the attempts a
//! busy call made, and a hub's own errors apart from WeChat's errcodes.

use std::sync::Arc;
use std::time::Duration;

use weixin::testing::{FakeWechat, SilentServer, StubServer};
use weixin::{
    BusyRetry, Client, ComponentSource, ErrorKind, HubSource, MemoryRefreshTokens,
    MemoryVerifyTickets, RequestOptions, SecretSource, SourceKind, TicketType, TokenKey,
    TransportKind,
};

use crate::common::{self, APPID, SECRET};

const COMPONENT: &str = "wx_component_err";
const AUTHORIZER: &str = "wx_authorizer_err";

/// A client of the fake whose secret the fake does not know.
fn wrong_secret(fake: &FakeWechat) -> Client {
    Client::builder()
        .appid(APPID)
        .base_url(fake.url())
        .token_source(SecretSource::new(APPID, "not-the-secret"))
        .build()
        .unwrap()
}

#[test]
fn a_wrong_secret_names_the_call_then_the_token_fetch() {
    let fake = common::fake();
    let client = wrong_secret(&fake);
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET /cgi-bin/user/get for {APPID}: \
             could not fetch the access_token of {APPID} from the direct source: \
             wechat api error 40125: invalid appsecret (the appsecret is wrong)"
        )
    );
    assert_eq!(err.call().unwrap().path(), "/cgi-bin/user/get");
    // The kind is still WeChat's answer, matched as before.
    assert_eq!(err.errcode(), Some(40125));
    let fetch = err.token_fetch().unwrap();
    assert_eq!(
        (
            fetch.appid(),
            fetch.authorizer_appid(),
            fetch.source(),
            fetch.is_refresh()
        ),
        (APPID, None, SourceKind::Direct, false)
    );
    assert_eq!(fake.count("/cgi-bin/user/get"), 0);
}

/// What `fn main() -> Result<(), Box<dyn Error>>` prints on an `Err` is the
/// error's `Debug`: it must read as `Display` does, hint included.
#[test]
fn main_prints_a_wrong_secrets_message_and_hint() {
    let fake = common::fake();
    let client = wrong_secret(&fake);
    let main = || -> Result<(), Box<dyn std::error::Error>> {
        client.request("/cgi-bin/user/get")?;
        Ok(())
    };
    let err = main().unwrap_err();
    let printed = format!("{err:?}");
    assert_eq!(
        printed,
        format!(
            "GET /cgi-bin/user/get for {APPID}: \
             could not fetch the access_token of {APPID} from the direct source: \
             wechat api error 40125: invalid appsecret (the appsecret is wrong)"
        )
    );
    assert_eq!(printed, err.to_string());
    // The field-by-field dump is still there for whoever asks for it, and
    // neither shows the secret that was sent.
    let dump = format!("{err:#?}");
    assert!(dump.contains("errcode: 40125"), "{dump}");
    for shown in [&printed, &dump] {
        assert!(!shown.contains("not-the-secret"), "{shown}");
    }
}

#[test]
fn a_ticket_whose_access_token_fails_names_the_access_token() {
    let fake = common::fake();
    let client = wrong_secret(&fake);
    let err = client
        .token(&TokenKey::ticket(APPID, TicketType::Jsapi))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("could not fetch the access_token of {APPID} from the direct source: wechat api error 40125")),
        "{err}"
    );
    // WeChat rejecting the ticket call itself names the ticket.
    fake.register(APPID, SECRET);
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/ticket/getticket", 40164, "invalid ip 1.2.3.4", 1);
    let err = client
        .token(&TokenKey::ticket(APPID, TicketType::Jsapi))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "could not fetch the jsapi ticket of {APPID} from the direct source: \
             wechat api error 40164: invalid ip 1.2.3.4 (this machine's IP is not on the account's IP \
             allow-list: add it there, or send calls through an allow-listed proxy \
             (ClientBuilder::proxy, `proxy` in hub.toml or a CLI profile))"
        )
    );
}

#[test]
fn a_failed_refresh_says_it_was_a_refresh() {
    let fake = common::fake();
    let client = common::direct(&fake);
    client.request("/cgi-bin/a").unwrap();
    // The secret was reset on the platform: the rejected token cannot be
    // replaced.
    fake.register(APPID, "reset-secret");
    fake.invalidate_current(APPID);
    let err = client.request("/cgi-bin/a").unwrap_err();
    let fetch = err.token_fetch().unwrap();
    assert!(fetch.is_refresh());
    assert!(
        err.to_string()
            .starts_with(&format!("GET /cgi-bin/a for {APPID}: could not refresh the access_token of {APPID} from the direct source: wechat api error 40125")),
        "{err}"
    );
}

#[test]
fn an_error_of_the_call_itself_names_no_fetch() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/q", 45009, "reach max api daily quota limit", 1);
    let err = client.request("/cgi-bin/q").unwrap_err();
    assert!(err.token_fetch().is_none());
    assert!(
        err.to_string().starts_with(&format!(
            "GET /cgi-bin/q for {APPID}: wechat api error 45009"
        )),
        "{err}"
    );
}

#[test]
fn component_fetches_name_the_platform_and_the_authorizer() {
    let fake = FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, "component-secret");
    fake.push_verify_ticket(COMPONENT, "ticket@@@err");
    let tickets = Arc::new(MemoryVerifyTickets::new());
    tickets.set(COMPONENT, "ticket@@@err");
    let client = |secret: &str| {
        Client::builder()
            .appid(COMPONENT)
            .base_url(fake.url())
            .token_source(ComponentSource::new(
                COMPONENT,
                secret,
                tickets.clone(),
                MemoryRefreshTokens::new(),
            ))
            .build()
            .unwrap()
    };
    let err = client("wrong")
        .token(&TokenKey::component_access_token(COMPONENT))
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "could not fetch the component_access_token of {COMPONENT} from the component source: wechat api error 40125"
        )),
        "{err}"
    );
    assert_eq!(err.token_fetch().unwrap().source(), SourceKind::Component);

    let err = client("component-secret")
        .request(RequestOptions::get("/cgi-bin/get_api_domain_ip").authorizer_appid(AUTHORIZER))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET /cgi-bin/get_api_domain_ip for authorizer {AUTHORIZER} (platform {COMPONENT}): \
             could not fetch the access_token of authorizer {AUTHORIZER} (platform {COMPONENT}) from the component source: \
             invalid request: no authorizer_refresh_token stored for authorizer {AUTHORIZER}: the account must authorize the platform"
        )
    );
    assert_eq!(
        err.token_fetch().unwrap().authorizer_appid(),
        Some(AUTHORIZER)
    );
}

#[test]
fn a_hubs_own_error_has_no_wechat_errcode() {
    // A hub's own failure with errcode -1: not WeChat's "system busy", so
    // code retrying on errcode -1 does not retry it forever.
    let stub = StubServer::start(
        200,
        "application/json",
        r#"{"errcode":-1,"message":"store unavailable","reason":"store_unavailable","http_status":503}"#,
    )
    .unwrap();
    let client = Client::builder()
        .appid(APPID)
        .token_source(HubSource::new(stub.url()).unwrap())
        .build()
        .unwrap();
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert_eq!(err.errcode(), None);
    assert_eq!(
        err.kind(),
        &ErrorKind::Hub {
            errcode: Some(-1),
            reason: "store_unavailable".into(),
            message: "store unavailable".into(),
            status: 503,
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "GET /cgi-bin/user/get for {APPID}: \
             could not fetch the access_token of {APPID} from the hub source: \
             hub error (http 503, errcode -1) store_unavailable: store unavailable"
        )
    );
    assert_eq!(stub.requests(), 1, "not retried");

    // A hub relaying that the authorizer must authorize again still says so.
    let stub = StubServer::start(
        200,
        "application/json",
        r#"{"errcode":61023,"message":"invalid refresh token","reason":"wechat_error","http_status":502}"#,
    )
    .unwrap();
    let err = Client::builder()
        .token_source(HubSource::new(stub.url()).unwrap())
        .build()
        .unwrap()
        .token(&TokenKey::access_token(COMPONENT).for_authorizer(AUTHORIZER))
        .unwrap_err();
    assert!(err.needs_reauthorization(), "{err:?}");
}

#[test]
fn a_busy_call_says_how_many_attempts_it_made() {
    let fake = common::fake();
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake))
        .busy_retry(BusyRetry {
            retries: 2,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
        })
        .build()
        .unwrap();
    fake.fail_next("/cgi-bin/busy", -1, "system error", usize::MAX);
    let err = client.request("/cgi-bin/busy").unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    assert_eq!(
        err.to_string(),
        format!(
            "GET /cgi-bin/busy for {APPID}: wechat api error -1: system error (after 3 attempts)"
        )
    );
    assert_eq!(fake.count("/cgi-bin/busy"), 3);
    // Answered at once: nothing to count.
    fake.fail_next("/cgi-bin/quota", 45009, "quota", 1);
    assert_eq!(
        client.request("/cgi-bin/quota").unwrap_err().attempts(),
        None
    );
}

#[test]
fn timeouts_name_their_limit() {
    let silent = SilentServer::start().unwrap();
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .request(RequestOptions::get(format!("{}/sns/auth", silent.url())))
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(
        err.to_string(),
        format!(
            "GET /sns/auth: request to {}/sns/auth timed out: the client's timeout of 300ms was reached",
            silent.url()
        )
    );
    let err = client
        .request(
            RequestOptions::get(format!("{}/sns/auth", silent.url()))
                .timeout(Duration::from_millis(150)),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET /sns/auth: request to {}/sns/auth timed out: the call's timeout of 150ms was reached",
            silent.url()
        )
    );
}

#[test]
fn a_tls_failure_says_tls() {
    // The fake speaks plain HTTP: a TLS handshake with it fails.
    let fake = FakeWechat::start().unwrap();
    let url = format!("https://127.0.0.1:{}/sns/auth", fake.port());
    let err = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .request(RequestOptions::get(url.as_str()))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "GET /sns/auth: request to {url} failed the tls handshake: tls: "
        )),
        "{err}"
    );
}

/// A token that must appear in no error: the one the client holds.
fn held_token(client: &Client) -> String {
    client
        .token(&TokenKey::access_token(APPID))
        .unwrap()
        .expose()
        .to_string()
}

/// Display and Debug of `err` carry neither a token nor a query.
fn shows_no_token(err: &weixin::Error, token: &str) {
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("access_token="), "{shown}");
        assert!(!shown.contains(token), "{shown}");
    }
}

#[test]
fn an_api_error_names_its_method_path_and_appid() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.fail_next("/cgi-bin/message/custom/send", 48001, "api unauthorized", 1);
    let err = client
        .request(
            RequestOptions::post("/cgi-bin/message/custom/send")
                .query("debug", "1")
                .json(serde_json::json!({"touser": "o1", "msgtype": "text"})),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("POST /cgi-bin/message/custom/send for {APPID}: wechat api error 48001: api unauthorized")
    );
    // The accessors are as they were.
    assert_eq!(err.errcode(), Some(48001));
    assert!(matches!(err.kind(), ErrorKind::Api { errcode: 48001, .. }));
    assert!(err.token_fetch().is_none());
    let call = err.call().unwrap();
    assert_eq!(
        (
            call.method(),
            call.path(),
            call.appid(),
            call.authorizer_appid()
        ),
        ("POST", "/cgi-bin/message/custom/send", Some(APPID), None)
    );
    let debug = format!("{err:?}");
    assert!(debug.contains("/cgi-bin/message/custom/send"), "{debug}");
    shows_no_token(&err, &held_token(&client));
    // The call that failed did carry the token: it is the error that drops it.
    let sent = fake.last_request("/cgi-bin/message/custom/send").unwrap();
    assert_eq!(
        sent.param("access_token"),
        Some(held_token(&client).as_str())
    );
}

#[test]
fn an_authorizers_call_names_the_authorizer_and_the_platform() {
    let fake = FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, "component-secret");
    fake.push_verify_ticket(COMPONENT, "ticket@@@err");
    let refresh = fake.add_authorizer(COMPONENT, AUTHORIZER);
    let refresh_tokens = MemoryRefreshTokens::new();
    weixin::RefreshTokenStore::save(
        &refresh_tokens,
        COMPONENT,
        AUTHORIZER,
        &weixin::Secret::new(refresh),
    )
    .unwrap();
    let client = Client::builder()
        .appid(COMPONENT)
        .base_url(fake.url())
        .token_source(ComponentSource::new(
            COMPONENT,
            "component-secret",
            |_: &str| Some("ticket@@@err".to_string()),
            refresh_tokens,
        ))
        .build()
        .unwrap();
    fake.fail_next("/cgi-bin/user/get", 48001, "api unauthorized", 1);
    let err = client
        .request(
            RequestOptions::get("/cgi-bin/user/get?next_openid=o1").authorizer_appid(AUTHORIZER),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET /cgi-bin/user/get for authorizer {AUTHORIZER} (platform {COMPONENT}): \
             wechat api error 48001: api unauthorized"
        )
    );
    assert_eq!(
        err.call().map(|c| (c.appid(), c.authorizer_appid())),
        Some((Some(COMPONENT), Some(AUTHORIZER)))
    );
    let token = client
        .token(&TokenKey::access_token(COMPONENT).for_authorizer(AUTHORIZER))
        .unwrap();
    shows_no_token(&err, token.expose());
    assert!(!err.to_string().contains("next_openid"), "{err}");
}

#[test]
fn a_refused_connection_names_the_call() {
    let fake = common::fake();
    let client = common::direct(&fake);
    client.request("/cgi-bin/user/get").unwrap();
    let token = held_token(&client);
    let origin = fake.url();
    // The fake stops listening: its port now refuses, and the token stays
    // cached, so it is the call itself that cannot connect.
    drop(fake);
    let err = client
        .request(RequestOptions::post("/cgi-bin/message/custom/send"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "POST /cgi-bin/message/custom/send for {APPID}: \
             request to {origin}/cgi-bin/message/custom/send could not connect: connection refused \
             (after 4 attempts)"
        )
    );
    assert!(matches!(
        err.kind(),
        ErrorKind::Transport {
            kind: TransportKind::Connect,
            ..
        }
    ));
    assert_eq!(err.call().unwrap().method(), "POST");
    shows_no_token(&err, &token);
}
