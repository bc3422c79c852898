//! The store on a Redis Cluster and its key layout: a slot moved to
//! another primary while an authorizer's refresh is in flight, and the
//! copy of a store written by weixin 0.1 (no hash tags) into this
//! version's names, in code and with `wechat-hub migrate-keys`, on the
//! same Redis and into the cluster.
//!
//! The cluster is the test binary's own (`common::cluster`); the
//! migrations read the Redis at 127.0.0.1:6379. Both fail, never skip,
//! without `redis-server`.

use std::time::Duration;

use serde_json::Value;
use weixin::hub::{HubHandler, HubRequest};
use weixin::store::Store;
use weixin::testing::FakeWechat;
use weixin::{ManualClock, Secret, Token, TokenKey};

use crate::common::cluster::{cluster, each, shared, Topology, REDIS};
use crate::common::process;

const PLATFORM: &str = "wx_cluster_platform";
const PLATFORM_SECRET: &str = "cluster-platform-secret";
const MOVING: &str = "wx_moving";

/// `(status, body)` of a hub answer.
fn answer(hub: &HubHandler, request: HubRequest) -> (u16, Value) {
    let answer = hub.handle(&request);
    (
        answer.status,
        serde_json::from_slice(&answer.body).expect("json"),
    )
}

/// The authorizer's token from `hub`; `stale`: asks for a refresh of it.
fn token(hub: &HubHandler, stale: Option<&str>) -> String {
    let (status, body) = match stale {
        None => answer(
            hub,
            HubRequest::new(
                "GET",
                &format!("/client/access_token?appid={PLATFORM}&authorizer_appid={MOVING}"),
            ),
        ),
        Some(stale) => answer(
            hub,
            HubRequest::new("POST", "/refresh/access_token").body(
                serde_json::json!({
                    "appid": PLATFORM,
                    "authorizer_appid": MOVING,
                    "access_token": stale,
                })
                .to_string(),
            ),
        ),
    };
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_string()
}

/// `CLUSTER NODES` of the node on `port`: `(id, port, is primary, slots)`
/// per node.
fn nodes(port: u16) -> Vec<(String, u16, bool, String)> {
    cluster().nodes_seen(port)
}

/// The primary (id, port) that serves `slot` now.
fn owner(slot: u16) -> (String, u16) {
    cluster().owner(slot)
}

/// Moves `slot` to another primary the way `redis-cli --cluster reshard`
/// does: `IMPORTING`/`MIGRATING`, `MIGRATE` of its keys, then `NODE` on
/// every primary. Returns the new owner's port.
fn move_slot(slot: u16) -> u16 {
    let (from_id, from) = owner(slot);
    let (to_id, to) = nodes(from)
        .into_iter()
        .find(|(id, _, primary, slots)| *primary && *id != from_id && !slots.is_empty())
        .map(|(id, port, _, _)| (id, port))
        .expect("another primary");
    let setslot = |port: u16, state: &str, id: &str| {
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(state)
            .arg(id)
            .query::<()>(&mut cluster().node(port))
            .unwrap_or_else(|e| {
                panic!(
                    "SETSLOT {slot} {state} on {port}: {e}; nodes: {:?}",
                    nodes(port)
                )
            });
    };
    setslot(to, "IMPORTING", &from_id);
    setslot(from, "MIGRATING", &to_id);
    let mut source = cluster().node(from);
    loop {
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query(&mut source)
            .unwrap();
        if keys.is_empty() {
            break;
        }
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(to)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query::<()>(&mut source)
            .unwrap();
    }
    setslot(to, "NODE", &to_id);
    setslot(from, "NODE", &to_id);
    for (_, port, primary, _) in nodes(to) {
        if primary && port != to && port != from {
            setslot(port, "NODE", &to_id);
        }
    }
    to
}

