//! SIGINT and SIGTERM stop a batch cleanly whatever it reads: a file, a
//! pipe already closed, a pipe whose writer stays (a producer still
//! running) and a terminal (a pty made by util-linux `script`, Ctrl-C typed
//! into it). Clean: the call in flight finishes and is written, the output
//! is flushed, the summary printed, exit 130 (SIGINT) or 143 (SIGTERM).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wechat::testing::FakeWechat;

use super::batch::{calls, results, untimed};
use super::{assert_no_secret, temp_dir, text, Cli};
use crate::common::{self, wait_until, APPID, SECRET};

/// How a test stops the batch.
#[derive(Clone, Copy, Debug)]
enum Signal {
    Int,
    Term,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Signal::Int => "-INT",
            Signal::Term => "-TERM",
        }
    }

    fn code(self) -> i32 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Signal::Int => "interrupted",
            Signal::Term => "terminated",
        }
    }

    fn send(self, pid: u32) {
        let status = Command::new("kill")
            .args([self.flag(), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

/// The batch's arguments after `batch INPUT`.
fn batch_args(output: &Path) -> Vec<String> {
    ["-o", &text(output), "--progress-every", "0", "-j", "4"]
        .map(String::from)
        .to_vec()
}

/// Waits for `child` to exit, at most 30 s (a bound, not a timing
/// assertion): a batch that does not stop is killed and the test fails.
fn exited(mut child: Child, after: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait for wechat");
            panic!(
                "the batch still ran 30 s after {after}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("wait for wechat")
}

/// The run stopped cleanly: its exit code, every call WeChat answered
/// written, the summary for them and how to resume, as the last lines.
#[track_caller]
fn assert_stopped_cleanly(
    fake: &FakeWechat,
    out: &Output,
    output: &Path,
    signal: Signal,
    paths: &[&str],
) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_secret(&stderr);
    assert_eq!(out.status.code(), Some(signal.code()), "{stderr}");
    let written = results(output).len();
    let answered: usize = paths.iter().map(|p| fake.count(p)).sum();
    assert_eq!(answered, written, "every call answered was written");
    assert!(
        untimed(&stderr).ends_with(&format!(
            "wechat: batch: {written} calls: {written} ok, 0 failed; 0 lines not a call; 0 already done\n\
             wechat: batch {}: rerun with the same --output {} to make the calls not made\n",
            signal.verb(),
            text(output)
        )),
        "{stderr}"
    );
}

#[test]
fn a_signal_stops_a_batch_reading_a_file() {
    for signal in [Signal::Int, Signal::Term] {
        let fake = common::fake();
        let input = calls("signal-file.jsonl", 2000, |_| "/cgi-bin/batch");
        let output = temp_dir("signal-file").join("results.jsonl");
        // Slow enough (5 s at most) that the signal lands in the middle.
        let child = Cli::on(&fake)
            .args(["batch", &text(&input), "--rate", "400"])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn();
        wait_until("50 results written", || results(&output).len() >= 50);
        signal.send(child.id());
        let out = exited(child, signal.flag());
        assert_stopped_cleanly(&fake, &out, &output, signal, &["/cgi-bin/batch"]);
        assert!(results(&output).len() < 2000, "{signal:?}");
    }
}

#[test]
fn a_signal_stops_a_batch_reading_a_closed_pipe() {
    for signal in [Signal::Int, Signal::Term] {
        let fake = common::fake();
        let lines = std::fs::read(calls("signal-pipe.jsonl", 2000, |_| "/cgi-bin/batch")).unwrap();
        let output = temp_dir("signal-closed-pipe").join("results.jsonl");
        let mut child = Cli::on(&fake)
            .args(["batch", "-", "--rate", "400"])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn_with(Stdio::piped());
        let mut stdin = child.stdin.take().unwrap();
        // A thread: the pipe holds less than the input.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&lines);
        });
        wait_until("50 results written", || results(&output).len() >= 50);
        signal.send(child.id());
        let out = exited(child, signal.flag());
        writer.join().unwrap();
        assert_stopped_cleanly(&fake, &out, &output, signal, &["/cgi-bin/batch"]);
    }
}

/// 20 quick calls, then one WeChat answers after a second: the batch is
/// signalled while that call is in flight and its writer (or terminal)
/// stays open.
fn open_input() -> (FakeWechat, Vec<u8>) {
    let fake = common::fake();
    fake.delay("/cgi-bin/slow", Duration::from_secs(1));
    let mut lines: Vec<u8> = (0..20)
        .flat_map(|id| format!("{}\n", json!({"id": id, "path": "/cgi-bin/batch"})).into_bytes())
        .collect();
    lines.extend(format!("{}\n", json!({"id": 20, "path": "/cgi-bin/slow"})).into_bytes());
    (fake, lines)
}

/// The gate: the 20 quick calls written and the slow one received.
fn in_flight(fake: &FakeWechat, output: &Path) {
    wait_until("20 results written, the slow call in flight", || {
        results(output).len() >= 20 && fake.count("/cgi-bin/slow") == 1
    });
}

#[test]
fn a_signal_stops_a_batch_reading_a_pipe_whose_writer_stays() {
    for signal in [Signal::Int, Signal::Term] {
        let (fake, lines) = open_input();
        let output = temp_dir("signal-open-pipe").join("results.jsonl");
        let mut child = Cli::on(&fake)
            .args(["batch", "-"])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn_with(Stdio::piped());
        // Kept until the batch exits: the producer is still running.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&lines).unwrap();
        stdin.flush().unwrap();
        in_flight(&fake, &output);
        signal.send(child.id());
        let out = exited(child, signal.flag());
        drop(stdin);
        assert_stopped_cleanly(
            &fake,
            &out,
            &output,
            signal,
            &["/cgi-bin/batch", "/cgi-bin/slow"],
        );
        assert_eq!(results(&output).len(), 21, "the call in flight was written");
    }
}

/// The pid of `script`'s child (the batch, which it `exec`s).
fn child_of(pid: u32) -> u32 {
    let children = format!("/proc/{pid}/task/{pid}/children");
    wait_until("script started the batch", || {
        !std::fs::read_to_string(&children)
            .unwrap_or_default()
            .trim()
            .is_empty()
    });
    std::fs::read_to_string(&children)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_signal_stops_a_batch_reading_a_terminal() {
    for signal in [Signal::Int, Signal::Term] {
        let (fake, lines) = open_input();
        let output = temp_dir("signal-terminal").join("results.jsonl");
        // util-linux `script` runs the batch on a new pty whose input is
        // what the test writes to script's stdin: lines typed, and Ctrl-C
        // (0x03), which the pty's line discipline turns into SIGINT for
        // the batch, as a terminal does.
        let command = format!(
            "exec {} batch - {}",
            env!("CARGO_BIN_EXE_wechat"),
            batch_args(&output).join(" ")
        );
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env_clear()
            .env("WECHAT_APPID", APPID)
            .env("WECHAT_SECRET", SECRET)
            .env("WECHAT_BASE_URL", fake.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        let mut typed = child.stdin.take().unwrap();
        typed.write_all(&lines).unwrap();
        typed.flush().unwrap();
        in_flight(&fake, &output);
        match signal {
            Signal::Int => {
                typed.write_all(b"\x03").unwrap();
                typed.flush().unwrap();
            }
            Signal::Term => signal.send(child_of(child.id())),
        }
        let out = exited(child, signal.flag());
        drop(typed);
        // The batch's stdout and stderr are the terminal: script's stdout,
        // with the typed lines echoed and the progress bar.
        let shown = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        assert_no_secret(&shown);
        assert_eq!(out.status.code(), Some(signal.code()), "{shown}");
        assert_eq!(results(&output).len(), 21, "the call in flight was written");
        assert_eq!(
            fake.count("/cgi-bin/batch") + fake.count("/cgi-bin/slow"),
            21
        );
        assert!(
            shown.contains(
                "wechat: batch: 21 calls: 21 ok, 0 failed; 0 lines not a call; 0 already done\n"
            ) && untimed(&shown).ends_with(&format!(
                "wechat: batch {}: rerun with the same --output {} to make the calls not made\n",
                signal.verb(),
                text(&output)
            )),
            "{signal:?}: {shown}"
        );
    }
}
