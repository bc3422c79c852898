//! Third-party platform ("component") applications: routing, component and
//! authorizer tokens, refresh-token rotation, both direct and via a hub.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use weixin::testing::{FakeHub, FakeWechat};
use weixin::{
    Client, ComponentSource, ErrorKind, HubSource, MemoryRefreshTokens, MemoryVerifyTickets,
    MiniProgram, OAuth, RefreshTokenStore, RequestOptions, Scope, Secret, TicketType, TokenKey,
};

use crate::common;

const COMPONENT: &str = "wx_component_1";
const COMPONENT_SECRET: &str = "COMPONENT_SECRET_abc";
const AUTHORIZER: &str = "wx_authorizer_a";

struct Platform {
    fake: FakeWechat,
    tickets: Arc<MemoryVerifyTickets>,
    store: Arc<MemoryRefreshTokens>,
}

fn platform(authorizers: &[&str]) -> Platform {
    let fake = FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, COMPONENT_SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket@@@1");
    let tickets = Arc::new(MemoryVerifyTickets::new());
    tickets.set(COMPONENT, "ticket@@@1");
    let store = Arc::new(MemoryRefreshTokens::new());
    for a in authorizers {
        let refresh = fake.add_authorizer(COMPONENT, a);
        store.save(COMPONENT, a, &Secret::new(refresh)).unwrap();
    }
    Platform {
        fake,
        tickets,
        store,
    }
}

impl Platform {
    fn source(&self) -> ComponentSource {
        ComponentSource::new(
            COMPONENT,
            COMPONENT_SECRET,
            self.tickets.clone(),
            self.store.clone(),
        )
        .base_url(self.fake.url())
    }

    fn client(&self) -> Client {
        common::builder(&self.fake)
            .appid(COMPONENT)
            .token_source(self.source())
            .build()
            .unwrap()
    }

    fn hub_client(&self, hub: &FakeHub) -> Client {
        common::builder(&self.fake)
            .appid(COMPONENT)
            .token_source(HubSource::new(hub.url()).unwrap())
            .build()
            .unwrap()
    }

    fn last(&self, path: &str) -> (Vec<(String, String)>, serde_json::Value) {
        let received = self.fake.last_request(path).expect("request received");
        (
            received.query,
            received.json.unwrap_or(serde_json::Value::Null),
        )
    }
}

fn names(query: &[(String, String)]) -> Vec<&str> {
    query.iter().map(|(k, _)| k.as_str()).collect()
}

