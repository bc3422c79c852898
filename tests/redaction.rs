//! No secret and no token in any Debug or Display output.

use std::time::Duration;

use wechat::testing::{SilentServer, StubServer};
use wechat::{
    Client, ComponentSource, HubSource, MemoryRefreshTokens, RequestOptions, SecretSource,
    TicketType, TokenKey,
};

use crate::common::{self, APPID, SECRET};

const BEARER: &str = "BEARER_hub_secret_987";
const COMPONENT: &str = "wx_component_redaction";
const COMPONENT_SECRET: &str = "COMPONENT_SECRET_redaction_654";
const VERIFY_TICKET: &str = "ticket@@@VERIFY_redaction_321";

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
                SecretSource::new(APPID, SECRET).base_url(wechat::testing::refused_url().unwrap()),
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
                wechat::testing::refused_url().unwrap()
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
    for err in &errors {
        shown.push(format!("{err}"));
        shown.push(format!("{err:?}"));
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            shown.push(s.to_string());
            source = s.source();
        }
    }
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
        "transport failed: tls: ",
        "could not connect: connection refused",
        "store_unavailable",
        "secret=[redacted]",
    ] {
        assert!(all.contains(expected), "{expected:?} not swept:\n{all}");
    }
}