/// An authorizer refreshes through a hub on the cluster while the slot
/// of its keys moves to another primary: the move happens with a refresh
/// in flight (its lock and fence taken on the old owner, its upstream
/// call held by the fake), and every refresh before, during and after it
/// costs exactly one upstream call, answers 200, and leaves the refresh
/// token WeChat issued last in the store.
#[test]
fn a_slot_moved_in_the_middle_of_refreshes_loses_no_refresh_token() {
    let _cluster = shared();
    let fake = FakeWechat::start().unwrap();
    fake.register_component(PLATFORM, PLATFORM_SECRET);
    fake.push_verify_ticket(PLATFORM, "ticket-1");
    let prefix = process::unique_prefix("slot_move");
    let store = Topology::Cluster.open(&prefix);
    store
        .put_verify_ticket(PLATFORM, &Secret::new("ticket-1"))
        .unwrap();
    let refresh = fake.add_authorizer(PLATFORM, MOVING);
    store
        .put_refresh_token(PLATFORM, MOVING, &Secret::new(refresh))
        .unwrap();
    let clock = ManualClock::starting_now();
    let hub = HubHandler::builder()
        .component(PLATFORM, PLATFORM_SECRET)
        .upstream(fake.url())
        .store(Topology::Cluster.open(&prefix))
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();

    let slot = cluster().slot(&format!("{{{PLATFORM}/{MOVING}}}"));
    let (_, before) = owner(slot);
    // Three refreshes a minute apart (within the refresh limit).
    let three_refreshes = |current: &mut String, refreshes: &mut usize| {
        for _ in 0..3 {
            clock.advance(Duration::from_secs(60));
            let fresh = token(&hub, Some(current));
            assert_ne!(&fresh, current);
            *current = fresh;
            *refreshes += 1;
        }
    };
    let mut current = token(&hub, None);
    let mut refreshes = 0;
    three_refreshes(&mut current, &mut refreshes);

    // A refresh in flight, held upstream, while the slot moves.
    clock.advance(Duration::from_secs(60));
    let hold = fake.hold_authorizer(PLATFORM, MOVING);
    let after = std::thread::scope(|s| {
        let stale = current.clone();
        let hub = &hub;
        let refresh = s.spawn(move || token(hub, Some(&stale)));
        assert!(
            hold.wait_held(1, Duration::from_secs(30)),
            "the refresh reaches WeChat"
        );
        let after = move_slot(slot);
        hold.release();
        current = refresh.join().unwrap();
        after
    });
    refreshes += 1;
    assert_ne!(after, before, "the slot moved");
    let mut moved = cluster().node(after);
    let held: u64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut moved)
        .unwrap();
    assert!(
        held >= 4,
        "the authorizer's keys are on the new owner: {held}"
    );

    three_refreshes(&mut current, &mut refreshes);
    assert_eq!(
        fake.authorizer_token_calls(MOVING),
        1 + refreshes,
        "one upstream call per refresh, the first read included"
    );
    assert_eq!(
        store
            .get_refresh_token(PLATFORM, MOVING)
            .unwrap()
            .map(|r| r.expose().to_string()),
        fake.current_refresh_token(PLATFORM, MOVING),
        "the refresh token WeChat issued last is the store's"
    );
    assert_eq!(token(&hub, None), current);
}

/// What weixin 0.1 wrote, under `prefix` on the single Redis: names
/// without hash tags.
fn write_first_layout(prefix: &str) {
    let mut con = redis::Client::open(REDIS)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let token = serde_json::json!({
        "value": "OLD_TOKEN",
        "timestamp": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        "expires_in": 7200,
        "fence": 7,
    })
    .to_string();
    let mut set = |name: &str, value: &str, ttl: Option<u64>| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{prefix}{name}")).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("EX").arg(ttl);
        }
        cmd.query::<()>(&mut con).unwrap();
    };
    set("token:access_token:wxc/wxa", &token, Some(7000));
    set("refresh_token:wxc/wxa", "REFRESH_A", None);
    set("refresh_token:wxc/wxb", "OLDER_REFRESH_B", None);
    set("verify_ticket:wxc", "TICKET", Some(43_000));
    set("verify_ticket_at:wxc", "1800000000", Some(43_000));
    set("verify_ticket_created:wxc", "1799999990", Some(43_000));
    set("counter:fence:access_token:wxc/wxa", "7", Some(86_400));
    set("schedule:access_token:wxc/wxa", "12345", Some(86_400));
    set("lock:access_token:wxc/wxa", "123", Some(30));
    redis::cmd("ZADD")
        .arg(format!("{prefix}served"))
        .arg(1_800_000_000)
        .arg("access_token:wxc/wxa")
        .query::<()>(&mut con)
        .unwrap();
}