fn check_routing(p: &Platform, client: &Client) {
    // /cgi-bin/component/*: component_access_token in the query and
    // component_appid filled into the body (the fake rejects either missing).
    let resp = client
        .request(RequestOptions::post(
            "/cgi-bin/component/api_create_preauthcode",
        ))
        .unwrap();
    assert!(resp.json().unwrap()["pre_auth_code"]
        .as_str()
        .unwrap()
        .starts_with("PREAUTH_"));
    let (query, body) = p.last("/cgi-bin/component/api_create_preauthcode");
    assert_eq!(names(&query), ["component_access_token"]);
    assert_eq!(body, serde_json::json!({"component_appid": COMPONENT}));

    let info = client
        .request(
            RequestOptions::post("/cgi-bin/component/api_get_authorizer_info")
                .json(serde_json::json!({"authorizer_appid": AUTHORIZER})),
        )
        .unwrap();
    assert_eq!(
        info.json().unwrap()["authorization_info"]["authorizer_appid"],
        AUTHORIZER
    );
    let (_, body) = p.last("/cgi-bin/component/api_get_authorizer_info");
    assert_eq!(
        body,
        serde_json::json!({"authorizer_appid": AUTHORIZER, "component_appid": COMPONENT})
    );

    client
        .request(RequestOptions::post("/cgi-bin/component/api_set_authorizer_option").json(
            serde_json::json!({"authorizer_appid": AUTHORIZER, "option_name": "voice_recognize", "option_value": "1"}),
        ))
        .unwrap();
    let option = client
        .request(
            RequestOptions::post("/cgi-bin/component/api_get_authorizer_option")
                .json(serde_json::json!({"authorizer_appid": AUTHORIZER, "option_name": "voice_recognize"})),
        )
        .unwrap();
    assert_eq!(option.json().unwrap()["option_value"], "1");
    let list = client
        .request(
            RequestOptions::post("/cgi-bin/component/api_get_authorizer_list")
                .json(serde_json::json!({"offset": 0, "count": 10})),
        )
        .unwrap();
    assert_eq!(
        list.json().unwrap()["list"][0]["authorizer_appid"],
        AUTHORIZER
    );

    // A component_appid the caller set is kept (and this one is wrong).
    let err = client
        .request(
            RequestOptions::post("/cgi-bin/component/api_get_authorizer_info").json(
                serde_json::json!({"authorizer_appid": AUTHORIZER, "component_appid": "wx_other"}),
            ),
        )
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40013));

    // /sns/oauth2/component/* and /sns/component/*: appid (the authorizer),
    // component_appid and component_access_token in the query.
    for (path, code_name, code) in [
        (
            "/sns/oauth2/component/access_token",
            "code",
            p.fake.oauth_code(AUTHORIZER, "o_user"),
        ),
        (
            "/sns/component/jscode2session",
            "js_code",
            p.fake.js_code(AUTHORIZER, "o_user"),
        ),
    ] {
        let resp = client
            .request(
                RequestOptions::get(path)
                    .authorizer_appid(AUTHORIZER)
                    .query(code_name, code)
                    .query("grant_type", "authorization_code"),
            )
            .unwrap();
        assert_eq!(resp.json().unwrap()["openid"], "o_user");
        let (query, _) = p.last(path);
        assert_eq!(
            names(&query),
            [
                code_name,
                "grant_type",
                "appid",
                "component_appid",
                "component_access_token"
            ]
        );
        assert_eq!(query[2].1, AUTHORIZER);
        assert_eq!(query[3].1, COMPONENT);
    }

    // Any other path with an authorizer: the authorizer's access token.
    let resp = client
        .request(RequestOptions::get("/cgi-bin/user/get").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(resp.json().unwrap()["appid"], AUTHORIZER);
    let (query, _) = p.last("/cgi-bin/user/get");
    assert_eq!(names(&query), ["access_token"]);
    assert!(query[0].1.starts_with("AUTHORIZER_"));

    // Tickets per authorizer, and the JSSDK config for an authorizer's page.
    let config = client
        .authorizer_wx_config(AUTHORIZER, "https://shop.example/p#x")
        .unwrap();
    assert_eq!(config.app_id, AUTHORIZER);
    let ticket = client
        .token(&TokenKey::ticket(COMPONENT, TicketType::Jsapi).for_authorizer(AUTHORIZER))
        .unwrap();
    assert!(ticket
        .expose()
        .starts_with(&format!("TICKET_jsapi_{AUTHORIZER}")));
    assert_eq!(
        config.signature,
        weixin::sign_jssdk_with(
            ticket.expose(),
            "https://shop.example/p",
            &config.nonce_str,
            config.timestamp
        )
    );

    // A card signature with the authorizer's own wx_card ticket.
    let card = client
        .authorizer_add_card_signature(AUTHORIZER, "p_card", Some("o_user"))
        .unwrap();
    let card_ticket = client
        .token(&TokenKey::ticket(COMPONENT, TicketType::WxCard).for_authorizer(AUTHORIZER))
        .unwrap();
    assert!(card_ticket
        .expose()
        .starts_with(&format!("TICKET_wx_card_{AUTHORIZER}")));
    assert_eq!(
        card,
        weixin::sign_add_card_with(
            card_ticket.expose(),
            "p_card",
            None,
            Some("o_user"),
            &card.nonce_str,
            card.timestamp
        )
    );
}

#[test]
fn routing_and_automatic_parameters_direct() {
    let p = platform(&[AUTHORIZER]);
    check_routing(&p, &p.client());
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 1);
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 1);
}

#[test]
fn routing_and_automatic_parameters_via_hub() {
    let p = platform(&[AUTHORIZER]);
    let hub = FakeHub::start(p.source()).unwrap();
    check_routing(&p, &p.hub_client(&hub));
    assert_eq!(hub.count("/client/component_access_token"), 1);
    assert_eq!(hub.count("/client/access_token"), 1);
    assert_eq!(hub.count("/client/ticket"), 2, "jsapi and wx_card");
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 1);
}

fn thirty_two_threads_eight_authorizers(p: &Platform, client: &Client) {
    let authorizers: Vec<String> = (0..8).map(|i| format!("wx_auth_{i}")).collect();
    let barrier = Barrier::new(32);
    std::thread::scope(|s| {
        for i in 0..32 {
            let (client, barrier, authorizer) = (client, &barrier, &authorizers[i % 8]);
            s.spawn(move || {
                barrier.wait();
                let resp = client
                    .request(
                        RequestOptions::get("/cgi-bin/user/get")
                            .authorizer_appid(authorizer.as_str()),
                    )
                    .unwrap();
                assert_eq!(resp.json().unwrap()["appid"], authorizer.as_str());
            });
        }
    });
    assert_eq!(p.fake.count("/cgi-bin/component/api_authorizer_token"), 8);
    for a in &authorizers {
        assert_eq!(p.fake.authorizer_token_calls(a), 1, "{a}");
    }
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 1);
}

