//! A Redis Cluster of the test binary's own: three primaries and a replica
//! each on 127.0.0.1, started once, by the first test that asks, and gone
//! with the test binary (each `redis-server` runs under a shell that kills
//! it when the binary's end of its stdin closes, panics and aborts
//! included). And [`Topology`]: the Redis store tests run once on the
//! shared Redis at 127.0.0.1:6379 and once on this cluster.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
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
    _dir: std::path::PathBuf,
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
            let cluster = Cluster { nodes, _dir: dir };
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
        let deadline = Instant::now() + FORMING;
        for node in &self.nodes {
            let mut con = self.node(node.port);
            loop {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut con)
                    .unwrap();
                let synced = replication.contains("role:master")
                    || replication.contains("master_link_status:up");
                if info.contains("cluster_state:ok") && synced {
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