/// The copy to the tagged names: a dry run writes nothing; the copy
/// carries tokens, tickets, refresh tokens, fences and schedules over,
/// never a lock, and keeps what the new names already hold when it is
/// newer (a refresh token a new hub rotated, a larger fence); run again,
/// it copies nothing. Into a store on the same Redis, and into one on the
/// cluster (a move to a cluster and to the new names at once).
#[test]
fn migrate_keys_copies_the_first_layout_and_overwrites_nothing_newer() {
    each(migrate_keys_copies_the_first_layout);
}

fn migrate_keys_copies_the_first_layout(topology: Topology) {
    let prefix = process::unique_prefix("migrate");
    write_first_layout(&prefix);
    let store = topology.open(&prefix);
    // A hub of this version already rotated wxb's refresh token.
    store
        .put_refresh_token("wxc", "wxb", &Secret::new("NEWER_REFRESH_B"))
        .unwrap();
    let key = TokenKey::access_token("wxc").for_authorizer("wxa");
    let sorted = |names: &[String]| {
        let mut names = names.to_vec();
        names.sort();
        names
    };

    let planned = store.migrate_keys(REDIS, true).unwrap();
    // The served set's name is the same in both layouts: on one server it
    // is already in place; a cluster gets a copy.
    let mut kept = vec![format!("{prefix}refresh_token:wxc/wxb")];
    let copied = match topology {
        Topology::Single => {
            kept.push(format!("{prefix}served"));
            7
        }
        Topology::Cluster => 8,
    };
    assert_eq!(planned.copied().len(), copied, "{planned:?}");
    assert_eq!(sorted(planned.kept()), kept, "{planned:?}");
    assert_eq!(
        planned.skipped(),
        [format!("{prefix}lock:access_token:wxc/wxa")]
    );
    assert_eq!(
        store.get_token(&key).unwrap(),
        None,
        "a dry run writes nothing"
    );
    assert_eq!(store.get_refresh_token("wxc", "wxa").unwrap(), None);

    let done = store.migrate_keys(REDIS, false).unwrap();
    assert_eq!(sorted(done.copied()), sorted(planned.copied()));
    assert_eq!(sorted(done.kept()), sorted(planned.kept()));
    assert_eq!(
        store.get_token(&key).unwrap().unwrap().expose(),
        "OLD_TOKEN"
    );
    assert_eq!(
        store.get_refresh_token("wxc", "wxa").unwrap(),
        Some(Secret::new("REFRESH_A"))
    );
    assert_eq!(
        store.get_refresh_token("wxc", "wxb").unwrap(),
        Some(Secret::new("NEWER_REFRESH_B")),
        "never replaced by the older one"
    );
    assert_eq!(
        store.get_verify_ticket("wxc").unwrap(),
        Some(Secret::new("TICKET"))
    );
    assert_eq!(
        store.verify_ticket_received_at("wxc").unwrap(),
        Some(1_800_000_000)
    );
    assert_eq!(store.get_refresh_schedule(&key).unwrap(), Some(12345));
    assert_eq!(
        store.served_keys(0).unwrap(),
        vec![(key.clone(), 1_800_000_000)]
    );
    // The fence carried over: a write with an older fence is refused, the
    // next fence is above it.
    assert!(!store
        .put_token_fenced(&key, &Token::new("STALE", 7200), 6)
        .unwrap());
    assert_eq!(
        store
            .increment("fence:access_token:wxc/wxa", Duration::from_secs(60))
            .unwrap(),
        8
    );
    assert!(
        store.lock(&key, Duration::from_secs(5)).unwrap().is_some(),
        "the old lock stayed behind"
    );

    let again = store.migrate_keys(REDIS, false).unwrap();
    assert!(again.copied().is_empty(), "{again:?}");
    assert_eq!(again.kept().len(), 9, "{again:?}");
}

/// `wechat-hub migrate-keys` on hub.toml's Redis store: the dry run lists
/// the names it would copy and writes nothing; the run copies them.
#[cfg(feature = "hub")]
#[test]
fn wechat_hub_migrate_keys_dry_run_then_copy() {
    each(wechat_hub_migrate_keys);
}