#[test]
fn cold_cache_many_threads_many_authorizers_direct() {
    let names: Vec<String> = (0..8).map(|i| format!("wx_auth_{i}")).collect();
    let p = platform(&names.iter().map(String::as_str).collect::<Vec<_>>());
    p.fake.delay(
        "/cgi-bin/component/api_component_token",
        Duration::from_millis(100),
    );
    thirty_two_threads_eight_authorizers(&p, &p.client());
}

#[test]
fn cold_cache_many_threads_many_authorizers_via_hub() {
    let names: Vec<String> = (0..8).map(|i| format!("wx_auth_{i}")).collect();
    let p = platform(&names.iter().map(String::as_str).collect::<Vec<_>>());
    p.fake.delay(
        "/cgi-bin/component/api_component_token",
        Duration::from_millis(100),
    );
    let hub = FakeHub::start(p.source()).unwrap();
    thirty_two_threads_eight_authorizers(&p, &p.hub_client(&hub));
}

#[test]
fn rotated_refresh_tokens_survive_a_rebuilt_client() {
    let p = platform(&[AUTHORIZER]);
    let first = p.store.load(COMPONENT, AUTHORIZER).unwrap().unwrap();
    p.client()
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    let rotated = p.store.load(COMPONENT, AUTHORIZER).unwrap().unwrap();
    assert_ne!(rotated, first);
    assert_eq!(
        Some(rotated.expose().to_string()),
        p.fake.current_refresh_token(COMPONENT, AUTHORIZER)
    );

    // A new process over the same store: its first fetch uses the rotated
    // token (the first one would get 61023).
    let rebuilt = p.client();
    rebuilt
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 2);
    p.fake.invalidate_current(AUTHORIZER);
    rebuilt
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 3);
    assert_eq!(
        Some(
            p.store
                .load(COMPONENT, AUTHORIZER)
                .unwrap()
                .unwrap()
                .expose()
                .to_string()
        ),
        p.fake.current_refresh_token(COMPONENT, AUTHORIZER)
    );
}

/// A store whose saves fail while `down` is set.
struct Flaky {
    inner: MemoryRefreshTokens,
    down: AtomicBool,
}

impl RefreshTokenStore for Flaky {
    fn load(&self, c: &str, a: &str) -> weixin::Result<Option<Secret>> {
        self.inner.load(c, a)
    }

    fn save(&self, c: &str, a: &str, t: &Secret) -> weixin::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(weixin::Error::store(
                "refresh token store is down",
                std::io::Error::other("down"),
            ));
        }
        self.inner.save(c, a, t)
    }
}

/// A client of `p` whose source keeps refresh tokens in a [`Flaky`] store,
/// down, holding the first refresh token of a new `AUTHORIZER`.
fn flaky_client(p: &Platform) -> (Arc<Flaky>, Client) {
    let first = p.fake.add_authorizer(COMPONENT, AUTHORIZER);
    let flaky = Arc::new(Flaky {
        inner: MemoryRefreshTokens::new(),
        down: AtomicBool::new(true),
    });
    flaky
        .inner
        .save(COMPONENT, AUTHORIZER, &Secret::new(first))
        .unwrap();
    let client = common::builder(&p.fake)
        .appid(COMPONENT)
        .token_source(
            ComponentSource::new(
                COMPONENT,
                COMPONENT_SECRET,
                p.tickets.clone(),
                flaky.clone(),
            )
            .base_url(p.fake.url()),
        )
        .build()
        .unwrap();
    (flaky, client)
}

#[test]
fn a_failed_save_loses_no_refresh_token() {
    let p = platform(&[]);
    let (flaky, client) = flaky_client(&p);
    let call = || client.request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER));
    // WeChat rotated the token but the store refused it: the call fails and
    // the new access token is not used.
    let err = call().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store { .. }), "{err}");
    assert_eq!(p.fake.count("/cgi-bin/a"), 0);
    // Once the store is back the rotated token is saved first, then used.
    flaky.down.store(false, Ordering::SeqCst);
    call().unwrap();
    assert_eq!(
        Some(
            flaky
                .load(COMPONENT, AUTHORIZER)
                .unwrap()
                .unwrap()
                .expose()
                .to_string()
        ),
        p.fake.current_refresh_token(COMPONENT, AUTHORIZER)
    );
}

