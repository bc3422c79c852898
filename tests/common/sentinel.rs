//! A Redis Sentinel topology of the tests' own: one primary, one replica,
//! three sentinels, all `redis-server` processes on 127.0.0.1, started
//! once per test binary and shared by the tests that take its lock (a
//! failover moves the primary for everyone). Ports come from a range
//! below the kernel's ephemeral ports; a port something else holds is
//! detected (the process exits, or another process answers) and the next
//! one tried. Waiting for a failover is polling the sentinels, bounded.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The master name the sentinels watch.
pub const MASTER: &str = "wxtest";

/// One `redis-server` process on its port, run by a `sh` that kills it
/// when this test process ends, however it ends (its stdin, a pipe from
/// this process, closes): the topology lives in a static, which is never
/// dropped.
pub struct Node {
    pub port: u16,
    /// The `sh` watching the server.
    child: Option<Child>,
    /// The server's own process id.
    pid: u32,
}

impl Node {
    /// Kills the server with SIGKILL (`kill -9`).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-9", &self.pid.to_string()])
                .status();
            // Its watcher ends once the server has.
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `redis-server "$@"` and waits for it; a watcher kills it (kill -9)
/// when the shell's stdin reaches its end.
const WATCHED: &str = "exec 3<&0; redis-server \"$@\" </dev/null >/dev/null 2>&1 & s=$!; \
                       (cat <&3 >/dev/null; kill -9 $s 2>/dev/null) & wait $s";

/// Candidate ports: from a start that depends on the process, so that two
/// test binaries at once rarely try the same ones.
fn next_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 400) as u16 * 25,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let port = NEXT.fetch_add(1, Ordering::SeqCst);
    assert!(port < 32_000, "no free port found for redis-server");
    port
}

/// Starts `redis-server` with the arguments `args(port)` gives, on the
/// first port that is its own.
pub fn start_node(args: impl Fn(u16) -> Vec<String>) -> Node {
    for _ in 0..40 {
        let port = next_port();
        if let Some(node) = try_start(port, args(port)) {
            return node;
        }
    }
    panic!("redis-server did not start on any of 40 ports");
}

/// Starts `redis-server args` meant to listen on `port`: `None` if it
/// exits (port taken) or another process answers there.
fn try_start(port: u16, args: Vec<String>) -> Option<Node> {
    let mut child = Command::new("sh")
        .args(["-c", WATCHED, "sh"])
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs redis-server (installed by .ci/test)");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if let Some(pid) = process_id(port) {
            if parent_of(pid) == Some(child.id()) {
                return Some(Node {
                    port,
                    child: Some(child),
                    pid,
                });
            }
            // Someone else's server: ours fails to bind and exits.
            let _ = child.wait();
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Runs `cmd` on the server at `port`, with a timeout.
pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(Some(Duration::from_secs(5)))?;
    cmd.query(&mut con)
}

/// The shared topology.
pub struct Topology {
    dir: PathBuf,
    /// The primary and the replica, in either role.
    nodes: Mutex<Vec<Node>>,
    sentinels: Vec<Node>,
}

/// The topology, started on first use, locked for the caller's test.
pub fn topology() -> MutexGuard<'static, Topology> {
    static TOPOLOGY: OnceLock<Mutex<Topology>> = OnceLock::new();
    let guard = TOPOLOGY
        .get_or_init(|| Mutex::new(Topology::start()))
        .lock()
        // ok because a test that failed in the middle leaves a topology
        // that `healthy` repairs or reports
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.healthy();
    guard
}

