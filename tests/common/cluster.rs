//! A Redis Cluster of the test binary's own: three primaries and a replica
//! each on 127.0.0.1, started once, by the first test that asks, and gone
//! with the test binary (each `redis-server` runs under a shell that kills
//! it when the binary's end of its stdin closes, panics and aborts
//! included). And [`Topology`]: the Redis store tests run once on the
//! shared Redis at 127.0.0.1:6379 and once on this cluster. A test that
//! stops or kills a node holds [`exclusive`] until the cluster is whole
//! again; every other test on the cluster holds [`shared`] ([`each`]
//! does), so none sees another's fault.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use weixin::store::RedisStore;

/// The single Redis every Redis test uses (`.ci/redis.sh` starts it).
pub const REDIS: &str = "redis://127.0.0.1:6379/";

/// Nodes: three primaries, then their replicas.
const NODES: u16 = 6;

/// First ports tried, far from 6379 and from the ephemeral range; a node's
/// cluster bus is its port + 10000. A base whose ports are taken (another
/// run of the suite) moves on to the next.
const BASES: [u16; 8] = [
    21_100, 21_300, 21_500, 21_700, 22_100, 22_300, 22_500, 22_700,
];

/// How long the cluster may take to form.
const FORMING: Duration = Duration::from_secs(60);

/// Where the Redis store tests run.
#[derive(Clone, Copy, Debug)]
pub enum Topology {
    /// The Redis at 127.0.0.1:6379.
    Single,
    /// The cluster of this binary.
    Cluster,
}

impl Topology {
    /// Both, for a test that runs on each.
    pub const ALL: [Topology; 2] = [Topology::Single, Topology::Cluster];

    /// A store on this topology under `prefix`; panics, naming what to
    /// run, if Redis does not answer.
    pub fn open(self, prefix: &str) -> RedisStore {
        let store = match self {
            Topology::Single => RedisStore::open(REDIS).unwrap(),
            Topology::Cluster => RedisStore::cluster(&cluster().seeds()).unwrap(),
        }
        .prefix(prefix.to_string());
        if let Err(e) = store.ping() {
            panic!("{self:?} Redis must answer for this test (run .ci/redis.sh): {e}");
        }
        store
    }

    /// hub.toml's `[store]` for this topology under `prefix`.
    #[allow(dead_code)] // ok because only the tests with the `hub` feature use it
    pub fn config(self, prefix: &str) -> String {
        match self {
            Topology::Single => {
                format!("[store]\nkind = \"redis\"\nurl = \"{REDIS}\"\nprefix = \"{prefix}\"")
            }
            Topology::Cluster => {
                let nodes: Vec<String> = cluster()
                    .seeds()
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect();
                format!(
                    "[store]\nkind = \"redis\"\ncluster = [{}]\nprefix = \"{prefix}\"",
                    nodes.join(", ")
                )
            }
        }
    }
}

/// One node: its port.
pub struct Node {
    pub port: u16,
    /// Closing it (when the binary ends) stops the node.
    _life: ChildStdin,
}

/// The cluster (see the module docs).
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Nodes started again after a kill, kept until the binary ends.
    restarted: Mutex<Vec<Node>>,
    dir: std::path::PathBuf,
}

/// Taken shared by every test on the cluster, exclusively by a test that
/// stops or kills a node, so that no other test sees the fault.
static FAULTS: RwLock<()> = RwLock::new(());

/// Held while a test uses the cluster (see [`exclusive`]). Never taken
/// twice by one thread: a writer waiting would block the second read.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    FAULTS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held while a test stops or kills a node and until the cluster is whole
/// again: no other cluster test runs meanwhile.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FAULTS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The binary's cluster, started by the first caller.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