/// A rotation whose save failed is saved later only while the store still
/// holds the token it replaced: an authorization since then stored a newer
/// one, which wins (the pending one would be refused with 61023).
#[test]
fn a_new_authorization_supersedes_a_rotation_whose_save_failed() {
    let p = platform(&[]);
    let (flaky, client) = flaky_client(&p);
    let key = TokenKey::access_token(COMPONENT).for_authorizer(AUTHORIZER);
    let err = client.token(&key).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store { .. }), "{err}");
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 1);

    // The account authorizes again while the rotation is pending.
    flaky.down.store(false, Ordering::SeqCst);
    let code = p.fake.authorization_code(COMPONENT, AUTHORIZER);
    let auth = client.exchange_auth_code(&code, &flaky).unwrap();
    assert_eq!(
        flaky.load(COMPONENT, AUTHORIZER).unwrap(),
        Some(auth.refresh_token.clone())
    );
    assert_eq!(client.token(&key).unwrap(), auth.access_token);

    // Its token is rejected: the refresh uses the exchanged refresh token.
    p.fake.invalidate_current(AUTHORIZER);
    client
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 2);
    assert_eq!(
        flaky
            .load(COMPONENT, AUTHORIZER)
            .unwrap()
            .map(|t| t.expose().to_string()),
        p.fake.current_refresh_token(COMPONENT, AUTHORIZER)
    );
}

#[test]
fn query_auth_stores_the_refresh_token_and_caches_the_access_token() {
    let p = platform(&[]);
    let client = p.client();
    let code = p.fake.authorization_code(COMPONENT, "wx_new_authorizer");
    let auth = client.exchange_auth_code(&code, &p.store).unwrap();
    assert_eq!(auth.authorizer_appid, "wx_new_authorizer");
    assert_eq!(
        p.store
            .load(COMPONENT, "wx_new_authorizer")
            .unwrap()
            .as_ref(),
        Some(&auth.refresh_token)
    );
    client
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid("wx_new_authorizer"))
        .unwrap();
    assert_eq!(p.fake.authorizer_token_calls("wx_new_authorizer"), 0);
    let (query, body) = p.last("/cgi-bin/component/api_query_auth");
    assert_eq!(names(&query), ["component_access_token"]);
    assert_eq!(body["component_appid"], COMPONENT);
    // A code is single use.
    assert_eq!(
        client
            .exchange_auth_code(&code, &p.store)
            .unwrap_err()
            .errcode(),
        Some(61010)
    );
}

/// A client of a hub that exchanges a code itself (from the authorization
/// redirect) saves the refresh token in the hub's store: the hub then serves
/// the authorizer to every other client, with no hub protocol change.
#[test]
fn a_client_of_a_hub_exchanges_a_code_into_the_hubs_store() {
    let p = platform(&[]);
    let hub = FakeHub::start(p.source()).unwrap();
    let client = p.hub_client(&hub);
    let code = p.fake.authorization_code(COMPONENT, "wx_redirected");
    let auth = client.exchange_auth_code(&code, &p.store).unwrap();
    let key = TokenKey::access_token(COMPONENT).for_authorizer("wx_redirected");
    assert_eq!(client.token(&key).unwrap(), auth.access_token);
    assert_eq!(hub.count("/client/access_token"), 0);

    // Another process asks the hub, which refreshes with the stored token.
    let other = p.hub_client(&hub).token(&key).unwrap();
    assert_ne!(other.expose(), auth.access_token.expose());
    assert_eq!(hub.count("/client/access_token"), 1);
    assert_eq!(p.fake.authorizer_token_calls("wx_redirected"), 1);
}

#[test]
fn invalid_refresh_token_says_authorize_again() {
    let p = platform(&[]);
    p.fake.add_authorizer(COMPONENT, AUTHORIZER);
    p.store
        .save(COMPONENT, AUTHORIZER, &Secret::new("REFRESH_stale"))
        .unwrap();
    let err = p
        .client()
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap_err();
    assert_eq!(err.errcode(), Some(61023));
    assert!(err.needs_reauthorization());
    assert!(
        err.to_string()
            .contains("must authorize the platform again"),
        "{err}"
    );

    let err = p
        .client()
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid("wx_unknown"))
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("must authorize the platform"),
        "{err}"
    );
}

