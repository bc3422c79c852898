//! `SentinelTopology`: a Redis Sentinel deployment of a test's own on
//! 127.0.0.1 (one primary, one replica, three sentinels, all
//! `redis-server` processes), with failovers on demand; and `RedisNode`,
//! one such process on a port of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long a `redis-server` may take to start answering.
const START: Duration = Duration::from_secs(20);
/// How long the topology may take to become healthy, or to fail over.
const SETTLE: Duration = Duration::from_secs(60);

/// How long a `SENTINEL FAILOVER` is given to promote the replica before
/// it is asked for again: past the sentinels' failover timeout (4 s), after
/// which one that did not promote has given up.
const FAILOVER_TRY: Duration = Duration::from_secs(20);

/// How many times a `SENTINEL FAILOVER` is asked for.
const FAILOVER_TRIES: u32 = 3;
/// Ports tried before giving up.
const TRIES: usize = 40;

/// Runs `redis-server "$@"` and waits for it; a watcher kills it (kill -9)
/// when the shell's stdin, a pipe from this process, reaches its end: when
/// this process ends, however it ends.
const WATCHED: &str = "exec 3<&0; redis-server \"$@\" </dev/null >/dev/null 2>&1 & s=$!; \
                       (cat <&3 >/dev/null; kill -9 $s 2>/dev/null) & wait $s";

fn other(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// One `redis-server` process on 127.0.0.1, killed (SIGKILL) when dropped
/// and when the process that started it ends, however it ends (a `sh`
/// watching the pipe from this process kills it): a node in a `static`,
/// never dropped, does not outlive the test binary.
///
/// Its port is one it holds itself: candidates come from a range below the
/// kernel's ephemeral ports, from a start that depends on the process id
/// so that two test binaries rarely try the same ones; a port something
/// else holds is detected (the server exits, or another process answers
/// there) and the next one tried. No port is bound, dropped and reused.
///
/// # Example
///
/// ```no_run
/// use weixin::testing::RedisNode;
///
/// let node = RedisNode::start(|port| {
///     ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]
///         .map(String::from)
///         .to_vec()
/// })?;
/// let client = redis::Client::open(format!("redis://127.0.0.1:{}/", node.port()))
///     .map_err(std::io::Error::other)?;
/// let pong: String = redis::cmd("PING")
///     .query(&mut client.get_connection().map_err(std::io::Error::other)?)
///     .map_err(std::io::Error::other)?;
/// assert_eq!(pong, "PONG");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisNode {
    port: u16,
    /// The `sh` watching the server.
    child: Option<Child>,
    /// The server's own process id.
    pid: u32,
}

impl RedisNode {
    /// Starts `redis-server` (found on `PATH`) with the arguments
    /// `args(port)` gives, on the first candidate port that turns out to
    /// be its own; `args` must make it listen on that port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// If `sh` cannot run, or no candidate port (40 tried) gives a server
    /// that answers as the process started.
    pub fn start(args: impl Fn(u16) -> Vec<String>) -> std::io::Result<RedisNode> {
        let mut last = String::from("no port tried");
        for _ in 0..TRIES {
            let port = next_port()?;
            match RedisNode::start_on(port, args(port))? {
                Some(node) => return Ok(node),
                None => last = format!("port {port} is someone else's"),
            }
        }
        Err(other(format!(
            "redis-server did not start on any of {TRIES} ports: {last}"
        )))
    }

