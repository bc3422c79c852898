//! The removals listener of a [`RedisStore`]: a thread and a connection
//! of its own subscribed to `<prefix>authorizer_removed` (see
//! [`Store::watch`](super::Store::watch)).

use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::RedisResult;

use super::watch::{StoreEvent, StoreListener, Watch};
use super::RedisStore;
use crate::error::Error;
use crate::redis_pool::Connector;

/// The first wait before listening again after listening failed; each
/// failure in a row doubles it, up to [`WATCH_BACKOFF_CAP`].
const WATCH_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two tries to listen.
const WATCH_BACKOFF_CAP: Duration = Duration::from_secs(5);

/// How long the listening thread blocks on a read: how soon it notices
/// that its hub stopped.
const WATCH_POLL: Duration = Duration::from_millis(100);

/// Listens to the removals channel (see [`Store::watch`]): one thread, one
/// connection, reads that time out every [`WATCH_POLL`] to notice the stop,
/// and after a failure listens again after a backoff doubling from
/// [`WATCH_BACKOFF`] to [`WATCH_BACKOFF_CAP`]. Each failure is told to the
/// listener as [`StoreEvent::Lost`].
pub(super) struct Listener {
    connector: Connector,
    channel: String,
    /// The connection's `CLIENT SETNAME`: `<prefix>watch`, so that an
    /// operator sees in `CLIENT LIST` which hubs listen.
    name: String,
    timeout: Duration,
    listener: StoreListener,
    stop: mpsc::Receiver<()>,
    /// Told once the first subscription succeeded or failed.
    ready: Mutex<Option<mpsc::SyncSender<()>>>,
}

impl Listener {
    /// Starts listening; returns once the first subscription succeeded
    /// (so a hub built now hears every removal from now on) or failed
    /// (it is tried again in the background), or after the store's
    /// timeout.
    pub(super) fn start(store: &RedisStore, listener: StoreListener) -> std::io::Result<Watch> {
        let (stop, stopped) = mpsc::channel::<()>();
        let (ready, first) = mpsc::sync_channel::<()>(1);
        let this = Listener {
            connector: store.connector(),
            channel: store.layout().channel(),
            name: format!("{}watch", store.layout().prefix()).replace(char::is_whitespace, "_"),
            timeout: store.command_timeout(),
            listener,
            stop: stopped,
            ready: Mutex::new(Some(ready)),
        };
        let thread = std::thread::Builder::new()
            .name("wechat-hub-watch".into())
            .spawn(move || this.run())?;
        // ok because a listener that is not ready yet keeps trying
        let _ = first.recv_timeout(store.command_timeout().saturating_mul(2));
        Ok(Watch::new(move || {
            drop(stop);
            // ok because the listener only ends; a panic there changes nothing here
            let _ = thread.join();
        }))
    }

    fn tell(&self, event: &StoreEvent<'_>) {
        (self.listener)(event);
        if let Some(ready) = self.ready.lock().take() {
            let _ = ready.try_send(());
        }
    }

    /// Whether the watch was dropped.
    fn stopped(&self) -> bool {
        !matches!(self.stop.try_recv(), Err(mpsc::TryRecvError::Empty))
    }

    /// Listens again after each failure: on a cluster, on the next seed
    /// node once the one it listened on cannot be reached.
    fn run(self) {
        let mut backoff = WATCH_BACKOFF;
        while !self.stopped() {
            let error = match self.listen(&mut backoff) {
                Ok(()) => return,
                Err(e) => Error::store(format!("redis at {}: listening", self.connector.addr()), e),
            };
            self.tell(&StoreEvent::Lost(&error));
            match self.stop.recv_timeout(backoff) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            backoff = (backoff * 2).min(WATCH_BACKOFF_CAP);
        }
    }

    /// Listens until stopped (`Ok`), the connection fails, or (under
    /// Sentinel) the sentinels name another primary; resets `backoff`
    /// once subscribed.
    fn listen(&self, backoff: &mut Duration) -> RedisResult<()> {
        let made = self.connector.generation();
        let mut con = self.connector.connect(self.timeout)?;
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&self.name)
            .query::<()>(&mut con)?;
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe(&self.channel)?;
        pubsub.set_read_timeout(Some(WATCH_POLL))?;
        *backoff = WATCH_BACKOFF;
        self.tell(&StoreEvent::Listening);
        loop {
            if self.stopped() {
                return Ok(());
            }
            let message = match pubsub.get_message() {
                Ok(message) => message,
                Err(e) if e.is_timeout() => {
                    // After a `SENTINEL FAILOVER` the old primary keeps
                    // this connection until it is demoted, 8 s or more
                    // later, while the other replicas publish on the new
                    // one: the listener leaves it with the store (see
                    // `RedisSentinel::RECHECK`). It asks the sentinels
                    // itself at that pace: a hub whose threads are all
                    // waiting on the store (a failover) lends no
                    // connection, and a refresh that began on the old
                    // primary carried on there for a second more.
                    self.connector.recheck();
                    if self.connector.generation() != made {
                        return Err(redis::RedisError::from((
                            redis::ErrorKind::MasterNameNotFoundBySentinel,
                            "the sentinels named another primary",
                        )));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            if let Some((component_appid, authorizer_appid)) = payload.split_once('/') {
                (self.listener)(&StoreEvent::AuthorizerRemoved {
                    component_appid,
                    authorizer_appid,
                });
            }
        }
    }
}