#[test]
fn verify_ticket_and_secret_errors_are_clear() {
    let p = platform(&[AUTHORIZER]);
    let key = TokenKey::component_access_token(COMPONENT);

    let no_ticket = common::builder(&p.fake)
        .token_source(
            ComponentSource::new(COMPONENT, COMPONENT_SECRET, |_: &str| None, p.store.clone())
                .base_url(p.fake.url()),
        )
        .build()
        .unwrap();
    let err = no_ticket.token(&key).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }));
    assert!(
        err.to_string().contains("no component_verify_ticket"),
        "{err}"
    );

    p.tickets.set(COMPONENT, "ticket@@@wrong");
    assert_eq!(p.client().token(&key).unwrap_err().errcode(), Some(61006));
    p.tickets.set(COMPONENT, "ticket@@@1");
    p.fake.expire_verify_ticket(COMPONENT);
    let err = p.client().token(&key).unwrap_err();
    assert_eq!(err.errcode(), Some(61005));
    assert!(err.to_string().contains("wait for WeChat's next push"));
    p.fake.push_verify_ticket(COMPONENT, "ticket@@@1");

    let wrong = common::builder(&p.fake)
        .token_source(
            ComponentSource::new(COMPONENT, "wrong", p.tickets.clone(), p.store.clone())
                .base_url(p.fake.url()),
        )
        .build()
        .unwrap();
    assert_eq!(wrong.token(&key).unwrap_err().errcode(), Some(40125));
    assert!(p.client().token(&key).is_ok());

    // A component appid used as an official account.
    let as_account = common::builder(&p.fake)
        .appid(COMPONENT)
        .token_source(weixin::SecretSource::new(COMPONENT, COMPONENT_SECRET).base_url(p.fake.url()))
        .build()
        .unwrap();
    let err = as_account.request("/cgi-bin/a").unwrap_err();
    assert_eq!(err.errcode(), Some(61024));
    assert!(err.to_string().contains("api_component_token"), "{err}");
}

#[test]
fn expired_component_and_authorizer_tokens_are_refreshed_once() {
    let p = platform(&[AUTHORIZER]);
    let client = p.client();
    let info = || {
        client.request(
            RequestOptions::post("/cgi-bin/component/api_get_authorizer_info")
                .json(serde_json::json!({"authorizer_appid": AUTHORIZER})),
        )
    };
    info().unwrap();
    p.fake.fail_next(
        "/cgi-bin/component/api_get_authorizer_info",
        42001,
        "expired",
        1,
    );
    info().unwrap();
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 2);

    client
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    p.fake.invalidate_current(AUTHORIZER);
    client
        .request(RequestOptions::get("/cgi-bin/a").authorizer_appid(AUTHORIZER))
        .unwrap();
    assert_eq!(p.fake.authorizer_token_calls(AUTHORIZER), 2);
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 2);

    p.fake.fail_next(
        "/cgi-bin/component/api_get_authorizer_info",
        40001,
        "invalid",
        3,
    );
    // One more refresh goes through; the next would exceed the refresh
    // limit's burst (a fetch and two refreshes within seconds).
    let err = info().unwrap_err();
    assert!(err.is_refresh_limited(), "{err}");
    assert_eq!(
        p.fake.count("/cgi-bin/component/api_component_token"),
        3,
        "the burst"
    );
}

fn slow_authorizer_does_not_block_others(p: &Platform, client: &Client) {
    client
        .token(&TokenKey::component_access_token(COMPONENT))
        .unwrap();
    // The fake keeps wx_slow's refresh waiting until the test releases it:
    // the calls for wx_fast below must complete while it is still held.
    let hold = p.fake.hold_authorizer(COMPONENT, "wx_slow");
    let slow_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            client
                .request(RequestOptions::get("/cgi-bin/a").authorizer_appid("wx_slow"))
                .unwrap();
            slow_done.store(true, Ordering::SeqCst);
        });
        // Hang guard only: the slow refresh is under way within milliseconds.
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.fake.authorizer_token_calls("wx_slow") == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..3 {
            client
                .request(RequestOptions::get("/cgi-bin/a").authorizer_appid("wx_fast"))
                .unwrap();
        }
        assert!(
            !slow_done.load(Ordering::SeqCst),
            "the held refresh cannot have finished"
        );
        assert_eq!(
            p.fake.count("/cgi-bin/a"),
            3,
            "wx_fast's calls went through"
        );
        hold.release();
    });
    assert!(slow_done.load(Ordering::SeqCst));
    assert_eq!(p.fake.count("/cgi-bin/a"), 4);
}

