//! `RedisDedup` on Redis Sentinel (the shared topology of
//! `common::sentinel`): a push answered before a `SENTINEL FAILOVER` is a
//! repeat after it, on every instance, and a dedup whose primary is
//! killed (`kill -9`) answers a repeat once the replica is promoted,
//! within its failover wait, and every push after it without an error.
//!
//! A claim reaches the replica asynchronously (`RedisDedup` does not wait
//! for it, and says so): the tests wait until the replica holds the
//! answer before they fail the primary over, which is the case the store
//! promises to carry through a failover.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weixin::{CallbackHandler, Delivery, RedisDedup, RedisSentinel, ReplyKind};

use crate::common::sentinel::{self, query, Topology, MASTER};
use crate::common::unique_prefix;
use crate::dedup::{clock, plain_handler, same_answer, text, Push};

/// The dedup's [`RedisSentinel::failover_wait`].
const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// How long the replica may take to receive a claim (not a timing
/// assertion).
const REPLICATION: Duration = Duration::from_secs(10);

fn dedup_on(topology: &Topology, prefix: &str) -> RedisDedup {
    let sentinel = RedisSentinel::new(MASTER, topology.urls()).failover_wait(FAILOVER_WAIT);
    RedisDedup::sentinel(sentinel).unwrap().prefix(prefix)
}

/// The port of the primary's replica.
fn replica_port(topology: &Topology) -> u16 {
    let primary = topology.primary_port().unwrap();
    match query::<redis::Role>(primary, &redis::cmd("ROLE")).unwrap() {
        redis::Role::Primary { replicas, .. } => {
            assert_eq!(replicas.len(), 1, "{replicas:?}");
            replicas[0].port
        }
        role => panic!("the primary says {role:?}"),
    }
}

/// Waits (bounded) until the node at `port` holds `count` answered claims
/// under `prefix`.
fn replicated(port: u16, prefix: &str, count: usize) {
    let deadline = Instant::now() + REPLICATION;
    loop {
        let keys: Vec<String> = query(port, redis::cmd("KEYS").arg(format!("{prefix}*"))).unwrap();
        let answered = keys
            .iter()
            .filter(|key| {
                query::<Option<String>>(port, redis::cmd("GET").arg(key.as_str()))
                    .unwrap()
                    .is_some_and(|v| v.starts_with("answer:"))
            })
            .count();
        if answered == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica on {port} holds {answered} of {count} answers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Delivers `push` on `handler`: the closure counts its calls in `calls`
/// and answers `reply`.
fn deliver(
    handler: &CallbackHandler,
    push: &Push,
    calls: &AtomicUsize,
    reply: &str,
) -> weixin::CallbackResponse {
    push.send(handler, |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(Some(ReplyKind::text(reply)))
    })
}

/// Two instances behind a load balancer; a push answered on the first
/// before `SENTINEL FAILOVER` (and on the replica) is a repeat on both
/// after it, with the first answer byte for byte; a push after it is
/// claimed on the new primary. The closure runs once per push.
#[test]
fn a_push_answered_before_a_sentinel_failover_is_a_repeat_after_it() {
    let topology = sentinel::topology();
    topology.healthy();
    let prefix = unique_prefix("dedup-failover");
    let clock = clock();
    let handlers = [
        plain_handler(&clock).dedup(dedup_on(&topology, &prefix)),
        plain_handler(&clock).dedup(dedup_on(&topology, &prefix)),
    ];
    let calls = AtomicUsize::new(0);
    let before = Push::plain(&text("gh_dedup_failover", 1));
    let first = deliver(&handlers[0], &before, &calls, "before");
    assert_eq!((first.status(), first.delivery()), (200, Delivery::First));
    replicated(replica_port(&topology), &prefix, 1);

    topology.failover();
    for handler in [&handlers[1], &handlers[0]] {
        let repeat = deliver(handler, &before, &calls, "again");
        assert_eq!(repeat.delivery(), Delivery::Repeat, "{:?}", repeat.error());
        same_answer(&repeat, &first);
    }
    let after = Push::plain(&text("gh_dedup_failover", 2));
    let answers: Vec<Delivery> = [&handlers[1], &handlers[0]]
        .iter()
        .map(|h| deliver(h, &after, &calls, "after").delivery())
        .collect();
    assert_eq!(answers, [Delivery::First, Delivery::Repeat]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        handlers[0].dedup_failures() + handlers[1].dedup_failures(),
        0
    );
}

/// The primary is killed (`kill -9`) after a push was answered and
/// replicated. A repeat delivered right away waits inside the claim for
/// the sentinels to promote the replica (within the failover wait) and is
/// answered as a repeat, not handled without the store; once the killed
/// node is back as a replica, new pushes are claimed and repeated without
/// an error on both instances.
#[test]
fn a_dedup_whose_primary_is_killed_answers_after_the_promotion() {
    let topology = sentinel::topology();
    topology.healthy();
    let prefix = unique_prefix("dedup-kill");
    let clock = clock();
    let handlers = [
        plain_handler(&clock).dedup(dedup_on(&topology, &prefix)),
        plain_handler(&clock).dedup(dedup_on(&topology, &prefix)),
    ];
    let calls = AtomicUsize::new(0);
    // Each instance holds a connection to the primary about to die.
    let pushes: Vec<Push> = (1..=4)
        .map(|id| Push::plain(&text("gh_dedup_kill", id)))
        .collect();
    assert_eq!(
        deliver(&handlers[1], &pushes[0], &calls, "zero").delivery(),
        Delivery::First
    );
    let first = deliver(&handlers[0], &pushes[1], &calls, "one");
    assert_eq!(first.delivery(), Delivery::First);
    replicated(replica_port(&topology), &prefix, 2);

    let killed = topology.kill_primary();
    let started = Instant::now();
    let repeat = deliver(&handlers[1], &pushes[1], &calls, "again");
    let waited = started.elapsed();
    assert_eq!(repeat.delivery(), Delivery::Repeat, "{:?}", repeat.error());
    same_answer(&repeat, &first);
    assert!(
        waited < FAILOVER_WAIT,
        "the repeat was answered {waited:?} after the kill"
    );
    eprintln!("a repeat was answered {waited:?} after the primary was killed");
    topology.promoted(killed);

    for (n, push) in pushes[2..].iter().enumerate() {
        let deliveries: Vec<Delivery> = [&handlers[n % 2], &handlers[(n + 1) % 2]]
            .iter()
            .map(|h| deliver(h, push, &calls, "later").delivery())
            .collect();
        assert_eq!(deliveries, [Delivery::First, Delivery::Repeat], "push {n}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        handlers[0].dedup_failures() + handlers[1].dedup_failures(),
        0
    );
}
