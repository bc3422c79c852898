//! `HubSource` against the fake hub and against hubs that misbehave.

use std::collections::HashSet;
use std::time::Duration;

use weixin::testing::{FakeHub, SilentServer, StubServer};
use weixin::{Client, ErrorKind, HubSource, SourceKind, TokenKey, TransportKind};

use crate::common::{self, APPID, SECRET};

fn client_of(hub_url: &str) -> Client {
    Client::builder()
        .appid(APPID)
        .timeout(Duration::from_millis(500))
        .token_source(HubSource::new(hub_url).unwrap())
        .build()
        .unwrap()
}

fn token_error(hub_url: &str) -> weixin::Error {
    client_of(hub_url)
        .token(&TokenKey::access_token(APPID))
        .unwrap_err()
}

#[test]
fn tokens_tickets_and_refresh_through_the_hub() {
    let fake = common::fake();
    let hub = common::hub(&fake);
    let client = common::via_hub(&fake, &hub);
    client.request("/cgi-bin/a").unwrap();
    client.request("/cgi-bin/a").unwrap();
    assert_eq!(hub.count("/client/access_token"), 1);

    let ticket = client.jsapi_ticket().unwrap();
    assert!(ticket.expose().starts_with("TICKET_jsapi_"));
    client.jsapi_ticket().unwrap();
    assert_eq!(hub.count("/client/ticket"), 1);
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);

    fake.invalidate_current(APPID);
    client.request("/cgi-bin/a").unwrap();
    assert_eq!(hub.count("/refresh/access_token"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[test]
fn the_hub_timestamp_decides_expiry() {
    // A token the hub says expired long ago is never served from the cache.
    let body = r#"{"access_token":"OLD","expires_in":7200,"timestamp":1000}"#;
    let stub = StubServer::start(200, "application/json", body).unwrap();
    let client = client_of(&stub.url());
    let key = TokenKey::access_token(APPID);
    assert_eq!(client.token(&key).unwrap().expose(), "OLD");
    client.token(&key).unwrap();
    assert_eq!(stub.requests(), 2);
}

#[test]
fn each_bad_hub_answer_is_a_distinct_clear_error() {
    let mut messages = HashSet::new();

    let body = r#"{"errcode":40013,"message":"invalid appid","reason":"invalid_request","http_status":400}"#;
    let stub = StubServer::start(200, "application/json", body).unwrap();
    let err = token_error(&stub.url());
    assert_eq!(
        err.kind(),
        &ErrorKind::Hub {
            errcode: Some(40013),
            reason: "invalid_request".into(),
            message: "invalid appid".into(),
            status: 400
        }
    );
    messages.insert(err.to_string());

    let stub = StubServer::start(500, "text/plain", "internal error").unwrap();
    let err = token_error(&stub.url());
    assert!(
        matches!(err.kind(), ErrorKind::HttpStatus { status: 500, .. }),
        "{err:?}"
    );
    messages.insert(err.to_string());

    let stub = StubServer::start(200, "text/html", "<html><body>login</body></html>").unwrap();
    let err = token_error(&stub.url());
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("not a json object"));
    messages.insert(err.to_string());

    let stub = StubServer::start(200, "application/json", r#"{"access_token": ""}"#).unwrap();
    let err = token_error(&stub.url());
    assert!(err.to_string().ends_with("access_token is empty"), "{err}");
    messages.insert(err.to_string());

    let body = r#"{"access_token":"T","expires_in":7200,"timestamp":"1700000000"}"#;
    let stub = StubServer::start(200, "application/json", body).unwrap();
    let err = token_error(&stub.url());
    assert!(
        err.to_string()
            .ends_with("timestamp is not a non-negative integer"),
        "{err}"
    );
    messages.insert(err.to_string());

    let err = token_error(&weixin::testing::refused_url().unwrap());
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
    messages.insert(err.to_string());

    let silent = SilentServer::start().unwrap();
    let err = token_error(&silent.url());
    assert!(err.is_timeout(), "{err:?}");
    messages.insert(err.to_string());

    assert_eq!(messages.len(), 7, "{messages:#?}");
}

#[test]
fn hub_errors_reach_the_api_caller() {
    let stub = StubServer::start(503, "text/html", "<html>maintenance</html>").unwrap();
    let err = client_of(&stub.url()).request("/cgi-bin/x").unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::HttpStatus { status: 503, .. }
    ));
}

