//! Hub replicas on one Redis hear each other: `unauthorized` pushed to one
//! stops every other at once (not when its cache's bound runs out), even
//! against a refresh in flight on another; and the keys served survive a
//! restart, so a hub started later refreshes them ahead with no client
//! asking.
//!
//! These tests run on Redis at 127.0.0.1:6379 and on the test binary's
//! Redis Cluster, and fail, never skip, without `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use weixin::hub::{HubHandler, HubRequest, HubServer};
use weixin::store::{FileStore, MemoryStore, Store};
use weixin::testing::FakeWechat;
use weixin::{Clock, ManualClock, Secret, TicketType, TokenKey};

use crate::common::cluster::{cluster, each, Topology, REDIS};
use crate::common::process::{self, wait_until};
use crate::common::{self, APPID, SECRET};
use crate::hub_http::Served;
use crate::hub_platform::{
    callback_crypto, encrypted_push_parts, unauthorized_xml, COMPONENT, SECRET as COMPONENT_SECRET,
};

/// The error every replica answers for an authorizer that revoked, when
/// asked to `fetch` or `refresh` its token.
fn not_authorized(verb: &str) -> String {
    format!(
        "could not {verb} the access_token of authorizer wx_leaving (platform wx_platform) from \
         the store source: invalid request: authorizer wx_leaving has not authorized platform \
         wx_platform, or revoked it: the hub holds no authorizer_refresh_token for it"
    )
}

/// The counter a replica's `/metrics` shows removals heard on.
const HEARD: &str = "wechat_hub_authorizer_removals_heard_total";

/// A platform with two authorizers on the fake, its verify ticket and
/// their refresh tokens in the store on `topology` under `prefix`.
fn platform(topology: Topology, prefix: &str) -> FakeWechat {
    let fake = FakeWechat::start().unwrap();
    fake.register_component(COMPONENT, COMPONENT_SECRET);
    fake.push_verify_ticket(COMPONENT, "ticket-1");
    let store = topology.open(prefix);
    store
        .put_verify_ticket(COMPONENT, &Secret::new("ticket-1"))
        .unwrap();
    for authorizer in ["wx_leaving", "wx_staying"] {
        let refresh = fake.add_authorizer(COMPONENT, authorizer);
        store
            .put_refresh_token(COMPONENT, authorizer, &Secret::new(refresh))
            .unwrap();
    }
    fake
}

/// A replica serving the platform over HTTP. Its cache re-reads the store
/// only after an hour: a replica that stops serving an authorizer sooner
/// was told.
fn replica(topology: Topology, fake: &FakeWechat, prefix: &str) -> Served {
    let handler = HubHandler::builder()
        .component(COMPONENT, COMPONENT_SECRET)
        .component_callback(callback_crypto())
        .upstream(fake.url())
        .store(topology.open(prefix))
        .max_staleness(Duration::from_secs(3600))
        .refresh_ahead(None)
        .build()
        .unwrap();
    Served::start(HubServer::bind("127.0.0.1:0", handler).unwrap())
}

/// `(status, body)` of a GET, or with a body a POST, over HTTP.
fn call(url: &str, body: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let answer = match body {
        Some(body) => agent.post(url).send(body),
        None => agent.get(url).call(),
    };
    let mut answer = answer.expect("the hub answers");
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().expect("body"))
}

/// The authorizer's access token from `hub`, or its error body.
fn token_of(hub: &Served, authorizer: &str) -> (u16, Value) {
    let url = format!(
        "{}/client/access_token?appid={COMPONENT}&authorizer_appid={authorizer}",
        hub.url()
    );
    let (status, body) = call(&url, None);
    (status, serde_json::from_str(&body).expect("json"))
}

/// WeChat pushes `unauthorized` for `wx_leaving` to `hub`.
fn push_unauthorized(hub: &Served) {
    let (target, body) = encrypted_push_parts(&unauthorized_xml("wx_leaving"));
    let (status, answer) = call(&format!("{}{target}", hub.url()), Some(&body));
    assert_eq!((status, answer.as_str()), (200, "success"));
}

/// The store under `prefix` holds neither `wx_leaving`'s token nor its
/// refresh token.
fn assert_gone_from_the_store(topology: Topology, prefix: &str) {
    let store = topology.open(prefix);
    let key = TokenKey::access_token(COMPONENT).for_authorizer("wx_leaving");
    assert_eq!(store.get_token(&key).unwrap(), None);
    assert_eq!(
        store.get_refresh_token(COMPONENT, "wx_leaving").unwrap(),
        None
    );
}

