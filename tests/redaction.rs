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

#[cfg(feature = "crypto")]
#[test]
fn callback_handlers_their_answers_and_pushes_print_no_secret() {
    use std::sync::Arc;

    use wechat::hub::MemoryStore;
    use wechat::{CallbackHandler, ComponentPushHandler, Message, MessageCrypto};

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
