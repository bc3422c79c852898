//! `RedisPool`: the way to one Redis server for the stores that keep
//! state there (the hub's `RedisStore`, the callbacks' `RedisDedup`), with
//! the `redis` crate's blocking API. Connecting and every command have a
//! timeout; a few idle connections are kept; errors name the server, never
//! its password.

use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, RedisResult};

use crate::error::{Error, Result};

/// Idle connections kept for reuse.
const IDLE: usize = 16;

/// Connections to one Redis server.
pub(crate) struct RedisPool {
    client: redis::Client,
    /// `host:port[/db]`, without the password: what errors and `Debug` show.
    addr: String,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl RedisPool {
    /// A pool for `url` (`redis://[:password@]host:port[/db]`); no
    /// connection is made until the first command.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `url` is
    /// not a Redis URL.
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<RedisPool> {
        let addr = url.rsplit_once('@').map_or(url, |(_, host)| host);
        let addr = addr
            .trim_start_matches("redis://")
            .trim_start_matches("rediss://")
            .to_string();
        let client = redis::Client::open(url)
            .map_err(|e| Error::config(format!("bad redis url for {addr}: {e}")))?;
        Ok(RedisPool {
            client,
            addr,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The server, without the password.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The time allowed to connect and for each command.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The client, for a thread that keeps a connection of its own.
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Checks that Redis answers (`PING`).
    pub(crate) fn ping(&self) -> Result<()> {
        self.run("PING", |c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }

    /// Runs `command` on an idle connection, or a new one. An idle
    /// connection that fails may only be stale (Redis restarted): then the
    /// idle ones are dropped and `command` runs once more on a new
    /// connection. A failure is an [`ErrorKind::Store`](crate::ErrorKind::Store)
    /// error saying `redis at <addr>: <what>`.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        command: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let pooled = self.idle.lock().pop();
        let result = match pooled {
            Some(mut con) => match command(&mut con) {
                Ok(v) => Ok((v, con)),
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    self.idle.lock().clear();
                    self.fresh(&command)
                }
                Err(e) => Err(e),
            },
            None => self.fresh(&command),
        };
        match result {
            Ok((value, con)) => {
                let mut idle = self.idle.lock();
                if idle.len() < IDLE {
                    idle.push(con);
                }
                Ok(value)
            }
            Err(e) => Err(Error::store(format!("redis at {}: {what}", self.addr), e)),
        }
    }

    fn fresh<T>(
        &self,
        command: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<(T, Connection)> {
        let mut con = self.client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        let value = command(&mut con)?;
        Ok((value, con))
    }
}
