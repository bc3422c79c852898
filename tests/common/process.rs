//! `wechat-hub` and `redis-server` as child processes, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use super::{temp_dir, unique_prefix, wait_until};

/// A running `wechat-hub`; killed (SIGKILL) and reaped when dropped.
pub struct HubProcess {
    child: Option<Child>,
    pub url: String,
    pub config: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    /// Writes `config` to a file in `dir` and starts the binary on it with
    /// `envs`; waits (bounded) for its "listening on" line.
    pub fn start(dir: &Path, config: &str, envs: &[(&str, &str)]) -> HubProcess {
        let path = dir.join("hub.toml");
        std::fs::write(&path, config).expect("write config");
        HubProcess::start_with(&path, envs)
    }

    pub fn start_with(config: &Path, envs: &[(&str, &str)]) -> HubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wechat-hub"))
            .arg("--config")
            .arg(config)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wechat-hub");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line
                    .split("listening on http")
                    .nth(1)
                    .map(|r| format!("http{r}"))
                {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut hub = HubProcess {
            child: Some(child),
            url: String::new(),
            config: config.to_path_buf(),
            logs,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => hub.url = url,
            Err(_) => panic!("wechat-hub did not start; its log:\n{}", hub.logs()),
        }
        hub
    }

    /// Everything it wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until the hub's stderr, read on another thread, has `needle`
    /// (a hang guard, not a timing assertion), and returns the logs.
    pub fn wait_for_log(&self, needle: &str) -> String {
        wait_until(&format!("log line {needle:?}"), || {
            self.logs().contains(needle)
        });
        self.logs()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (TERM, INT) and waits (bounded) for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                // Let the log reader drain the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(Instant::now() < deadline, "wechat-hub did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the binary to completion with `args` and `envs`: (exit code,
/// stdout, stderr). For --help and startup errors.
pub fn run_hub(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wechat-hub"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run wechat-hub");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config for common accounts against `upstream`.
pub fn config(upstream: &str, store: &str, extra: &str) -> String {
    format!(
        "bind = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nworkers = 24\n{extra}\n{store}\n\n[[account]]\nappid = \"{}\"\nsecret_env = \"TEST_WECHAT_SECRET\"\n",
        super::APPID
    )
}

pub const SECRET_ENV: (&str, &str) = ("TEST_WECHAT_SECRET", super::SECRET);