fn assert_not_authorized(name: &str, verb: &str, (status, body): (u16, Value)) {
    assert_eq!(
        (status, &body["reason"], &body["message"]),
        (400, &"invalid_request".into(), &not_authorized(verb).into()),
        "{name}: {body}"
    );
}

/// On a cluster, each hub listens on a node of its own choosing:
/// `PUBLISH` reaches every node.
#[test]
fn unauthorized_pushed_to_one_hub_is_seen_by_the_others_at_once() {
    each(unauthorized_is_seen_by_the_others_at_once);
}

fn unauthorized_is_seen_by_the_others_at_once(topology: Topology) {
    let prefix = process::unique_prefix("unauthorized_at_once");
    let fake = platform(topology, &prefix);
    let hubs: Vec<Served> = (0..3).map(|_| replica(topology, &fake, &prefix)).collect();
    let mut served = Vec::new();
    for hub in &hubs {
        for authorizer in ["wx_leaving", "wx_staying"] {
            let (status, body) = token_of(hub, authorizer);
            assert_eq!(status, 200, "{body}");
            served.push(body["access_token"].as_str().unwrap().to_string());
        }
    }
    assert!(
        served.chunks(2).all(|pair| pair == &served[..2]),
        "one token each, from the store"
    );
    let leaving_calls = fake.authorizer_token_calls("wx_leaving");
    let staying_calls = fake.authorizer_token_calls("wx_staying");
    assert_eq!((leaving_calls, staying_calls), (1, 1));

    push_unauthorized(&hubs[0]);
    for hub in &hubs[1..] {
        wait_until("the removal is heard", || hub.metric(HEARD) >= 1.0);
    }
    for (name, hub) in ["a", "b", "c"].iter().zip(&hubs) {
        assert_not_authorized(name, "fetch", token_of(hub, "wx_leaving"));
        let (status, body) = token_of(hub, "wx_staying");
        assert_eq!(
            (status, &body["access_token"]),
            (200, &served[1].as_str().into()),
            "{name}"
        );
    }
    assert_eq!(
        fake.authorizer_token_calls("wx_leaving"),
        leaving_calls,
        "no upstream call"
    );
    assert_eq!(fake.authorizer_token_calls("wx_staying"), staying_calls);
    assert_gone_from_the_store(topology, &prefix);
    assert!(topology
        .open(&prefix)
        .get_refresh_token(COMPONENT, "wx_staying")
        .unwrap()
        .is_some());
}

#[test]
fn a_refresh_in_flight_on_another_hub_cannot_bring_a_removed_authorizer_back() {
    each(a_refresh_in_flight_cannot_bring_a_removed_authorizer_back);
}

fn a_refresh_in_flight_cannot_bring_a_removed_authorizer_back(topology: Topology) {
    let prefix = process::unique_prefix("unauthorized_in_flight");
    let fake = platform(topology, &prefix);
    let (a, b) = (
        replica(topology, &fake, &prefix),
        replica(topology, &fake, &prefix),
    );
    let (status, body) = token_of(&b, "wx_leaving");
    assert_eq!(status, 200, "{body}");
    let stale = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(fake.authorizer_token_calls("wx_leaving"), 1);

    // WeChat rejected the token: b refreshes it, and the fake holds the
    // refresh open.
    let hold = fake.hold_authorizer(COMPONENT, "wx_leaving");
    let refresh = format!(
        r#"{{"appid":"{COMPONENT}","authorizer_appid":"wx_leaving","access_token":"{stale}"}}"#
    );
    let url = format!("{}/refresh/access_token", b.url());
    let in_flight = std::thread::spawn(move || call(&url, Some(&refresh)));
    wait_until("b's refresh reaches WeChat", || {
        fake.authorizer_token_calls("wx_leaving") == 2
    });

    push_unauthorized(&a);
    wait_until("b hears the removal", || b.metric(HEARD) >= 1.0);
    hold.release();
    let (status, body) = in_flight.join().unwrap();
    assert_not_authorized(
        "b's refresh",
        "refresh",
        (status, serde_json::from_str(&body).unwrap()),
    );

    // WeChat rotated the refresh token for b's call; the store kept
    // neither it nor the token fetched.
    assert_gone_from_the_store(topology, &prefix);
    for (name, hub) in [("a", &a), ("b", &b)] {
        assert_not_authorized(name, "fetch", token_of(hub, "wx_leaving"));
    }
    assert_eq!(fake.authorizer_token_calls("wx_leaving"), 2);
}

