//! The `wechat` binary, run as a user runs it, against the fake WeChat and
//! the fake hub: exact stdout, stderr and exit codes. Every run is checked
//! for secrets and tokens in its output unless it asked to show one.

mod batch;
mod callback;
mod calls;
mod general;
mod masking;
mod signals;
mod token_cache;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use weixin::testing::FakeWechat;

use crate::common::{temp_dir, APPID, SECRET};

pub const CALLBACK_TOKEN: &str = "CALLBACK_tok3n_555";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const BEARER: &str = "BEARER_cli_hub_777";

/// What the fakes mint tokens, tickets and codes as: `PREFIX_appid_...`.
const MINTED: &[&str] = &[
    "TOKEN",
    "STABLE",
    "USER",
    "USER_REFRESH",
    "COMPONENT",
    "AUTHORIZER",
    "REFRESH",
    "TICKET_jsapi",
    "TICKET_wx_card",
];

/// One finished run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts all three at once, so a failure shows all three.
    #[track_caller]
    pub fn expect(&self, code: i32, stdout: &str, stderr: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str(), self.stderr.as_str()),
            (Some(code), stdout, stderr)
        );
    }
}

/// A `wechat` command line with a clean environment: only what the test
/// sets is seen (no HOME, so no config file of the machine's).
pub struct Cli {
    command: Command,
    stdin: Vec<u8>,
    reveals: bool,
}

impl Cli {
    pub fn new() -> Cli {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wechat"));
        command.env_clear();
        Cli {
            command,
            stdin: Vec::new(),
            reveals: false,
        }
    }

    /// Aimed at `fake` with the test account's appid and secret.
    pub fn on(fake: &FakeWechat) -> Cli {
        Cli::new()
            .env("WECHAT_APPID", APPID)
            .env("WECHAT_SECRET", SECRET)
            .env("WECHAT_BASE_URL", &fake.url())
    }

    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Cli {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Cli {
        self.command.env(name, value);
        self
    }

    /// The callback token and EncodingAESKey in the environment.
    pub fn callback_secrets(self) -> Cli {
        self.env("WECHAT_CALLBACK_TOKEN", CALLBACK_TOKEN)
            .env("WECHAT_ENCODING_AES_KEY", AES_KEY)
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cli {
        self.stdin = bytes.into();
        self
    }

    /// The run prints a secret or token on purpose (`--show`): the test
    /// checks what it prints itself.
    pub fn reveals(mut self) -> Cli {
        self.reveals = true;
        self
    }

    /// Starts it with stdin closed and stdout, stderr piped.
    pub fn spawn(self) -> Child {
        self.spawn_with(Stdio::null())
    }

    /// Starts it with `stdin` and stdout, stderr piped.
    pub fn spawn_with(mut self, stdin: Stdio) -> Child {
        self.command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wechat")
    }

    /// Runs it to the end.
    pub fn run(mut self) -> Run {
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wechat");
        let mut stdin = child.stdin.take().expect("stdin");
        let bytes = std::mem::take(&mut self.stdin);
        // A thread of its own: a command that does not read stdin must not
        // block the test on a full pipe.
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
        let out = child.wait_with_output().expect("wait for wechat");
        feeder.join().expect("stdin feeder");
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !self.reveals {
            assert_no_secret(&run.stdout);
            assert_no_secret(&run.stderr);
        }
        run
    }
}

/// No secret of the tests' and nothing the fakes minted.
#[track_caller]
pub fn assert_no_secret(text: &str) {
    for secret in [SECRET, CALLBACK_TOKEN, AES_KEY, BEARER] {
        assert!(!text.contains(secret), "leaks {secret:?}:\n{text}");
    }
    for prefix in MINTED {
        assert!(
            !text.contains(&format!("{prefix}_")),
            "leaks a {prefix}:\n{text}"
        );
    }
}

/// A file in a directory of the test's own.
pub fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let path = temp_dir(name).join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

pub fn text(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}
