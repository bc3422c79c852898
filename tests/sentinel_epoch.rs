//! A Sentinel store against sentinels whose answers the test scripts: the
//! part of a failover when the leading sentinel already has the new
//! configuration epoch but still names the old primary in
//! `SENTINEL MASTER` (flagged `failover_in_progress`, while
//! `GET-MASTER-ADDR-BY-NAME` names the new one: real Sentinel does so
//! until it has reconfigured the replicas, too short a time to hit on
//! purpose), a sentinel that has not heard of the failover, and one that
//! never answers. The data nodes are two real `redis-server` primaries, so
//! a write lands on the one the store chose.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weixin::store::{RedisStore, Store};
use weixin::testing::RedisNode;
use weixin::{RedisSentinel, Token, TokenKey};

use crate::common;

const MASTER: &str = "wxscripted";

/// What a scripted sentinel names: the primary's port and the
/// configuration epoch, the port it is failing over to if it is, and how
/// often it answered `SENTINEL MASTER` since it was last told what to
/// name.
struct Named {
    port: u16,
    epoch: u64,
    switching_to: Option<u16>,
    asked: usize,
}

/// A sentinel speaking just enough RESP: `SENTINEL MASTER <name>` as a
/// flat field list, `+OK` to anything else (the client's `CLIENT SETINFO`).
struct ScriptedSentinel {
    url: String,
    named: Arc<Mutex<Named>>,
    stop: Arc<AtomicBool>,
}

impl ScriptedSentinel {
    fn start(port: u16, epoch: u64) -> ScriptedSentinel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a sentinel");
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let named = Arc::new(Mutex::new(Named {
            port,
            epoch,
            switching_to: None,
            asked: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (named.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let named = shared.clone();
                std::thread::spawn(move || serve(stream, &named));
            }
        });
        ScriptedSentinel { url, named, stop }
    }

    /// From now on it names `port` with `epoch`, failing over to
    /// `switching_to` if given.
    fn name(&self, port: u16, epoch: u64, switching_to: Option<u16>) {
        *self.named.lock() = Named {
            port,
            epoch,
            switching_to,
            asked: 0,
        };
    }

    fn asked(&self) -> usize {
        self.named.lock().asked
    }
}

impl Drop for ScriptedSentinel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // ok because it only wakes the accepting thread to see `stop`
        let _ = TcpStream::connect(self.url.trim_start_matches("redis://"));
    }
}

/// Answers one connection's commands until it closes.
fn serve(stream: TcpStream, named: &Mutex<Named>) {
    // ok because a test that ended may leave a connection hanging
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    while let Some(command) = read_command(&mut reader) {
        let upper: Vec<String> = command.iter().map(|s| s.to_uppercase()).collect();
        let mut named = named.lock();
        let reply = match upper.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["SENTINEL", "MASTER", _] if command[2] == MASTER => {
                named.asked += 1;
                let flags = match named.switching_to {
                    Some(_) => "master,failover_in_progress",
                    None => "master",
                };
                let fields = [
                    ("name", MASTER.to_string()),
                    ("ip", "127.0.0.1".to_string()),
                    ("port", named.port.to_string()),
                    ("flags", flags.to_string()),
                    ("config-epoch", named.epoch.to_string()),
                ];
                let mut reply = format!("*{}\r\n", fields.len() * 2);
                for (k, v) in fields {
                    reply.push_str(&bulk(k));
                    reply.push_str(&bulk(&v));
                }
                reply
            }
            ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", _] if command[2] == MASTER => {
                let port = named.switching_to.unwrap_or(named.port).to_string();
                format!("*2\r\n{}{}", bulk("127.0.0.1"), bulk(&port))
            }
            ["SENTINEL", ..] => "-ERR No such master with that name\r\n".to_string(),
            _ => "+OK\r\n".to_string(),
        };
        drop(named);
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// `value` as a RESP bulk string.
fn bulk(value: &str) -> String {
    format!("${}\r\n{value}\r\n", value.len())
}

/// A sentinel that accepts connections and never answers; counts them.
fn silent_sentinel() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a sentinel");
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

/// One RESP array of bulk strings, or `None` at the end of the stream.
fn read_command(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut parts = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut data = vec![0; len + 2];
        reader.read_exact(&mut data).ok()?;
        data.truncate(len);
        parts.push(String::from_utf8(data).ok()?);
    }
    Some(parts)
}