/// `put_served`, `served_keys` and `remove_authorizer` on one store.
fn served_keys_are_kept_pruned_and_removed(store: &dyn Store) {
    let now = 1_800_000_000;
    let account = TokenKey::access_token(APPID);
    let ticket = TokenKey::ticket(APPID, TicketType::Jsapi);
    let authorizer = TokenKey::access_token(COMPONENT).for_authorizer("wx_leaving");
    let old = TokenKey::access_token("wx_idle");
    store.put_served(&account, now - 10).unwrap();
    store.put_served(&account, now).unwrap();
    store.put_served(&account, now - 20).unwrap();
    store.put_served(&ticket, now).unwrap();
    store.put_served(&authorizer, now).unwrap();
    store.put_served(&old, now - 100).unwrap();
    let sorted = |mut keys: Vec<(TokenKey, u64)>| {
        keys.sort_by_key(|(k, _)| format!("{k:?}"));
        keys
    };
    assert_eq!(
        sorted(store.served_keys(now - 50).unwrap()),
        sorted(vec![
            (account.clone(), now),
            (ticket.clone(), now),
            (authorizer, now)
        ]),
        "the latest time wins; one not served since is left out"
    );
    assert!(
        !store.served_keys(0).unwrap().iter().any(|(k, _)| *k == old),
        "and forgotten"
    );
    store.remove_authorizer(COMPONENT, "wx_leaving").unwrap();
    store.forget_served(&[ticket]).unwrap();
    assert_eq!(store.served_keys(0).unwrap(), vec![(account, now)]);
}

#[test]
fn every_store_keeps_the_keys_served() {
    served_keys_are_kept_pruned_and_removed(&MemoryStore::new());
    let path = common::temp_dir("served").join("store.json");
    served_keys_are_kept_pruned_and_removed(&FileStore::open(&path).unwrap());
    let again = FileStore::open(&path).unwrap();
    assert_eq!(again.served_keys(0).unwrap().len(), 1, "in its file");
    crate::common::cluster::each(|topology| {
        served_keys_are_kept_pruned_and_removed(&topology.open(&process::unique_prefix("served")));
    });
}

fn account_hub(
    topology: Topology,
    fake: &FakeWechat,
    prefix: &str,
    clock: Clock,
    accounts: &[&str],
) -> HubHandler {
    let mut builder = HubHandler::builder()
        .upstream(fake.url())
        .store(topology.open(prefix))
        .clock(clock)
        .refresh_ahead(None);
    for appid in accounts {
        builder = builder.account(*appid, format!("SECRET_{appid}"));
    }
    builder.build().unwrap()
}

#[test]
fn a_hub_started_later_refreshes_ahead_what_an_earlier_one_served() {
    each(a_hub_started_later_refreshes_ahead_what_was_served);
}

fn a_hub_started_later_refreshes_ahead_what_was_served(topology: Topology) {
    const OTHER: &str = "wx_other_app";
    let fake = FakeWechat::start().unwrap();
    fake.register(APPID, &format!("SECRET_{APPID}"));
    fake.register(OTHER, &format!("SECRET_{OTHER}"));
    let prefix = process::unique_prefix("served_restart");
    let clock = ManualClock::starting_now();
    let first = account_hub(topology, &fake, &prefix, clock.clock(), &[APPID, OTHER]);
    for target in [
        format!("/client/access_token?appid={APPID}"),
        format!("/client/ticket?appid={APPID}&type=jsapi"),
        format!("/client/access_token?appid={OTHER}"),
    ] {
        let resp = first.handle(&HubRequest::new("GET", &target));
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    }
    drop(first);
    let tokens = || fake.count("/cgi-bin/token");
    let tickets = || fake.count("/cgi-bin/ticket/getticket");
    assert_eq!((tokens(), tickets()), (2, 1));

    // A new hub, configured without OTHER, on the same Redis: no client
    // asks it for anything.
    let second = account_hub(topology, &fake, &prefix, clock.clock(), &[APPID]);
    assert_eq!(second.refresh_due(), 0, "not due yet");
    let served: Vec<TokenKey> = topology
        .open(&prefix)
        .served_keys(0)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(served.len(), 2, "OTHER is forgotten: {served:?}");
    assert!(!served.contains(&TokenKey::access_token(OTHER)));
    // Both due (in the 300 s before they stop being served), the token
    // still served to the ticket's fetch.
    clock.advance(Duration::from_secs(7_200 - 301));
    assert_eq!(second.refresh_due(), 2, "the token and the ticket");
    assert_eq!((tokens(), tickets()), (3, 2));
    assert_eq!(second.refresh_due(), 0);
}

