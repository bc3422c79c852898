//! A Sentinel store after `SENTINEL FAILOVER`, while the old primary still
//! says it is one (on the tests' shared topology, `common::sentinel`).

use std::time::{Duration, Instant};

use weixin::store::{RedisStore, Store};
use weixin::{RedisSentinel, Token, TokenKey};

use crate::common::{self, sentinel};

/// After a `SENTINEL FAILOVER` the old primary stays a writable primary
/// until a sentinel turns it into a replica (about 8 s with Sentinel's
/// defaults); a token written there meanwhile is lost when it does. A store
/// whose pooled connections still reach it notices the move within
/// `RedisSentinel::RECHECK` and writes to the new primary: a
/// store that just looked the primary up reads what it wrote. Without the
/// check, every write of those 8 s went to the old primary.
#[test]
fn a_sentinel_store_follows_a_failover_while_the_old_primary_still_answers() {
    let topology = sentinel::topology();
    topology.healthy();
    let store = |prefix: &str| {
        RedisStore::sentinel(
            RedisSentinel::new(sentinel::MASTER, topology.urls())
                .failover_wait(Duration::from_secs(20)),
        )
        .unwrap()
        .prefix(prefix)
    };
    let prefix = common::unique_prefix("moved");
    let writer = store(&prefix);
    let key = TokenKey::access_token("wxmoved");
    // A connection to the primary, kept idle in the pool.
    writer.put_token(&key, &Token::new("BEFORE", 7200)).unwrap();
    let old = topology.begin_failover();
    topology.switched(old);

    // Polled with a bound well under the old primary's 8 s as a primary.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    loop {
        n += 1;
        let written = Token::new(format!("AFTER-{n}"), 7200);
        writer.put_token(&key, &written).unwrap();
        let read = store(&prefix).get_token(&key).unwrap();
        if read.as_ref().map(Token::expose) == Some(written.expose()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes still go to the old primary {old}: the new one holds {:?}",
            read.map(|t| t.expose().to_string())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(topology);
}
