//! No secret and no token in any Debug or Display output.

use std::time::Duration;

use wechat::testing::{SilentServer, StubServer};
use wechat::{Client, HubSource, RequestOptions, SecretSource, TicketType, TokenKey};

use crate::common::{self, APPID, SECRET};

const BEARER: &str = "BEARER_hub_secret_987";

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
    let ticket = client.ticket(None, TicketType::Jsapi).unwrap();
    let secrets = vec![
        SECRET.to_string(),
        BEARER.to_string(),
        token.secret().to_string(),
        ticket.secret().to_string(),
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
            RequestOptions::get("/x").query("access_token", token.secret())
        ),
    ];

    // Every error path, with the secrets in play.
    let mut errors = Vec::new();
    fake.fail_next(
        "/cgi-bin/e",
        40001,
        &format!("invalid credential, access_token={} rid: 1", token.secret()),
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
            .request(RequestOptions::get("/cgi-bin/x").query("access_token", token.secret()))
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
    for text in &shown {
        assert_clean("output", text, &secrets);
    }
}

#[cfg(feature = "hub")]
#[test]
fn a_hub_server_prints_no_secret() {
    use wechat::hub::{HubHandler, HubServer};
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
