//! A Sentinel store against sentinels whose answers the test scripts: the
//! moment of a failover when the leading sentinel already has the new
//! configuration epoch but still names the old primary (real Sentinel
//! does so for tens of milliseconds, too short to hit on purpose), and a
//! sentinel that has not heard of the failover at all. The data nodes are
//! two real `redis-server` primaries, so a write lands on the one the
//! store chose.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weixin::store::{RedisStore, Store};
use weixin::testing::RedisNode;
use weixin::{RedisSentinel, Token, TokenKey};

use crate::common;

const MASTER: &str = "wxscripted";

/// What a scripted sentinel names: the primary's port and the
/// configuration epoch, and how often it answered `SENTINEL MASTER` since
/// it was last told what to name.
struct Named {
    port: u16,
    epoch: u64,
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

    /// From now on it names `port` with `epoch`.
    fn name(&self, port: u16, epoch: u64) {
        *self.named.lock() = Named {
            port,
            epoch,
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
        let reply = match upper.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["SENTINEL", "MASTER", _] if command[2] == MASTER => {
                let mut named = named.lock();
                named.asked += 1;
                let fields = [
                    ("name", MASTER.to_string()),
                    ("ip", "127.0.0.1".to_string()),
                    ("port", named.port.to_string()),
                    ("flags", "master".to_string()),
                    ("config-epoch", named.epoch.to_string()),
                ];
                let mut reply = format!("*{}\r\n", fields.len() * 2);
                for (k, v) in fields {
                    reply.push_str(&format!("${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()));
                }
                reply
            }
            ["SENTINEL", ..] => "-ERR No such master with that name\r\n".to_string(),
            _ => "+OK\r\n".to_string(),
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
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
    RedisNode::start(|port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec()
    })
    .expect("start redis-server")
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

/// The leading sentinel names the old primary with the new epoch for a
/// moment, then the new primary with that same epoch; another sentinel has
/// not heard of the failover and names the old primary with the old epoch
/// throughout. A store that asked during that moment used to hold the new
/// epoch on the old primary and refuse the same epoch on the new one: it
/// stayed on the old primary, which takes writes until Sentinel demotes
/// it, 8 s or more later, and those writes are lost.
#[test]
fn a_store_follows_the_new_epoch_from_the_old_address_to_the_new_one_and_never_back() {
    let (old, new) = (primary(), primary());
    let leader = ScriptedSentinel::start(old.port(), 1);
    let lagging = ScriptedSentinel::start(old.port(), 1);
    let prefix = common::unique_prefix("epoch");
    let store = RedisStore::sentinel(
        RedisSentinel::new(MASTER, [leader.url.clone(), lagging.url.clone()])
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
    let first = write();
    assert_eq!(on(old.port(), &prefix, &key).as_deref(), Some(&*first));

    // The moment: the leader has epoch 2 and still names the old primary.
    // Writes go on until the store has asked it then (each sentinel in
    // turn, once per recheck).
    leader.name(old.port(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader.asked() == 0 {
        let value = write();
        assert_eq!(on(old.port(), &prefix, &key), Some(value), "no move yet");
        assert!(
            Instant::now() < deadline,
            "the store never asked the leader"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The switch: the new primary, with the same epoch.
    leader.name(new.port(), 2);
    let deadline = Instant::now() + RedisSentinel::RECHECK * 8 + Duration::from_secs(2);
    loop {
        let value = write();
        if on(new.port(), &prefix, &key).as_deref() == Some(&*value) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes still go to the old primary after the leader named the new one with its epoch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The lagging sentinel, asked again and again meanwhile, never takes
    // the store back.
    let asked = lagging.asked();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lagging.asked() < asked + 3 {
        let value = write();
        assert_eq!(
            on(new.port(), &prefix, &key),
            Some(value),
            "the store went back to the old primary"
        );
        assert!(
            Instant::now() < deadline,
            "the lagging sentinel is not asked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop((old, new, leader, lagging));
}
