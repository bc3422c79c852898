//! A third-party platform served by the `wechat-hub` binary: encrypted
//! pushes at the callback endpoint, component and authorizer tokens and
//! tickets through `HubSource`, a rotating refresh token kept in the file
//! store across `kill -9`.

use std::time::Duration;

use weixin::store::{FileStore, Store};
use weixin::testing::FakeWechat;
use weixin::{Client, HubSource, Message, MessageCrypto, RequestOptions, TicketType, TokenKey};

use crate::common::process::{self, HubProcess};

const COMPONENT: &str = "wx_hub_component";
const AUTHORIZER: &str = "wx_hub_authorizer";
const CALLBACK_TOKEN: &str = "callback-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

const ENVS: [(&str, &str); 3] = [
    ("TEST_COMPONENT_SECRET", "component-secret-1"),
    ("TEST_COMPONENT_TOKEN", CALLBACK_TOKEN),
    ("TEST_COMPONENT_AES", AES_KEY),
];

fn config(upstream: &str, store: &std::path::Path) -> String {
    format!(
        "bind = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\n\n[store]\nkind = \"file\"\npath = {:?}\n\n\
         [[component]]\nappid = \"{COMPONENT}\"\nsecret_env = \"TEST_COMPONENT_SECRET\"\n\
         token_env = \"TEST_COMPONENT_TOKEN\"\nencoding_aes_key_env = \"TEST_COMPONENT_AES\"\n",
        store.display().to_string()
    )
}

/// Encrypts `xml` as WeChat does and POSTs it to the hub's callback.
fn push(hub: &HubProcess, xml: &str, tamper: bool) -> (u16, String) {
    let crypto = MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, COMPONENT).unwrap();
    let body = crypto.encrypt(xml, "1700000000", "nonce1").unwrap();
    let mut signature = Message::parse(&body)
        .unwrap()
        .field("MsgSignature")
        .unwrap()
        .to_string();
    if tamper {
        signature.replace_range(0..1, if signature.starts_with('0') { "1" } else { "0" });
    }
    let url = format!(
        "{}/callback/component/{COMPONENT}?msg_signature={signature}&timestamp=1700000000&nonce=nonce1&encrypt_type=aes",
        hub.url
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent.post(&url).send(body.as_str()).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn info(info_type: &str, extra: &str) -> String {
    format!(
        "<xml><AppId>{COMPONENT}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>{info_type}</InfoType>{extra}</xml>"
    )
}

fn client(fake: &FakeWechat, hub: &HubProcess) -> Client {
    Client::builder()
        .appid(COMPONENT)
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .timeout(Duration::from_secs(10))
        .token_source(HubSource::new(&hub.url).unwrap())
        .build()
        .unwrap()
}

#[test]
fn component_platform_through_the_hub_binary() {
    let fake = FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, "component-secret-1");
    fake.push_verify_ticket(COMPONENT, "ticket@@@1");
    let dir = process::temp_dir("component");
    let path = dir.join("store.json");
    let mut hub = HubProcess::start(&dir, &config(&fake.url(), &path), &ENVS);

    // A push with a wrong signature is refused and stores nothing.
    let ticket_push = info(
        "component_verify_ticket",
        "<ComponentVerifyTicket>ticket@@@1</ComponentVerifyTicket>",
    );
    assert_eq!(push(&hub, &ticket_push, true).0, 400);
    assert!(FileStore::open(&path)
        .unwrap()
        .get_verify_ticket(COMPONENT)
        .unwrap()
        .is_none());
    assert_eq!(
        push(&hub, &ticket_push, false),
        (200, "success".to_string())
    );

    let c = client(&fake, &hub);
    let component_key = TokenKey::component_access_token(COMPONENT);
    c.token(&component_key).unwrap();
    assert_eq!(fake.count("/cgi-bin/component/api_component_token"), 1);

    // authorized: the hub exchanges the code and keeps the tokens.
    let code = fake.authorization_code(COMPONENT, AUTHORIZER);
    let authorized = info(
        "authorized",
        &format!(
            "<AuthorizerAppid>{AUTHORIZER}</AuthorizerAppid><AuthorizationCode>{code}</AuthorizationCode>\
             <AuthorizationCodeExpiredTime>1700003600</AuthorizationCodeExpiredTime>"
        ),
    );
    assert_eq!(push(&hub, &authorized, false), (200, "success".to_string()));
    assert_eq!(fake.count("/cgi-bin/component/api_query_auth"), 1);

    let authorizer_key = TokenKey::access_token(COMPONENT).for_authorizer(AUTHORIZER);
    let first = c.token(&authorizer_key).unwrap();
    assert_eq!(fake.authorizer_token_calls(AUTHORIZER), 0, "from the push");
    c.request(RequestOptions::get("/cgi-bin/x").authorizer_appid(AUTHORIZER))
        .unwrap();
    let ticket = c
        .token(&TokenKey::ticket(COMPONENT, TicketType::Jsapi).for_authorizer(AUTHORIZER))
        .unwrap();
    assert!(ticket.expose().starts_with("TICKET_jsapi_"), "{ticket:?}");

    // WeChat revokes the authorizer's token: one refresh with the stored
    // refresh token, whose rotation lands in the file.
    fake.invalidate_token(first.expose());
    c.request(RequestOptions::get("/cgi-bin/x").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(fake.authorizer_token_calls(AUTHORIZER), 1);
    let rotated = fake.current_refresh_token(COMPONENT, AUTHORIZER).unwrap();
    assert_eq!(
        FileStore::open(&path)
            .unwrap()
            .get_refresh_token(COMPONENT, AUTHORIZER)
            .unwrap()
            .unwrap()
            .expose(),
        rotated
    );

    // kill -9 and restart: tickets, tokens and the refresh token are back
    // and no upstream token call is needed.
    let authorizer_token = client(&fake, &hub).token(&authorizer_key).unwrap();
    hub.kill();
    let hub = HubProcess::start_with(&hub.config.clone(), &ENVS);
    let c = client(&fake, &hub);
    assert_eq!(
        c.token(&authorizer_key).unwrap().expose(),
        authorizer_token.expose()
    );
    c.token(&component_key).unwrap();
    c.request(RequestOptions::get("/cgi-bin/x").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(fake.count("/cgi-bin/component/api_component_token"), 1);
    assert_eq!(fake.authorizer_token_calls(AUTHORIZER), 1);

    // unauthorized: the authorizer is forgotten.
    let gone = info(
        "unauthorized",
        &format!("<AuthorizerAppid>{AUTHORIZER}</AuthorizerAppid>"),
    );
    assert_eq!(push(&hub, &gone, false), (200, "success".to_string()));
    let store = FileStore::open(&path).unwrap();
    assert!(store
        .get_refresh_token(COMPONENT, AUTHORIZER)
        .unwrap()
        .is_none());
    assert!(store.get_token(&authorizer_key).unwrap().is_none());
    assert!(store.get_verify_ticket(COMPONENT).unwrap().is_some());

    let logs = hub.wait_for_log("POST /callback/component/wx_hub_component 200");
    assert!(
        !logs.contains(&rotated) && !logs.contains("ticket@@@1"),
        "{logs}"
    );
}