impl Cluster {
    /// `redis://127.0.0.1:<port>/` of each primary, as first created.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes[..3]
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// A plain connection to the node on `port`.
    pub fn node(&self, port: u16) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let con = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("a cluster node answers");
        con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        con
    }

    fn start() -> Cluster {
        let dir = super::temp_dir("cluster");
        for base in BASES {
            let ports: Vec<u16> = (base..base + NODES).collect();
            let free = ports.iter().all(|&p| {
                std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
            });
            if !free {
                continue;
            }
            let nodes: Option<Vec<Node>> = ports.iter().map(|&p| start_node(&dir, p)).collect();
            let Some(nodes) = nodes else { continue };
            let cluster = Cluster {
                nodes,
                restarted: Mutex::new(Vec::new()),
                dir,
            };
            cluster.create();
            return cluster;
        }
        panic!("no free ports for the test cluster from {BASES:?}");
    }

    /// `redis-cli --cluster create`, then waits (bounded) until every node
    /// says `cluster_state:ok` and each replica is in sync.
    fn create(&self) {
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let out = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli must be installed: run .ci/redis.sh");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_whole(FORMING);
    }

    /// Waits (at most `bound`) until every node says `cluster_state:ok`,
    /// sees three primaries and three replicas, none failing, and each
    /// replica is in sync.
    pub fn wait_whole(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        for node in &self.nodes {
            let mut con = self.node(node.port);
            loop {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut con)
                    .unwrap();
                // A primary counts its replica once it is online (ROLE
                // names it then): the store waits only for those.
                let synced = (replication.contains("role:master")
                    && replication.contains("state=online"))
                    || replication.contains("master_link_status:up");
                // Its view of the others agrees: three primaries, three
                // replicas, none failing or still being met.
                let view: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
                let flags: Vec<&str> = view.lines().filter_map(|l| l.split(' ').nth(2)).collect();
                let agreed = flags.len() == usize::from(NODES)
                    && flags.iter().filter(|f| f.contains("master")).count()
                        == usize::from(NODES / 2)
                    && !flags.iter().any(|f| {
                        f.contains("fail") || f.contains("handshake") || f.contains("noaddr")
                    });
                if info.contains("cluster_state:ok") && synced && agreed {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the test cluster did not form: node {}: {info}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The process id of the node on `port`.
    pub fn pid(&self, port: u16) -> u32 {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut self.node(port))
            .unwrap();
        field(&info, "process_id").parse().unwrap()
    }

    /// `kill -9` of the node on `port` (a process this binary started).
    pub fn kill(&self, port: u16) {
        signal(self.pid(port), "-KILL");
    }

    /// Stops the node on `port` (`SIGSTOP`: its connections stay open and
    /// it answers nothing) until the guard is dropped (`SIGCONT`).
    pub fn stop(&self, port: u16) -> Stopped {
        let pid = self.pid(port);
        signal(pid, "-STOP");
        Stopped(pid)
    }

    /// Starts the node on `port` again after a [`kill`](Cluster::kill): it
    /// rejoins from its nodes file as a replica of the primary that
    /// replaced it; returns once it is in sync and the cluster is whole
    /// again (at most `bound`).
    pub fn restart(&self, port: u16, bound: Duration) {
        let node = start_node(&self.dir, port).expect("the killed node's port is free again");
        self.restarted.lock().unwrap().push(node);
        let deadline = Instant::now() + bound;
        let mut con = self.node(port);
        loop {
            let replication: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut con)
                .unwrap();
            if replication.contains("role:slave") && replication.contains("master_link_status:up") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {port} did not rejoin as a replica: {replication}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_whole(deadline.saturating_duration_since(Instant::now()));
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.node(self.nodes[0].port))
            .unwrap()
    }

    /// `CLUSTER NODES` as the node on `port` sees it: `(id, port, is
    /// primary, slots)` per node.
    pub fn nodes_seen(&self, port: u16) -> Vec<(String, u16, bool, String)> {
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.node(port))
            .unwrap();
        text.lines()
            .map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                let port = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                (
                    f[0].to_string(),
                    port,
                    f[2].contains("master"),
                    f[8..].join(" "),
                )
            })
            .collect()
    }

    /// The primary `(id, port)` that serves `slot` now, as the node on
    /// `asked` sees it.
    pub fn owner_seen_by(&self, asked: u16, slot: u16) -> (String, u16) {
        let num = |v: &redis::Value| match v {
            redis::Value::Int(n) => *n as u16,
            other => panic!("{other:?}"),
        };
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.node(asked))
            .unwrap();
        let range = ranges
            .into_iter()
            .find(|r| (num(&r[0])..=num(&r[1])).contains(&slot))
            .expect("a served slot");
        let port = match &range[2] {
            redis::Value::Array(node) => num(&node[1]),
            other => panic!("{other:?}"),
        };
        let id = self
            .nodes_seen(asked)
            .into_iter()
            .find(|(_, p, _, _)| *p == port)
            .unwrap()
            .0;
        (id, port)
    }

    /// Waits (at most `bound`) until every node but `down` says the
    /// primary on `port` serves `slot` and the cluster is ok.
    pub fn wait_owner(&self, slot: u16, port: u16, down: u16, bound: Duration) {
        let deadline = Instant::now() + bound;
        for node in self.nodes.iter().filter(|n| n.port != down) {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut self.node(node.port))
                    .unwrap();
                if info.contains("cluster_state:ok")
                    && self.owner_seen_by(node.port, slot).1 == port
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} does not see {port} serve slot {slot}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The primary `(id, port)` that serves `slot` now.
    pub fn owner(&self, slot: u16) -> (String, u16) {
        self.owner_seen_by(self.nodes[0].port, slot)
    }

    /// The port of the replica of the primary on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let replication: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut self.node(port))
            .unwrap();
        let line = field(&replication, "slave0");
        line.split(',')
            .find_map(|kv| kv.strip_prefix("port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("node {port} has a replica: {replication}"))
    }

    /// How many `WAIT`s the node on `port` has run.
    pub fn waits(&self, port: u16) -> u64 {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.node(port))
            .unwrap();
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_wait:calls="))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    }

    /// The `WAIT`s each primary has run, by port.
    pub fn waits_by_primary(&self) -> HashMap<u16, u64> {
        self.nodes_seen(self.nodes[0].port)
            .into_iter()
            .filter(|(_, _, primary, slots)| *primary && !slots.is_empty())
            .map(|(_, port, _, _)| (port, self.waits(port)))
            .collect()
    }
}

