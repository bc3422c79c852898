//! The process-wide client behind `weixin::request`. Its state is global to
//! the test binary, whose tests run in parallel: every use of it is in the
//! one test below (its later parts in the functions it calls).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use weixin::testing::{FakeHub, StubServer};
use weixin::{
    Client, Context, ErrorKind, HubSource, RequestOptions, SecretSource, Token, TokenKey,
    TokenSource,
};

use crate::common::{self, APPID, SECRET};

/// A hub's tokens for any appid, minted without WeChat and marked with
/// the hub's name.
#[derive(Debug)]
struct Minted {
    hub: &'static str,
    n: AtomicU64,
}

impl TokenSource for Minted {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        Ok(Token::new(
            format!("{}_{}_{n}", self.hub, key.appid()),
            7200,
        ))
    }
}

fn minted_hub(hub: &'static str) -> FakeHub {
    FakeHub::start(Minted {
        hub,
        n: AtomicU64::new(0),
    })
    .unwrap()
}

/// How many times `hub` was asked for `appid`'s access token.
fn fetches(hub: &FakeHub, appid: &str) -> usize {
    hub.received()
        .iter()
        .filter(|r| r.path == "/client/access_token" && r.param("appid") == Some(appid))
        .count()
}

#[test]
fn the_process_wide_client_keeps_what_was_set_before() {
    let fake = common::fake();
    // The settings each configure below starts from, with no token source.
    let settings = || Client::builder().appid(APPID).base_url(fake.url());

    // Configured first, the token source set after: the appid and the base
    // URL stay.
    weixin::configure(settings()).unwrap();
    weixin::set_token_source(SecretSource::new(APPID, SECRET));
    let resp = weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(resp.json().unwrap()["appid"], APPID);
    assert_eq!(fake.count("/cgi-bin/global"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // The source set again: the cached token stays.
    weixin::set_token_source(SecretSource::new(APPID, SECRET));
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // Configured again without a source: the source set before stays, and
    // so does the token (the cache is made the same way).
    weixin::configure(settings().timeout(Duration::from_secs(10))).unwrap();
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/global"), 3);
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // A call's own appid, host and port; a call that needs no token.
    let resp = weixin::request(
        RequestOptions::get("/cgi-bin/global")
            .appid(APPID)
            .scheme("http")
            .host("127.0.0.1")
            .port(fake.port()),
    )
    .unwrap();
    assert_eq!(resp.json().unwrap()["appid"], APPID);
    let err = weixin::request(format!("{}/sns/auth", fake.url())).unwrap_err();
    assert_eq!(err.errcode(), Some(41001), "no token was added");
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    // A bad configuration changes nothing.
    assert!(weixin::configure(Client::builder().base_url("nowhere")).is_err());
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/global"), 5);

    // A new cache setting starts a new cache: the token is fetched again.
    weixin::configure(settings().expiry_margin(Duration::from_secs(60))).unwrap();
    weixin::request("/cgi-bin/global").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert!(format!("{:?}", weixin::global_client()).contains(APPID));

    sources_named_per_call_keep_one_cache_each();
    registered_sources_by_name();
}

/// 64 threads over 3 hub URLs and 5 appids through `weixin::request`
/// alone: one fetch per (hub, appid), no token shared between hubs.
fn sources_named_per_call_keep_one_cache_each() {
    const THREADS: usize = 64;
    let api = StubServer::start(200, "application/json", r#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
    weixin::configure(Client::builder().base_url(api.url())).unwrap();
    let hubs = [minted_hub("A"), minted_hub("B"), minted_hub("C")];
    let appids = ["wx_g1", "wx_g2", "wx_g3", "wx_g4", "wx_g5"];
    let gate = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (hubs, gate) = (&hubs, &gate);
            s.spawn(move || {
                gate.wait();
                // i + t runs over 15 numbers in a row: every (hub, appid)
                // pair once, each thread starting at another pair.
                for i in 0..15 {
                    let call = RequestOptions::post("/cgi-bin/x")
                        .appid(appids[(i + t) % 5])
                        .source(hubs[(i + t) % 3].url());
                    weixin::request(call).unwrap();
                }
            });
        }
    });
    for hub in &hubs {
        for appid in appids {
            assert_eq!(fetches(hub, appid), 1, "{hub:?} {appid}");
        }
    }
    assert_eq!(api.requests(), THREADS * 15);
    let tokens: HashSet<String> = api
        .received()
        .iter()
        .map(|r| r.param("access_token").unwrap().to_string())
        .collect();
    assert_eq!(tokens.len(), 15, "one token per (hub, appid): {tokens:?}");

    // The same hub spelled with a trailing `/` shares its tokens; the
    // process-wide source is not asked.
    let call = RequestOptions::post("/cgi-bin/x")
        .appid("wx_g1")
        .source(format!("{}/", hubs[0].url()));
    weixin::request(call).unwrap();
    assert_eq!(fetches(&hubs[0], "wx_g1"), 1);
    // New cache settings: each source's cache starts afresh, the two
    // spellings of one hub still sharing one.
    weixin::configure(
        Client::builder()
            .base_url(api.url())
            .expiry_margin(Duration::from_secs(60)),
    )
    .unwrap();
    for source in [format!("{}/", hubs[0].url()), hubs[0].url()] {
        let call = RequestOptions::post("/cgi-bin/x")
            .appid("wx_g1")
            .source(source);
        weixin::request(call).unwrap();
    }
    assert_eq!(fetches(&hubs[0], "wx_g1"), 2);
    let client = weixin::source_client(&hubs[1].url()).unwrap();
    assert!(client
        .token(&TokenKey::access_token("wx_g2"))
        .unwrap()
        .expose()
        .starts_with("B_wx_g2_"));
    assert_eq!(fetches(&hubs[1], "wx_g2"), 2);
}

/// A source registered under a name: found by it, its secrets never
/// printed; an unknown name or a name shaped like a URL is refused.
fn registered_sources_by_name() {
    let api = StubServer::start(200, "application/json", r#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
    weixin::configure(Client::builder().base_url(api.url())).unwrap();
    let hub = FakeHub::start_with_bearer(
        Minted {
            hub: "V",
            n: AtomicU64::new(0),
        },
        "bearer-in-vault",
    )
    .unwrap();
    let named = |name: &str| {
        RequestOptions::get("/cgi-bin/x")
            .appid("wx_g1")
            .source(name)
    };
    weixin::register_source(
        "vault",
        HubSource::new(hub.url()).unwrap().bearer("bearer-in-vault"),
    )
    .unwrap();
    weixin::request(named("vault")).unwrap();
    weixin::request(named("vault")).unwrap();
    assert_eq!(fetches(&hub, "wx_g1"), 1);
    let shown = format!("{:?}", weixin::source_client("vault").unwrap());
    assert!(!shown.contains("bearer-in-vault"), "{shown}");

    let err = weixin::request(named("no-such-source")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    assert!(err.to_string().contains("\"no-such-source\""), "{err}");
    let err = weixin::request(named("http://not a url")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    for bad in ["", "https://hub:4000"] {
        let err = weixin::register_source(bad, HubSource::new(hub.url()).unwrap()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    }

    // Registered again: a new source, a new cache.
    weixin::register_source(
        "vault",
        HubSource::new(hub.url()).unwrap().bearer("bearer-in-vault"),
    )
    .unwrap();
    weixin::request(named("vault")).unwrap();
    assert_eq!(fetches(&hub, "wx_g1"), 2);
}