/// A standalone primary of the test's own.
fn primary() -> RedisNode {
    RedisNode::start(RedisNode::standalone_args).expect("start redis-server")
}

/// The token of `key` as the server on `port` holds it.
fn on(port: u16, prefix: &str, key: &TokenKey) -> Option<String> {
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .prefix(prefix);
    store
        .get_token(key)
        .unwrap()
        .map(|t| t.expose().to_string())
}

/// Writes go on until `done`, each checked to land on `port`; at most
/// `bound`.
fn writes_land_on(
    port: u16,
    write: &mut impl FnMut() -> String,
    on_it: impl Fn(&str) -> bool,
    done: impl Fn() -> bool,
    bound: Duration,
    what: &str,
) {
    let deadline = Instant::now() + bound;
    while !done() {
        let value = write();
        assert!(on_it(&value), "a write did not land on {port}: {what}");
        assert!(Instant::now() < deadline, "not within {bound:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The leading sentinel has the new epoch and names the old primary in
/// `SENTINEL MASTER` (flagged `failover_in_progress`) and the new one in
/// `GET-MASTER-ADDR-BY-NAME`; another sentinel then names the new primary
/// with that epoch; a third has not heard of the failover; a fourth never
/// answers. The store moves to the new primary as soon as the leader is
/// asked, and no answer takes it back. Before, a store that asked the
/// leader then took the new epoch for the old address, and stayed on the
/// old primary (which takes writes until Sentinel demotes it, 8 s or
/// more later); and a rule that followed an equal epoch to another
/// address took a store on the new primary back to the old one.
#[test]
fn a_store_follows_the_leading_sentinel_to_the_new_primary_and_never_back() {
    let (old, new) = (primary(), primary());
    let leader = ScriptedSentinel::start(old.port(), 1);
    let follower = ScriptedSentinel::start(old.port(), 1);
    let lagging = ScriptedSentinel::start(old.port(), 1);
    let (silent, silent_accepted) = silent_sentinel();
    let prefix = common::unique_prefix("epoch");
    let store = RedisStore::sentinel(
        RedisSentinel::new(
            MASTER,
            [
                leader.url.clone(),
                follower.url.clone(),
                lagging.url.clone(),
                silent,
            ],
        )
        .failover_wait(Duration::from_secs(5)),
    )
    .unwrap()
    .prefix(prefix.clone());
    let key = TokenKey::access_token("wxepoch");
    let mut n = 0;
    let mut write = || {
        n += 1;
        let value = format!("T{n}");
        store
            .put_token(&key, &Token::new(value.clone(), 7200))
            .unwrap();
        value
    };
    let landed = |port: u16, value: &str| on(port, &prefix, &key).as_deref() == Some(value);
    let first = write();
    assert!(landed(old.port(), &first));

    // The leader takes epoch 2: the store moves as soon as it asks it.
    leader.name(old.port(), 2, Some(new.port()));
    let deadline = Instant::now() + RedisSentinel::RECHECK * 8 + Duration::from_secs(10);
    loop {
        let value = write();
        if landed(new.port(), &value) {
            break;
        }
        assert!(landed(old.port(), &value));
        assert!(
            Instant::now() < deadline,
            "writes still go to the old primary after the leader took the new epoch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The follower has heard; the leader still reports the failover in
    // progress; the lagging one names the old primary with the old epoch.
    follower.name(new.port(), 2, None);
    let asked = (leader.asked(), follower.asked(), lagging.asked());
    writes_land_on(
        new.port(),
        &mut write,
        |value| landed(new.port(), value),
        || {
            leader.asked() >= asked.0 + 3
                && follower.asked() >= asked.1 + 3
                && lagging.asked() >= asked.2 + 3
        },
        Duration::from_secs(20),
        "each sentinel asked three times more",
    );
    // The leader is done: the same answers from all but the lagging one.
    leader.name(new.port(), 2, None);
    let asked = lagging.asked();
    writes_land_on(
        new.port(),
        &mut write,
        |value| landed(new.port(), value),
        || lagging.asked() >= asked + 2,
        Duration::from_secs(20),
        "the lagging sentinel asked twice more",
    );
    // The silent sentinel's turn came several times; it was asked once
    // and then passed over (each ask costs the store's timeout).
    assert_eq!(silent_accepted.load(Ordering::SeqCst), 1);
    drop((old, new, leader, follower, lagging));
}
