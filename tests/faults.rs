//! The fake WeChat's fault switches (every token rejected, every call
//! busy) and the round-robin `Balancer` the chaos run puts in front of
//! hub replicas.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use weixin::testing::{refused_url, Balancer, SilentServer, StubServer};
use weixin::{Client, ErrorKind, HubSource, TokenKey};

use crate::common::{self, APPID};

#[test]
fn rejecting_tokens_answers_40001_and_revokes_nothing() {
    let fake = common::fake();
    // Room for the window's two refreshes and the invalidation's one.
    let client = common::builder(&fake)
        .token_source(common::secret_source(&fake))
        .refresh_limit(weixin::RefreshLimit::new(
            5,
            std::time::Duration::from_secs(30),
        ))
        .build()
        .unwrap();
    client.request("/cgi-bin/a").unwrap();
    fake.reject_tokens(true);
    let err = client.request("/cgi-bin/a").unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(
        fake.count("/cgi-bin/token"),
        3,
        "two refreshes, each rejected too"
    );
    fake.reject_tokens(false);
    // The token fetched inside the window works once it is over.
    client.request("/cgi-bin/a").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 3);
    // A window does not bring revoked tokens back.
    fake.invalidate_current(APPID);
    fake.reject_tokens(true);
    fake.reject_tokens(false);
    client.request("/cgi-bin/a").unwrap();
    assert_eq!(
        fake.count("/cgi-bin/token"),
        4,
        "the revoked token was refreshed"
    );
}

#[test]
fn busy_answers_minus_one_after_the_token_check_and_spares_tokens() {
    let fake = common::fake();
    let client = common::direct(&fake);
    fake.busy(true);
    let err = client.request("/cgi-bin/a").unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(fake.count("/cgi-bin/a"), 4, "the call and 3 busy retries");
    assert_eq!(
        fake.count("/cgi-bin/token"),
        1,
        "the token endpoint is not busy"
    );
    fake.reject_tokens(true);
    let err = client.request("/cgi-bin/a").unwrap_err();
    assert_eq!(err.errcode(), Some(40001), "the token is checked first");
    fake.reject_tokens(false);
    fake.busy(false);
    client.request("/cgi-bin/a").unwrap();
}

#[test]
fn balancer_goes_round_robin() {
    let stubs: Vec<StubServer> = (0..3)
        .map(|_| StubServer::start(200, "application/json", "{}").unwrap())
        .collect();
    let lb = Balancer::start(stubs.iter().map(StubServer::url).collect()).unwrap();
    for _ in 0..6 {
        ureq::get(&format!("{}/healthz", lb.url())).call().unwrap();
    }
    let counts: Vec<usize> = stubs.iter().map(StubServer::requests).collect();
    assert_eq!(counts, vec![2, 2, 2]);
    assert_eq!((lb.forwarded(), lb.retried(), lb.failed()), (6, 0, 0));
}

/// A client whose WeChat and token source both sit behind the balancer:
/// queries, JSON bodies and POSTs go through unchanged.
#[test]
fn balancer_forwards_requests_whole_and_skips_a_refused_backend() {
    let fake = common::fake();
    let lb = Balancer::start(vec![refused_url().unwrap(), fake.url()]).unwrap();
    let port: u16 = lb.url().rsplit(':').next().unwrap().parse().unwrap();
    let client = Client::builder()
        .appid(APPID)
        .scheme("http")
        .host("127.0.0.1")
        .port(port)
        .token_source(weixin::SecretSource::new(APPID, common::SECRET).base_url(lb.url()))
        .build()
        .unwrap();
    let resp = client
        .request(
            weixin::RequestOptions::post("/cgi-bin/echo")
                .query("q", "a b&c=d")
                .json(serde_json::json!({"k": "v"})),
        )
        .unwrap();
    let json = resp.json().unwrap();
    assert_eq!(json["query"]["q"], "a b&c=d");
    assert_eq!(json["json"]["k"], "v");
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert!(lb.retried() >= 1, "the refused backend's turn went on");
}

/// A client of the hubs behind `lb`.
fn client_of(lb: &Balancer) -> Client {
    Client::builder()
        .appid(APPID)
        .token_source(HubSource::new(lb.url()).unwrap())
        .build()
        .unwrap()
}

/// The hub's POST refresh is replayed on the next hub when one is down.
#[test]
fn balancer_replays_hub_refreshes_on_the_next_backend() {
    let fake = common::fake();
    let hub = common::hub(&fake);
    let lb = Balancer::start(vec![refused_url().unwrap(), hub.url()]).unwrap();
    let client = client_of(&lb);
    let key = TokenKey::access_token(APPID);
    let first = client.token(&key).unwrap();
    let second = client.refreshed_token(&key, &first).unwrap();
    assert_ne!(first.expose(), second.expose());
    assert_eq!(hub.count("/refresh/access_token"), 1);
}

/// A backend that reads the request and dies halfway through its answer.
fn dying_backend() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            // ok because the answer is cut short on purpose either way
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"acc");
        }
    });
    url
}

#[test]
fn balancer_tries_the_next_backend_on_a_cut_answer_or_a_timeout() {
    let silent = SilentServer::start().unwrap();
    let good = StubServer::start(200, "application/json", r#"{"ok":1}"#).unwrap();
    let lb = Balancer::start(vec![dying_backend(), silent.url(), good.url()]).unwrap();
    // Long enough that the good backend always answers within it, even on
    // a loaded machine (the silent one costs it twice).
    lb.set_timeout(Duration::from_secs(1));
    for _ in 0..3 {
        let mut resp = ureq::get(&format!("{}/x", lb.url())).call().unwrap();
        assert_eq!(resp.body_mut().read_to_string().unwrap(), r#"{"ok":1}"#);
    }
    assert_eq!(good.requests(), 3);
    assert_eq!(lb.retried(), 3, "2 + 1 + 0 tries past the broken ones");
}

#[test]
fn balancer_answers_502_when_every_backend_fails_and_takes_new_backends() {
    let lb = Balancer::start(vec![refused_url().unwrap(), refused_url().unwrap()]).unwrap();
    let client = client_of(&lb);
    let key = TokenKey::access_token(APPID);
    let err = client.token(&key).unwrap_err();
    match err.kind() {
        ErrorKind::Hub { reason, status, .. } => {
            assert_eq!((reason.as_str(), *status), ("bad_gateway", 502))
        }
        other => panic!("expected the balancer's 502, got {other:?}"),
    }
    assert_eq!(lb.failed(), 1);

    let fake = common::fake();
    let hub = common::hub(&fake);
    lb.set_backend(1, hub.url());
    assert_eq!(lb.backends()[1], hub.url());
    client.token(&key).unwrap();
}