#[test]
fn upstream_errors_are_relayed_by_the_hub() {
    let fake = common::fake();
    let hub =
        FakeHub::start(weixin::SecretSource::new(APPID, "wrong").base_url(fake.url())).unwrap();
    let err = common::via_hub(&fake, &hub)
        .token(&TokenKey::access_token(APPID))
        .unwrap_err();
    // WeChat's answer to the hub, not to this client: no errcode of its
    // own, so code retrying on an errcode never retries a hub's error.
    assert_eq!(err.errcode(), None);
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Hub {
                errcode: Some(40125),
                status: 502,
                ..
            }
        ),
        "{err:?}"
    );
    let fetch = err.token_fetch().unwrap();
    assert_eq!((fetch.appid(), fetch.source()), (APPID, SourceKind::Hub));
    assert_eq!(
        err.to_string(),
        format!(
            "could not fetch the access_token of {APPID} from the hub source: \
             hub error (http 502, errcode 40125) wechat_error: \
             could not fetch the access_token of {APPID} from the store source: \
             wechat api error 40125: invalid appsecret (the appsecret is wrong)"
        )
    );
}

#[test]
fn bearer_secret() {
    let fake = common::fake();
    let hub = FakeHub::start_with_bearer(common::secret_source(&fake), "hub-bearer").unwrap();
    let key = TokenKey::access_token(APPID);

    let err = client_of(&hub.url()).token(&key).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Hub { status: 401, .. }),
        "{err:?}"
    );

    let wrong = Client::builder()
        .token_source(HubSource::new(hub.url()).unwrap().bearer("nope"))
        .build()
        .unwrap();
    let err = wrong.token(&key).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Hub { status: 401, .. }),
        "{err:?}"
    );

    let right = Client::builder()
        .token_source(HubSource::new(hub.url()).unwrap().bearer("hub-bearer"))
        .build()
        .unwrap();
    assert!(right.token(&key).unwrap().expose().starts_with("TOKEN_"));
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    let stub = StubServer::start(200, "application/json", "{}").unwrap();
    let _ = Client::builder()
        .token_source(HubSource::new(stub.url()).unwrap().bearer(SECRET))
        .build()
        .unwrap()
        .token(&key);
    assert_eq!(
        stub.last_header("authorization").as_deref(),
        Some(&*format!("Bearer {SECRET}"))
    );
}

/// WeChat revokes every token of the account at once (another lineage took
/// over): a client still holding the older token is handed the hub's
/// current one by compare-and-swap, which was revoked too. That token is
/// refreshed in turn, and the call succeeds.
#[test]
fn a_token_revoked_along_with_the_stale_one_is_refreshed_in_turn() {
    let fake = common::fake();
    let hub = common::hub(&fake);
    let (a, b) = (common::via_hub(&fake, &hub), common::via_hub(&fake, &hub));
    let key = weixin::TokenKey::access_token(common::APPID);
    let old = a.token(&key).unwrap();
    assert_eq!(b.token(&key).unwrap(), old);
    let current = a.refreshed_token(&key, &old).unwrap();
    assert_ne!(current, old);
    assert_eq!(fake.invalidate_current(common::APPID), 2, "both revoked");
    // b still holds the old token: rejected, swapped for the current one
    // (rejected too), which is refreshed upstream.
    b.request("/cgi-bin/get_api_domain_ip").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    assert_eq!(hub.count("/refresh/access_token"), 3);
}