    /// Starts `redis-server args` meant to listen on `port`: `None` if it
    /// exits (the port is taken) or another process answers there.
    fn start_on(port: u16, args: Vec<String>) -> std::io::Result<Option<RedisNode>> {
        let mut child = Command::new("sh")
            .args(["-c", WATCHED, "sh"])
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| other(format!("cannot run sh for redis-server: {e}")))?;
        let deadline = Instant::now() + START;
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return Ok(None);
            }
            if let Some(pid) = process_id(port) {
                if parent_of(pid) == Some(child.id()) {
                    return Ok(Some(RedisNode {
                        port,
                        child: Some(child),
                        pid,
                    }));
                }
                // Someone else's server: ours fails to bind and exits.
                // ok because a watcher that already ended needs neither
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!(
                    "redis-server on port {port} did not answer within {START:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The arguments of a server on 127.0.0.1 at `port` that keeps nothing
    /// on disk (no snapshot, no append-only file): for
    /// [`start`](RedisNode::start) and [`restart`](RedisNode::restart).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::RedisNode;
    ///
    /// let args = RedisNode::standalone_args(6390);
    /// assert_eq!(args[..2], ["--port", "6390"]);
    /// assert!(args.windows(2).any(|w| w == ["--appendonly", "no"]));
    /// ```
    pub fn standalone_args(port: u16) -> Vec<String> {
        let port = port.to_string();
        [
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL (`kill -9`) and waits for its watcher
    /// to end. Killing it twice does nothing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // ok because a server that already exited needs no signal
            let _ = Command::new("kill")
                .args(["-9", &self.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            // Its watcher ends once the server has.
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again on its port with
    /// the arguments `args(port)` gives: a Redis restart at the same
    /// address.
    ///
    /// # Errors
    ///
    /// If `sh` cannot run, or the port was taken by another process while
    /// the server was down (the node stays down).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use weixin::testing::RedisNode;
    ///
    /// let args = |port: u16| {
    ///     ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]
    ///         .map(String::from)
    ///         .to_vec()
    /// };
    /// let mut node = RedisNode::start(args)?;
    /// let port = node.port();
    /// node.restart(args)?;
    /// assert_eq!(node.port(), port);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn restart(&mut self, args: impl Fn(u16) -> Vec<String>) -> std::io::Result<()> {
        self.kill();
        match RedisNode::start_on(self.port, args(self.port))? {
            Some(node) => {
                *self = node;
                Ok(())
            }
            None => Err(other(format!(
                "port {} was taken while its redis-server was down",
                self.port
            ))),
        }
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The next candidate port.
fn next_port() -> std::io::Result<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 400) as u16 * 25,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let port = NEXT.fetch_add(1, Ordering::SeqCst);
    if port >= 32_000 {
        return Err(other("no candidate port left for redis-server".into()));
    }
    Ok(port)
}

/// The parent process id of `pid` (Linux's `/proc`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces, so after the `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The `process_id` of the Redis answering on `port`, if any.
fn process_id(port: u16) -> Option<u32> {
    let info: String = query(port, redis::cmd("INFO").arg("server")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Runs `cmd` on the server at `port`: 2 s to connect, 5 s to answer.
pub(crate) fn query<T: redis::FromRedisValue>(
    port: u16,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(Some(Duration::from_secs(5)))?;
    cmd.query(&mut con)
}

/// A Redis Sentinel deployment of its own on 127.0.0.1: one primary, one
/// replica and three sentinels (quorum 2, a node is down after 3 s
/// without an answer: 1 s made a loaded machine's slow primary fail over
/// on its own), all [`RedisNode`]s, without persistence, in a
/// temporary directory removed when it is dropped. Every process is
/// killed when it is dropped, and when the process that started it ends,
/// however it ends.
///
/// Faults: [`failover`](SentinelTopology::failover) (`SENTINEL FAILOVER`)
/// and [`kill_primary`](SentinelTopology::kill_primary) (`kill -9`) then
/// [`promoted`](SentinelTopology::promoted), which restarts the killed node
/// as a replica, so that the next fault finds a replica to promote. Every
/// wait polls the servers with a bound (60 s).
///
/// # Example
///
/// ```no_run
/// use weixin::store::{RedisStore, Store};
/// use weixin::testing::SentinelTopology;
/// use weixin::{RedisSentinel, Secret};
///
/// let topology = SentinelTopology::start()?;
/// let store = RedisStore::sentinel(RedisSentinel::new(topology.master(), topology.urls()))?;
/// store.put_refresh_token("wxc", "wxa", &Secret::new("R1"))?;
/// let first = topology.primary_port();
/// let second = topology.failover()?;
/// assert_ne!(first, Some(second));
/// // The store finds the new primary, and the write waited for the replica.
/// let kept = store.get_refresh_token("wxc", "wxa")?;
/// assert_eq!(kept.map(|r| r.expose().to_string()), Some("R1".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SentinelTopology {
    dir: PathBuf,
    /// The primary and the replica, in either role.
    nodes: Mutex<Vec<RedisNode>>,
    sentinels: Vec<RedisNode>,
}

impl SentinelTopology {
    /// The master name the sentinels watch: `wxtest`.
    pub const MASTER: &'static str = "wxtest";

    /// Starts the five servers and waits (bounded) until the topology is
    /// [healthy](SentinelTopology::healthy).
    ///
    /// # Errors
    ///
    /// If a server does not start (see [`RedisNode::start`]), the
    /// temporary directory cannot be made, or the topology is not healthy
    /// within 60 s.
    pub fn start() -> std::io::Result<SentinelTopology> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "weixin-sentinel-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)?;
        let primary = RedisNode::start(|port| data_args(&dir, port, None))?;
        let replica = RedisNode::start(|port| data_args(&dir, port, Some(primary.port)))?;
        let mut sentinels = Vec::new();
        for i in 0..3 {
            sentinels.push(RedisNode::start(|port| {
                sentinel_args(&dir, i, port, primary.port)
            })?);
        }
        for sentinel in &sentinels {
            // Redis 7's Sentinel asks replicas for `INFO` every 10 s, and
            // a node that restarted is seen as a replica only then: asking
            // every second makes a failover take seconds, not tens of
            // them. (Its other periods stay: a shorter announcement period
            // also shortens the wait before a sentinel that has not heard
            // of a promotion yet turns the promoted node back.) An older
            // Sentinel without `DEBUG` keeps its own pace.
            // ok because the default is only slower
            let _: redis::RedisResult<String> = query(
                sentinel.port,
                redis::cmd("SENTINEL")
                    .arg("DEBUG")
                    .arg("info-period")
                    .arg(1000),
            );
        }
        let topology = SentinelTopology {
            dir,
            nodes: Mutex::new(vec![primary, replica]),
            sentinels,
        };
        topology.healthy()?;
        Ok(topology)
    }

    /// The master name the sentinels watch ([`MASTER`](Self::MASTER)).
    pub fn master(&self) -> &str {
        Self::MASTER
    }

    /// The sentinels' URLs, `redis://127.0.0.1:port`.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }

    /// The port of the primary the sentinels name, once they all agree;
    /// `None` while they do not (or one does not answer).
    pub fn primary_port(&self) -> Option<u16> {
        let mut named = None;
        for sentinel in &self.sentinels {
            let (_, port): (String, u16) = query(
                sentinel.port,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(Self::MASTER),
            )
            .ok()?;
            if named.is_some_and(|p| p != port) {
                return None;
            }
            named = Some(port);
        }
        named
    }

    /// Waits (bounded) until every node runs, the sentinels agree on a
    /// primary that says so, the other node replicates from it, and each
    /// sentinel knows the two others.
    ///
    /// # Errors
    ///
    /// If that takes more than 60 s.
    pub fn healthy(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + SETTLE;
        while !self.is_healthy() {
            if Instant::now() > deadline {
                return Err(other(format!(
                    "the sentinel topology did not become healthy within {SETTLE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn is_healthy(&self) -> bool {
        let Some(primary) = self.primary_port() else {
            return false;
        };
        let replicas = match query::<redis::Role>(primary, &redis::cmd("ROLE")) {
            Ok(redis::Role::Primary { replicas, .. }) => replicas,
            _ => return false,
        };
        let ports: Vec<u16> = self.nodes.lock().iter().map(|n| n.port).collect();
        let replica_up = ports.iter().filter(|p| **p != primary).all(|port| {
            matches!(
                query::<redis::Role>(*port, &redis::cmd("ROLE")),
                Ok(redis::Role::Replica { primary_port, replication_state, .. })
                    if primary_port == primary && replication_state == "connected"
            )
        });
        let known = self.sentinels.iter().all(|s| {
            let info: Result<std::collections::HashMap<String, String>, _> = query(
                s.port,
                redis::cmd("SENTINEL").arg("MASTER").arg(Self::MASTER),
            );
            info.is_ok_and(|i| {
                i.get("num-other-sentinels").map(String::as_str) == Some("2")
                    && i.get("flags").map(String::as_str) == Some("master")
            })
        });
        replicas.len() == 1 && replica_up && known
    }

    /// `SENTINEL FAILOVER`, then waits (bounded) until the other node is
    /// the primary and the topology is healthy again; returns the new
    /// primary's port.
    ///
    /// # Errors
    ///
    /// If there is no agreed primary, a sentinel refuses the failover, or
    /// the new primary or the health do not come within 60 s each.
    pub fn failover(&self) -> std::io::Result<u16> {
        let old = self.begin_failover()?;
        let new = self.switched(old)?;
        self.healthy()?;
        Ok(new)
    }

    /// After [`begin_failover`](SentinelTopology::begin_failover) from
    /// `old`: waits (bounded) for the new primary, asking for the failover
    /// again if none came within 20 s (a sentinel aborts a
    /// promotion the replica did not take within its failover timeout,
    /// 4 s here, and then keeps the old primary); at most three times.
    /// Returns the new primary's port as soon as the sentinels agree on it
    /// and it says it is the primary, before the old one is demoted.
    ///
    /// # Errors
    ///
    /// If no failover came after the third request, 20 s each.
    pub fn switched(&self, old: u16) -> std::io::Result<u16> {
        let mut tries = 1;
        loop {
            match self.new_primary_within(old, FAILOVER_TRY) {
                Ok(new) => return Ok(new),
                Err(e) if tries == FAILOVER_TRIES => return Err(e),
                Err(_) => {
                    tries += 1;
                    // A failover may have come meanwhile: then the primary
                    // is not `old` any more and there is nothing to ask.
                    if self.primary_port() == Some(old) {
                        self.begin_failover()?;
                    }
                }
            }
        }
    }

    /// Asks a sentinel for a failover (`SENTINEL FAILOVER`) and returns
    /// the primary's port at the time, without waiting.
    ///
    /// A sentinel that has not yet seen the replica since it (re)joined
    /// answers `NOGOODSLAVE` (it learns of replicas every second), and
    /// one still finishing the last failover `INPROG`: asked again every
    /// 200 ms, for at most 20 s. For a test of the seconds in which the
    /// old primary still says it is one ([`failover`](SentinelTopology::failover)
    /// waits until it has been demoted).
    ///
    /// # Errors
    ///
    /// If the sentinels do not agree on a primary, or a sentinel refuses
    /// the failover otherwise or for longer than 20 s.
    pub fn begin_failover(&self) -> std::io::Result<u16> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let old = self.agreed_primary()?;
        loop {
            // A failover in progress (`INPROG`) that has ended meanwhile
            // is the one asked for: asking again would start another.
            if self.primary_port() != Some(old) {
                return Ok(old);
            }
            let asked: redis::RedisResult<String> = query(
                self.sentinels[0].port,
                redis::cmd("SENTINEL").arg("FAILOVER").arg(Self::MASTER),
            );
            match asked {
                Ok(_) => return Ok(old),
                Err(e)
                    if Instant::now() < deadline
                        && ["NOGOODSLAVE", "INPROG"]
                            .iter()
                            .any(|code| e.code() == Some(code)) =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(other(format!("SENTINEL FAILOVER: {e}"))),
            }
        }
    }

    /// Kills the primary with SIGKILL (`kill -9`) and returns its port; the
    /// sentinels have not promoted the replica yet (see
    /// [`promoted`](SentinelTopology::promoted)).
    ///
    /// # Errors
    ///
    /// If the sentinels do not agree on a primary that is one of the nodes.
    pub fn kill_primary(&self) -> std::io::Result<u16> {
        let old = self.agreed_primary()?;
        let mut nodes = self.nodes.lock();
        let node = nodes
            .iter_mut()
            .find(|n| n.port == old)
            .ok_or_else(|| other(format!("the primary on {old} is not one of the nodes")))?;
        node.kill();
        Ok(old)
    }

    /// After [`kill_primary`](SentinelTopology::kill_primary) killed `old`:
    /// waits (bounded) until the sentinels promote the replica, restarts
    /// the killed node as a replica of the new primary (on its port, or on
    /// another if something took it meanwhile), and waits until the
    /// topology is healthy again; returns the new primary's port.
    ///
    /// # Errors
    ///
    /// If no promotion or no health comes within 60 s each, or the node
    /// does not start again.
    pub fn promoted(&self, old: u16) -> std::io::Result<u16> {
        let new = self.new_primary(old)?;
        self.restart_as_replica(old, new)?;
        self.healthy()?;
        Ok(new)
    }

    /// Restarts the killed node that listened on `old` as a replica of
    /// `new`.
    fn restart_as_replica(&self, old: u16, new: u16) -> std::io::Result<()> {
        let restarted = match RedisNode::start_on(old, data_args(&self.dir, old, Some(new)))? {
            Some(node) => node,
            None => RedisNode::start(|port| data_args(&self.dir, port, Some(new)))?,
        };
        let mut nodes = self.nodes.lock();
        match nodes.iter_mut().find(|n| n.port == old) {
            Some(slot) => *slot = restarted,
            None => nodes.push(restarted),
        }
        Ok(())
    }

    /// Waits (bounded) until the sentinels agree on a primary other than
    /// `old` that says it is one; returns its port.
    pub(crate) fn new_primary(&self, old: u16) -> std::io::Result<u16> {
        self.new_primary_within(old, SETTLE)
    }

    /// [`new_primary`](SentinelTopology::new_primary) within `bound`.
    fn new_primary_within(&self, old: u16, bound: Duration) -> std::io::Result<u16> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(new) = self.primary_port().filter(|p| *p != old) {
                if matches!(
                    query::<redis::Role>(new, &redis::cmd("ROLE")),
                    Ok(redis::Role::Primary { .. })
                ) {
                    return Ok(new);
                }
            }
            if Instant::now() > deadline {
                return Err(other(format!(
                    "no failover away from {old} within {bound:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn agreed_primary(&self) -> std::io::Result<u16> {
        self.primary_port()
            .ok_or_else(|| other("the sentinels do not agree on a primary".into()))
    }
}

impl Drop for SentinelTopology {
    fn drop(&mut self) {
        for node in self.nodes.get_mut().iter_mut().chain(&mut self.sentinels) {
            node.kill();
        }
        // ok because a temp dir left behind is harmless
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A data node's arguments: no persistence, a directory of its own, a
/// replica of `primary` if given.
fn data_args(dir: &Path, port: u16, primary: Option<u16>) -> Vec<String> {
    let dir = dir.join(format!("node-{port}"));
    // ok because a directory that cannot be made fails the server's start
    let _ = std::fs::create_dir_all(&dir);
    let mut args = RedisNode::standalone_args(port);
    args.extend(
        [
            // A replica that (re)joins is synchronised at once, not after
            // the 5 s Redis waits for others to share the transfer.
            "--repl-diskless-sync-delay",
            "0",
            "--dir",
            &dir.display().to_string(),
        ]
        .map(String::from),
    );
    if let Some(primary) = primary {
        args.extend([
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            primary.to_string(),
        ]);
    }
    args
}

/// Sentinel `i`'s arguments: its configuration file (written here: a
/// sentinel rewrites it) and `--sentinel`.
fn sentinel_args(dir: &Path, i: usize, port: u16, primary: u16) -> Vec<String> {
    let conf = dir.join(format!("sentinel-{i}-{port}.conf"));
    let master = SentinelTopology::MASTER;
    // ok because a file that cannot be written fails the server's start
    let _ = std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {master} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {master} 3000\n\
             sentinel failover-timeout {master} 4000\n\
             sentinel parallel-syncs {master} 1\n",
            dir.display()
        ),
    );
    vec![conf.display().to_string(), "--sentinel".to_string()]
}