/// The value of `name:` in an `INFO` answer.
fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
}

/// Sends `signal` to `pid` with `kill`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A node stopped by [`Cluster::stop`]; continued when dropped.
pub struct Stopped(u32);

impl Drop for Stopped {
    fn drop(&mut self) {
        // ok because a failure here (a test already failing) must not abort
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.0.to_string())
            .status();
    }
}

/// Starts a cluster node on `port` under a shell that kills it when its
/// stdin closes; `None` if it did not come up as ours (port taken).
fn start_node(dir: &std::path::Path, port: u16) -> Option<Node> {
    // The server logs nowhere: its stdout would be the pipe its pid is
    // read from, closed after that line.
    let script = r#"redis-server "$@" >/dev/null 2>&1 & echo $!; read _; kill $!"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--cluster-node-timeout", "2000"])
        .args(["--dir", &dir.display().to_string()])
        .args(["--save", "", "--appendonly", "no"])
        // A replica (re)joining is synced at once, not after 5 s waiting
        // for others.
        .args(["--repl-diskless-sync-delay", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh and redis-server must be installed: run .ci/redis.sh");
    let life = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    // Reaped when the node stops.
    std::thread::spawn(move || child.wait());
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).ok()?;
    let pid: u32 = line.trim().parse().ok()?;
    let node = Node { port, _life: life };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answered = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .ok()
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)).ok())
            .and_then(|mut c| {
                redis::cmd("INFO")
                    .arg("server")
                    .query::<String>(&mut c)
                    .ok()
            });
        if let Some(info) = answered {
            // Another server on the port: not ours.
            return info
                .contains(&format!("process_id:{pid}\r"))
                .then_some(node);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `test` on each topology; a failure says which.
pub fn each(test: impl Fn(Topology)) {
    for topology in Topology::ALL {
        let _named = Named(topology);
        let _cluster = matches!(topology, Topology::Cluster).then(shared);
        test(topology);
    }
}

/// Says which topology a failing test ran on.
struct Named(Topology);

impl Drop for Named {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failure above is on the {:?} Redis)", self.0);
        }
    }
}

impl Topology {
    /// A connection of the test's own to this topology, for commands the
    /// store does not make.
    pub fn connection(self) -> Box<dyn redis::ConnectionLike> {
        match self {
            Topology::Single => Box::new(
                redis::Client::open(REDIS)
                    .unwrap()
                    .get_connection_with_timeout(Duration::from_secs(5))
                    .unwrap(),
            ),
            Topology::Cluster => Box::new(
                redis::cluster::ClusterClient::new(cluster().seeds())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            ),
        }
    }
}
