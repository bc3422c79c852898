//! A held Redis lock's renewer: extends the lease of a lock taken by
//! [`RedisStore`](super::RedisStore) while its holder calls WeChat.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::redis_pool::{Connector, RedisConnection};

/// Extends the lock's lease only if it is still ours.
const RENEW: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// Keeps a held lock's lease alive, on a thread of its own with a
/// connection of its own (the holder is busy calling WeChat), until the
/// guard is dropped, the lock's whole `ttl` has passed, or the lock turns
/// out to be someone else's.
pub(super) struct Renewer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Renewer {
    pub(super) fn start(
        connector: Connector,
        store_timeout: Duration,
        name: String,
        value: String,
        lease_ms: u64,
        ttl: Duration,
    ) -> Renewer {
        let (stop, stopped) = mpsc::channel::<()>();
        // A renewal gets a third of the lease to connect and answer, so that
        // one that fails leaves time for another before the lease runs out.
        let tick = Duration::from_millis(lease_ms / 3);
        let timeout = store_timeout.min(tick).max(Duration::from_millis(1));
        let until = Instant::now().checked_add(ttl);
        let thread = std::thread::spawn(move || {
            let mut con: Option<(u64, RedisConnection)> = None;
            let mut wait = tick;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                if until.is_some_and(|until| Instant::now() >= until) {
                    return;
                }
                // After a failure, try again soon rather than a tick later.
                wait = tick / 4;
                // A connection to a primary that was since replaced (under
                // Sentinel) would renew a lease that no longer counts.
                connector.recheck();
                if con
                    .as_ref()
                    .is_some_and(|(made, _)| *made != connector.generation())
                {
                    con = None;
                }
                if con.is_none() {
                    let made = connector.generation();
                    con = connector
                        .command_connection(timeout)
                        .ok()
                        .map(|c| (made, c));
                }
                let Some((_, c)) = con.as_mut() else { continue };
                match redis::cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(&name)
                    .arg(&value)
                    .arg(lease_ms)
                    .query::<i64>(c)
                {
                    Ok(1) => wait = tick,
                    // Not ours any more (Redis restarted, say): nothing to keep.
                    Ok(_) => return,
                    Err(_) => con = None,
                }
            }
        });
        Renewer { stop, thread }
    }

    /// Stops renewing; returns once the renewer has let go.
    pub(super) fn stop(self) {
        drop(self.stop);
        // ok because the renewer only ends; a panic there changes nothing here
        let _ = self.thread.join();
    }
}