#[test]
fn a_slow_authorizer_refresh_does_not_delay_another_direct() {
    let p = platform(&["wx_slow", "wx_fast"]);
    slow_authorizer_does_not_block_others(&p, &p.client());
}

#[test]
fn a_slow_authorizer_refresh_does_not_delay_another_via_hub() {
    let p = platform(&["wx_slow", "wx_fast"]);
    let hub = FakeHub::start(p.source()).unwrap();
    slow_authorizer_does_not_block_others(&p, &p.hub_client(&hub));
}

/// OAuth2 and code2session of an authorizer go through the platform with
/// the same helpers: the component token and `component_appid` instead of
/// a secret, and the same single-use codes.
#[test]
fn logins_through_the_platform() {
    let p = platform(&[AUTHORIZER]);
    let client = p.client();
    let oauth = OAuth::new(AUTHORIZER).component(COMPONENT);
    assert_eq!(
        oauth
            .authorize_url("https://shop.example/cb", Scope::UserInfo, "st")
            .unwrap(),
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx_authorizer_a\
         &redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code\
         &scope=snsapi_userinfo&state=st&component_appid=wx_component_1#wechat_redirect"
    );
    let code = p.fake.oauth_code(AUTHORIZER, "o_shopper");
    let user = oauth.exchange_code(&client, &code).unwrap();
    assert_eq!(user.openid, "o_shopper");
    let (query, _) = p.last("/sns/oauth2/component/access_token");
    assert_eq!(
        names(&query),
        [
            "code",
            "grant_type",
            "appid",
            "component_appid",
            "component_access_token"
        ]
    );
    assert_eq!(
        oauth.exchange_code(&client, &code).unwrap_err().errcode(),
        Some(40163)
    );
    let renewed = oauth.refresh(&client, &user.refresh_token).unwrap();
    let (query, _) = p.last("/sns/oauth2/component/refresh_token");
    assert_eq!(
        names(&query),
        [
            "grant_type",
            "refresh_token",
            "appid",
            "component_appid",
            "component_access_token"
        ]
    );
    assert!(oauth.check(&client, &renewed).unwrap());
    assert_eq!(
        oauth
            .user_info(&client, &renewed, weixin::Lang::ZhCn)
            .unwrap()
            .openid,
        "o_shopper"
    );

    let mini = MiniProgram::new(AUTHORIZER).component(COMPONENT);
    let session = mini
        .code2session(&client, &p.fake.js_code(AUTHORIZER, "o_shopper"))
        .unwrap();
    assert_eq!(session.openid, "o_shopper");
    let (query, _) = p.last("/sns/component/jscode2session");
    assert_eq!(
        names(&query),
        [
            "js_code",
            "grant_type",
            "appid",
            "component_appid",
            "component_access_token"
        ]
    );
    // The phone number carries the authorizer's own token.
    let phone = mini
        .phone_number(&client, &p.fake.phone_code(AUTHORIZER, "13800138000"))
        .unwrap();
    assert_eq!(phone.pure_phone_number, "13800138000");
    let (query, _) = p.last("/wxa/business/getuserphonenumber");
    assert_eq!(names(&query), ["access_token"]);
    assert!(query[0].1.starts_with("AUTHORIZER_"));

    assert_eq!(p.fake.count("/cgi-bin/token"), 0);
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 1);
    assert!(p
        .fake
        .received()
        .iter()
        .all(|r| r.param("secret").is_none()));
}

#[test]
fn a_platforms_token_calls_go_to_the_backup_when_its_base_cannot_be_reached() {
    let p = platform(&[AUTHORIZER]);
    let source = ComponentSource::new(
        COMPONENT,
        COMPONENT_SECRET,
        p.tickets.clone(),
        p.store.clone(),
    );
    let client = Client::builder()
        .appid(COMPONENT)
        .base_url(weixin::testing::refused_url().unwrap())
        .backup_base_urls([p.fake.url()])
        .token_source(source)
        .build()
        .unwrap();
    client
        .request(RequestOptions::get("/cgi-bin/user/get").authorizer_appid(AUTHORIZER))
        .unwrap();
    for path in [
        "/cgi-bin/component/api_component_token",
        "/cgi-bin/component/api_authorizer_token",
        "/cgi-bin/user/get",
    ] {
        assert_eq!(p.fake.count(path), 1, "{path}");
    }
}
