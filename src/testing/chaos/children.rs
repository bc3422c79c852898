//! The run's child processes: `wechat-hub` replicas and one `redis-server`,
//! each killed (SIGKILL) and reaped when dropped, and every wait bounded.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::timeline::Timeline;

/// How long a child may take to start listening.
const START: Duration = Duration::from_secs(20);

/// Log lines kept per hub, for crash reports.
const LOG_LINES: usize = 40;

fn other(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// A running `wechat-hub`.
pub(super) struct HubChild {
    child: Option<Child>,
    pub url: String,
    logs: Arc<Mutex<VecDeque<String>>>,
}

impl HubChild {
    /// Starts `bin --config config` with `env` set; waits (bounded) for its
    /// "listening on" line.
    pub fn start(
        bin: &Path,
        config: &Path,
        env: (&str, &str),
        timeline: Timeline,
    ) -> std::io::Result<HubChild> {
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .env(env.0, env.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| other(format!("cannot run {}: {e}", bin.display())))?;
        let Some(stderr) = child.stderr.take() else {
            return Err(other("wechat-hub without stderr".into()));
        };
        let logs = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        let pid = child.id();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    // ok because the starter may have given up waiting
                    let _ = tx.send(url);
                }
                timeline.note(format_args!("hub {pid}: {line}"));
                let mut logs = sink.lock();
                if logs.len() == LOG_LINES {
                    logs.pop_front();
                }
                logs.push_back(line);
            }
        });
        let mut hub = HubChild {
            child: Some(child),
            url: String::new(),
            logs,
        };
        match rx.recv_timeout(START) {
            Ok(url) => {
                hub.url = url;
                Ok(hub)
            }
            Err(e) => {
                hub.kill();
                let what = match e {
                    mpsc::RecvTimeoutError::Timeout => format!("did not listen within {START:?}"),
                    mpsc::RecvTimeoutError::Disconnected => "exited before it listened".into(),
                };
                Err(other(format!(
                    "wechat-hub {what}; its log:\n{}",
                    hub.log_tail()
                )))
            }
        }
    }

    /// The exit status, if it has exited (by itself: `kill` forgets it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // ok because a child that already exited needs neither
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its last log lines.
    pub fn log_tail(&self) -> String {
        self.logs
            .lock()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for HubChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` of the run's own, without persistence, restarted on
/// the port it first got.
pub(super) struct RedisChild {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisChild {
    /// Starts `bin` on a random high port of 127.0.0.1, trying other ports
    /// while one is taken.
    pub fn start(bin: &Path, dir: &Path) -> std::io::Result<RedisChild> {
        let mut last = String::new();
        for _ in 0..20 {
            let mut bytes = [0u8; 2];
            getrandom::fill(&mut bytes).map_err(|e| other(format!("no randomness: {e}")))?;
            let port = 20_000 + u16::from_le_bytes(bytes) % 40_000;
            let mut redis = RedisChild {
                bin: bin.to_path_buf(),
                dir: dir.to_path_buf(),
                port,
                child: None,
            };
            match redis.spawn() {
                Ok(()) => return Ok(redis),
                Err(e) => last = e.to_string(),
            }
        }
        Err(other(format!("redis-server did not start: {last}")))
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL, then reap.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // ok because a child that already exited needs neither
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its port (retrying a while if the port is still
    /// held).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let deadline = Instant::now() + START;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Starts one `redis-server` on `self.port` and waits until it answers
    /// as the process we started (not someone else's server on that port).
    fn spawn(&mut self) -> std::io::Result<()> {
        let mut child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| other(format!("cannot run {}: {e}", self.bin.display())))?;
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(other(format!(
                    "redis-server on port {} exited ({status}): port taken?",
                    self.port
                )));
            }
            if answers_as(self.port, child.id()) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                // ok because a child that already exited needs neither
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!(
                    "redis-server on port {} did not answer within {START:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the Redis at `port` answers and is process `pid`.
fn answers_as(port: u16, pid: u32) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
        return false;
    };
    // ok because a server that refuses timeouts is asked without them
    let _ = con.set_read_timeout(Some(Duration::from_secs(1)));
    redis::cmd("INFO")
        .arg("server")
        .query::<String>(&mut con)
        .is_ok_and(|info| info.contains(&format!("process_id:{pid}\r\n")))
}