fn data_args(dir: &std::path::Path, port: u16, primary: Option<u16>) -> Vec<String> {
    let dir = dir.join(format!("node-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    if let Some(primary) = primary {
        args.extend([
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            primary.to_string(),
        ]);
    }
    args
}

impl Topology {
    fn start() -> Topology {
        let dir = super::temp_dir("sentinel");
        let primary = start_node(|port| data_args(&dir, port, None));
        let replica = start_node(|port| data_args(&dir, port, Some(primary.port)));
        let sentinels = (0..3)
            .map(|i| {
                start_node(|port| {
                    let conf = dir.join(format!("sentinel-{i}-{port}.conf"));
                    std::fs::write(
                        &conf,
                        format!(
                            "port {port}\nbind 127.0.0.1\ndir {}\n\
                             sentinel monitor {MASTER} 127.0.0.1 {} 2\n\
                             sentinel down-after-milliseconds {MASTER} 1000\n\
                             sentinel failover-timeout {MASTER} 4000\n\
                             sentinel parallel-syncs {MASTER} 1\n",
                            dir.display(),
                            primary.port
                        ),
                    )
                    .unwrap();
                    vec![conf.display().to_string(), "--sentinel".to_string()]
                })
            })
            .collect();
        Topology {
            dir,
            nodes: Mutex::new(vec![primary, replica]),
            sentinels,
        }
    }

    /// The sentinels' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }

    /// The port of the primary the sentinels name, once they all agree.
    pub fn primary_port(&self) -> Option<u16> {
        let mut named = None;
        for sentinel in &self.sentinels {
            let (_, port): (String, u16) = query(
                sentinel.port,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER),
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
    pub fn healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_healthy() {
            assert!(
                Instant::now() < deadline,
                "the sentinel topology did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_healthy(&self) -> bool {
        let Some(primary) = self.primary_port() else {
            return false;
        };
        let replicas = match query::<redis::Role>(primary, &redis::cmd("ROLE")) {
            Ok(redis::Role::Primary { replicas, .. }) => replicas,
            _ => return false,
        };
        let ports: Vec<u16> = self.nodes.lock().unwrap().iter().map(|n| n.port).collect();
        let replica_up = ports.iter().filter(|p| **p != primary).all(|port| {
            matches!(
                query::<redis::Role>(*port, &redis::cmd("ROLE")),
                Ok(redis::Role::Replica { primary_port, replication_state, .. })
                    if primary_port == primary && replication_state == "connected"
            )
        });
        let known = self.sentinels.iter().all(|s| {
            let info: Result<std::collections::HashMap<String, String>, _> =
                query(s.port, redis::cmd("SENTINEL").arg("MASTER").arg(MASTER));
            info.is_ok_and(|i| {
                i.get("num-other-sentinels").map(String::as_str) == Some("2")
                    && i.get("flags").map(String::as_str) == Some("master")
            })
        });
        replicas.len() == 1 && replica_up && known
    }

    /// `SENTINEL FAILOVER`, then waits until the other node is the primary
    /// and the topology is healthy again; returns the new primary's port.
    pub fn failover(&self) -> u16 {
        let old = self.primary_port().expect("a primary");
        let _: String = query(
            self.sentinels[0].port,
            redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER),
        )
        .expect("SENTINEL FAILOVER");
        let new = self.moved_from(old);
        self.healthy();
        new
    }

    /// Kills the primary with SIGKILL (`kill -9`) and returns its port; the
    /// sentinels have not promoted the replica yet (see [`promoted`]).
    ///
    /// [`promoted`]: Topology::promoted
    pub fn kill_primary(&self) -> u16 {
        let old = self.primary_port().expect("a primary");
        let mut nodes = self.nodes.lock().unwrap();
        nodes.iter_mut().find(|n| n.port == old).unwrap().kill9();
        old
    }

    /// After [`kill_primary`](Topology::kill_primary) killed `old`: waits
    /// until the sentinels promote the replica, restarts the killed node
    /// on its port as a replica, and waits until the topology is healthy
    /// again; returns the new primary's port.
    pub fn promoted(&self, old: u16) -> u16 {
        let new = self.moved_from(old);
        let args = data_args(&self.dir, old, Some(new));
        let restarted = try_start(old, args).expect("the killed primary's port is free again");
        let mut nodes = self.nodes.lock().unwrap();
        *nodes.iter_mut().find(|n| n.port == old).unwrap() = restarted;
        drop(nodes);
        self.healthy();
        new
    }

    fn moved_from(&self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(new) = self.primary_port().filter(|p| *p != old) {
                if matches!(
                    query::<redis::Role>(new, &redis::cmd("ROLE")),
                    Ok(redis::Role::Primary { .. })
                ) {
                    return new;
                }
            }
            assert!(Instant::now() < deadline, "no failover away from {old}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