/// On a cluster, from the single Redis (`--from`): the served set is
/// copied too.
#[cfg(feature = "hub")]
fn wechat_hub_migrate_keys(topology: Topology) {
    let prefix = process::unique_prefix("migrate_cli");
    write_first_layout(&prefix);
    let dir = crate::common::temp_dir("migrate_cli");
    let config = dir.join("hub.toml");
    std::fs::write(&config, topology.config(&prefix)).unwrap();
    let config = config.display().to_string();
    let (from, counts) = match topology {
        Topology::Single => (&[][..], "8, kept 1"),
        Topology::Cluster => (&["--from", REDIS][..], "9, kept 0"),
    };
    let run = |layout: &str, extra: &[&str]| {
        let mut args = vec!["--config", &config, "migrate-keys", "--from-layout", layout];
        args.extend(from);
        args.extend(extra);
        process::run_hub(&args, &[])
    };
    let (code, out, err) = run("1", &["--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("would copy {prefix}refresh_token:wxc/wxa\n")),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "migrate-keys: would copy {counts} (newer in place), skipped 1 (locks, unknown)\n"
        )),
        "{out}"
    );
    assert!(
        !out.contains("REFRESH_A") && !err.contains("REFRESH_A"),
        "no secret shown"
    );
    let store = topology.open(&prefix);
    assert_eq!(store.get_refresh_token("wxc", "wxa").unwrap(), None);
    let (code, out, err) = run("1", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.ends_with(&format!(
            "migrate-keys: copied {counts} (newer in place), skipped 1 (locks, unknown)\n"
        )),
        "{out}"
    );
    assert_eq!(
        store.get_refresh_token("wxc", "wxa").unwrap(),
        Some(Secret::new("REFRESH_A"))
    );
    let (code, _, err) = run("2", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("only layout 1"), "{err}");
}

/// A hub's listener on a cluster: its first seed cannot be reached, so it
/// listens on the next; a removal whose keys live on another primary (its
/// script publishes there) still reaches it, because `PUBLISH` in a
/// cluster goes to every node.
#[test]
fn a_cluster_listener_skips_a_dead_seed_and_hears_removals_from_any_node() {
    let _cluster = shared();
    use std::sync::{mpsc, Arc, Mutex};
    use weixin::store::StoreEvent;

    let prefix = process::unique_prefix("cluster_watch");
    let listened = cluster().nodes[0].port;
    // Nothing listens on port 1 (privileged, never a Redis here).
    let mut seeds = vec!["redis://127.0.0.1:1/".to_string()];
    seeds.extend(cluster().seeds());
    let watching = weixin::store::RedisStore::cluster(&seeds)
        .unwrap()
        .prefix(prefix.clone());
    let (tx, heard) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let _watch = watching
        .watch(Arc::new(move |event: &StoreEvent<'_>| {
            let text = match event {
                StoreEvent::Listening => "listening".to_string(),
                StoreEvent::AuthorizerRemoved {
                    component_appid,
                    authorizer_appid,
                } => format!("removed {component_appid}/{authorizer_appid}"),
                StoreEvent::Lost(e) => format!("lost: {e}"),
                _ => "other".to_string(),
            };
            let _ = tx.lock().unwrap().send(text);
        }))
        .unwrap()
        .expect("a Redis store can watch");
    let next = |what: &str| {
        heard
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no event: {what}"))
    };
    let lost = next("the dead seed");
    assert!(
        lost.starts_with("lost: ") && lost.contains("127.0.0.1:1/"),
        "{lost}"
    );
    assert_eq!(next("listening on the next seed"), "listening");

    // An authorizer whose slot another primary serves.
    let authorizer = (0..)
        .map(|i| format!("wx_elsewhere_{i}"))
        .find(|a| {
            let slot = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(format!("{{{PLATFORM}/{a}}}"))
                .query::<u16>(&mut cluster().node(listened))
                .unwrap();
            owner(slot).1 != listened
        })
        .unwrap();
    let store = Topology::Cluster.open(&prefix);
    store
        .put_refresh_token(PLATFORM, &authorizer, &Secret::new("R"))
        .unwrap();
    store.remove_authorizer(PLATFORM, &authorizer).unwrap();
    assert_eq!(
        next("the removal"),
        format!("removed {PLATFORM}/{authorizer}")
    );
    assert_eq!(store.replicas().unwrap(), Some(1), "NUMSUB over every node");
}
