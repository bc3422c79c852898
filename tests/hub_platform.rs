//! A durable third-party platform: after a store loss, the authorizers'
//! refresh tokens are rebuilt from WeChat's `api_get_authorizer_list`
//! through a bearer-protected endpoint.

use std::sync::Arc;

use serde_json::Value;
use wechat::hub::{HubHandler, HubRequest, MemoryStore, Store};
use wechat::Secret;

const COMPONENT: &str = "wx_platform";
const SECRET: &str = "platform-secret";
const BEARER: &str = "ops-bearer";

fn rebuild(hub: &HubHandler, body: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req =
        HubRequest::new("POST", "/admin/rebuild_refresh_tokens").body(body.as_bytes().to_vec());
    if let Some(bearer) = bearer {
        req = req.header("Authorization", &format!("Bearer {bearer}"));
    }
    let resp = hub.handle(&req);
    (
        resp.status,
        serde_json::from_slice(&resp.body).expect("json"),
    )
}

#[test]
fn a_lost_store_gets_its_refresh_tokens_back_from_the_authorizer_list() {
    let fake = wechat::testing::FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    let refresh: Vec<(String, String)> = (0..3)
        .map(|i| {
            let appid = format!("wx_auth_{i}");
            let token = fake.add_authorizer(COMPONENT, &appid);
            (appid, token)
        })
        .collect();
    let store = Arc::new(MemoryStore::new());
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    let hub = HubHandler::builder()
        .component(COMPONENT, SECRET)
        .upstream(fake.url())
        .store(store.clone())
        .bearer(BEARER)
        .refresh_ahead(None)
        .build()
        .unwrap();
    let body = format!(r#"{{"component_appid":"{COMPONENT}"}}"#);

    let (status, answer) = rebuild(&hub, &body, None);
    assert_eq!((status, &answer["reason"]), (401, &"unauthorized".into()));
    assert_eq!(fake.count("/cgi-bin/component/api_get_authorizer_list"), 0);
    let (status, answer) = rebuild(
        &hub,
        r#"{"component_appid":"wx_not_a_platform"}"#,
        Some(BEARER),
    );
    assert_eq!((status, &answer["reason"]), (404, &"unknown_appid".into()));

    let (status, answer) = rebuild(&hub, &body, Some(BEARER));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["restored"], &answer["total_count"]),
        (&3.into(), &3.into())
    );
    for (appid, token) in &refresh {
        assert_eq!(
            store.get_refresh_token(COMPONENT, appid).unwrap(),
            Some(Secret::new(token.as_str())),
            "{appid}"
        );
    }
    assert!(
        !answer.to_string().contains(&refresh[0].1),
        "no refresh token in the answer"
    );
    // The rebuilt refresh token works: the hub serves the authorizer.
    let resp = hub.handle(
        &HubRequest::new(
            "GET",
            &format!("/client/access_token?appid={COMPONENT}&authorizer_appid=wx_auth_1"),
        )
        .header("Authorization", &format!("Bearer {BEARER}")),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
}
