//! The fakes as a user's own tests use them: canned answers, every request
//! recorded with its query and body, and a port on every server.

use weixin::testing::{
    refused_url, Balancer, Canned, FakeHub, FakeWechat, SilentServer, StubServer,
};
use weixin::{ErrorKind, HubSource, RequestOptions, SecretSource, TokenKey};

use crate::common::{self, port_of, APPID};

#[test]
fn canned_answers_replace_the_fakes_own_in_order() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.answer(
        "/cgi-bin/user/get",
        Canned::json(serde_json::json!({"total": 1, "next_openid": "o1"})).times(2),
    );
    fake.answer(
        "/cgi-bin/user/get",
        Canned::error(45009, "reach max api daily quota limit").times(1),
    );
    for _ in 0..2 {
        let resp = client.request("/cgi-bin/user/get").unwrap();
        assert_eq!(resp.json().unwrap()["next_openid"], "o1");
    }
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert_eq!(err.errcode(), Some(45009));
    // Used up: the fake's own echo is back.
    let resp = client.request("/cgi-bin/user/get").unwrap();
    assert_eq!(resp.json().unwrap()["path"], "/cgi-bin/user/get");
    assert_eq!(fake.count("/cgi-bin/user/get"), 4);

    // Bytes with a content type and a status, for every call until cleared.
    fake.answer(
        "/cgi-bin/media/get",
        Canned::bytes("audio/amr", b"#!AMR\n".to_vec()),
    );
    for _ in 0..3 {
        let resp = client
            .request(RequestOptions::get("/cgi-bin/media/get").query("media_id", "m"))
            .unwrap();
        assert_eq!(resp.bytes(), b"#!AMR\n");
        assert_eq!(resp.content_type(), Some("audio/amr"));
    }
    fake.clear_answers("/cgi-bin/media/get");
    let err = client
        .request(RequestOptions::get("/cgi-bin/media/get").query("media_id", "m"))
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40007), "the fake's own answer again");
    fake.answer(
        "/cgi-bin/down",
        Canned::bytes("text/html", "<html>bad gateway</html>").status(502),
    );
    let err = client.request("/cgi-bin/down").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HttpStatus { status: 502, .. }),
        "{err:?}"
    );
}

#[test]
fn canned_answers_come_after_the_token_check_on_account_paths() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.answer(
        "/cgi-bin/user/get",
        Canned::json(serde_json::json!({"total": 9})),
    );
    let err = client
        .request(RequestOptions::get("/cgi-bin/user/get").no_token())
        .unwrap_err();
    assert_eq!(
        err.errcode(),
        Some(41001),
        "a call without a token still fails"
    );
    assert_eq!(
        client.request("/cgi-bin/user/get").unwrap().json().unwrap()["total"],
        9
    );
}

#[test]
fn canned_answers_on_the_token_endpoint_reach_the_token_source() {
    let fake = common::fake();
    fake.answer(
        "/cgi-bin/token",
        Canned::error(40164, "invalid ip 10.0.0.1, not in whitelist").times(1),
    );
    let client = common::direct(&fake);
    let err = client.token(&TokenKey::access_token(APPID)).unwrap_err();
    assert_eq!(err.errcode(), Some(40164));
    assert!(err.to_string().contains("whitelist"), "{err}");
    client.token(&TokenKey::access_token(APPID)).unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[test]
fn fake_wechat_records_every_request_with_query_and_body() {
    let fake = common::fake();
    let client = common::direct(&fake);
    for n in 0..3 {
        client
            .request(
                RequestOptions::post("/cgi-bin/message/custom/send")
                    .query("n", n.to_string())
                    .json(serde_json::json!({"touser": format!("o{n}")})),
            )
            .unwrap();
    }
    let all = fake.received();
    assert_eq!(all.len(), 4, "the token fetch and three sends");
    assert_eq!(all[0].path, "/cgi-bin/token");
    let sent = fake.received_on("/cgi-bin/message/custom/send");
    assert_eq!(sent.len(), 3);
    for (n, got) in sent.iter().enumerate() {
        assert_eq!(got.method, "POST");
        assert_eq!(got.param("n"), Some(n.to_string().as_str()));
        assert_eq!(
            got.json,
            Some(serde_json::json!({"touser": format!("o{n}")}))
        );
        assert_eq!(
            got.body,
            serde_json::json!({"touser": format!("o{n}")})
                .to_string()
                .into_bytes()
        );
        assert_eq!(got.header("content-type"), Some("application/json"));
    }
    // Debug shows the request, not its token.
    let token = sent[0].param("access_token").unwrap();
    let shown = format!("{:?}", sent[0]);
    assert!(!shown.contains(token), "{shown}");
    assert!(shown.contains("/cgi-bin/message/custom/send"), "{shown}");
}

#[test]
fn every_fake_server_tells_its_port_and_records_requests() {
    let fake = common::fake();
    assert_eq!(port_of(&fake.url()), fake.port());

    let hub = FakeHub::start(common::secret_source(&fake)).unwrap();
    assert_eq!(port_of(&hub.url()), hub.port());
    let client = common::builder(&fake)
        .token_source(HubSource::new(hub.url()).unwrap())
        .build()
        .unwrap();
    client.token(&TokenKey::access_token(APPID)).unwrap();
    let got = hub.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/client/access_token");
    assert_eq!(got[0].param("appid"), Some(APPID));

    let stub = StubServer::start(200, "application/json", "{}").unwrap();
    assert_eq!(port_of(&stub.url()), stub.port());
    let bare = weixin::Client::builder().build().unwrap();
    for n in 0..2 {
        bare.request(
            RequestOptions::post(format!("{}/hook", stub.url()))
                .no_token()
                .query("n", n.to_string())
                .json(serde_json::json!({"n": n})),
        )
        .unwrap();
    }
    let got = stub.received();
    assert_eq!(got.len(), 2);
    assert_eq!(stub.requests(), 2);
    for (n, r) in got.iter().enumerate() {
        assert_eq!(r.param("n"), Some(n.to_string().as_str()));
        assert_eq!(r.json, Some(serde_json::json!({"n": n})));
    }

    let silent = SilentServer::start().unwrap();
    assert_eq!(port_of(&silent.url()), silent.port());

    let lb = Balancer::start(vec![refused_url().unwrap(), stub.url()]).unwrap();
    assert_eq!(port_of(&lb.url()), lb.port());
    bare.request(
        RequestOptions::post(format!("{}/through", lb.url()))
            .no_token()
            .json(serde_json::json!({"via": "lb"})),
    )
    .unwrap();
    assert_eq!(lb.received()[0].path, "/through");
    let last = stub.received().pop().unwrap();
    assert_eq!(last.path, "/through");
    assert_eq!(last.json, Some(serde_json::json!({"via": "lb"})));
}

#[test]
fn a_fresh_fake_answers_only_what_it_was_told() {
    // A user's first test: a fake with no account registered refuses the
    // secret plainly, and nothing reaches anywhere else.
    let fake = FakeWechat::start().unwrap();
    let client = weixin::Client::builder()
        .appid(APPID)
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .token_source(SecretSource::new(APPID, "s").base_url(fake.url()))
        .build()
        .unwrap();
    let err = client.request("/cgi-bin/user/get").unwrap_err();
    assert_eq!(err.errcode(), Some(40013));
    assert_eq!(fake.received().len(), 1);
}