#[test]
fn keys_served_before_the_bound_are_not_refreshed_ahead() {
    each(keys_served_before_the_bound_are_not_refreshed);
}

fn keys_served_before_the_bound_are_not_refreshed(topology: Topology) {
    let fake = common::fake();
    let prefix = process::unique_prefix("served_long_ago");
    let clock = ManualClock::starting_now();
    let first = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .store(topology.open(&prefix))
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let target = format!("/client/access_token?appid={APPID}");
    assert_eq!(first.handle(&HubRequest::new("GET", &target)).status, 200);
    drop(first);
    // Eight days later: a week is the bound.
    clock.advance(Duration::from_secs(8 * 86_400));
    let store = Arc::new(topology.open(&prefix));
    let second = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .store(store.clone())
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    assert_eq!(second.refresh_due(), 0);
    assert_eq!(store.served_keys(0).unwrap(), vec![]);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

/// On a cluster the subscriptions are on the first seed node.
#[test]
fn a_replica_whose_subscription_is_lost_counts_it_and_listens_again() {
    each(a_replica_whose_subscription_is_lost_listens_again);
}

fn a_replica_whose_subscription_is_lost_listens_again(topology: Topology) {
    let prefix = process::unique_prefix("watch_lost");
    let fake = platform(topology, &prefix);
    let (a, b) = (
        replica(topology, &fake, &prefix),
        replica(topology, &fake, &prefix),
    );
    assert_eq!(token_of(&b, "wx_leaving").0, 200);
    let errors = "wechat_hub_store_watch_errors_total";
    assert_eq!(b.metric(errors), 0.0);

    // Redis drops both replicas' subscriptions (named after the prefix),
    // wherever they are.
    let urls = match topology {
        Topology::Single => vec![REDIS.to_string()],
        Topology::Cluster => cluster()
            .nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect(),
    };
    let cons: Vec<std::sync::Mutex<redis::Connection>> = urls
        .iter()
        .map(|url| {
            let client = redis::Client::open(url.as_str()).unwrap();
            std::sync::Mutex::new(
                client
                    .get_connection_with_timeout(Duration::from_secs(2))
                    .unwrap(),
            )
        })
        .collect();
    let name = format!("name={prefix}watch ");
    // Per server, the lines of `CLIENT LIST` naming the subscriptions.
    let subscriptions = || -> Vec<Vec<String>> {
        cons.iter()
            .map(|con| {
                redis::cmd("CLIENT")
                    .arg("LIST")
                    .query::<String>(&mut *con.lock().unwrap())
                    .unwrap()
                    .lines()
                    .filter(|l| l.contains(&name))
                    .map(String::from)
                    .collect()
            })
            .collect()
    };
    let before = subscriptions();
    assert_eq!(
        before.iter().map(Vec::len).collect::<Vec<_>>(),
        match topology {
            Topology::Single => vec![2],
            Topology::Cluster => vec![2, 0, 0, 0, 0, 0],
        },
        "one subscription per replica, on the first seed: {before:?}"
    );
    for (con, lines) in cons.iter().zip(&before) {
        for line in lines {
            let id = line
                .split_whitespace()
                .next()
                .and_then(|f| f.strip_prefix("id="))
                .unwrap();
            let _: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query(&mut *con.lock().unwrap())
                .unwrap();
        }
    }
    wait_until("b counts the lost subscription", || b.metric(errors) >= 1.0);
    wait_until("b listens again", || {
        let now = subscriptions();
        let listening =
            |lines: &Vec<String>| lines.iter().filter(|l| l.contains("cmd=subscribe")).count();
        // On the same server: it still answers.
        listening(&now[0]) == 2
    });

    push_unauthorized(&a);
    wait_until("the removal is heard", || b.metric(HEARD) >= 1.0);
    assert_not_authorized("b", "fetch", token_of(&b, "wx_leaving"));
}
