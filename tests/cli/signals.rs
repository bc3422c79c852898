//! SIGINT and SIGTERM stop a batch cleanly whatever it reads: a file, a
//! pipe already closed, a pipe whose writer stays (a producer still
//! running) and a terminal (a pty made by util-linux `script`, Ctrl-C typed
//! into it). Clean: the call in flight finishes and is written, the output
//! is flushed, the summary printed, exit 130 (SIGINT) or 143 (SIGTERM).
//! The fake holds calls (`Hold`) until the signal is sent, so one is in
//! flight when it comes and the batch cannot have ended: no timing.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use weixin::testing::{FakeWechat, Hold};

use super::batch::{results, untimed};
use super::{assert_no_secret, temp_dir, temp_file, text, Cli};
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

/// The paths the batches call: answered at once, and held.
const PATHS: &[&str] = &["/cgi-bin/batch", "/cgi-bin/slow"];

/// What a terminal shows, read as it comes.
struct Screen {
    text: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Screen {
    fn watch(mut out: ChildStdout) -> Screen {
        let text = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let text = text.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = out.read(&mut buf) {
                    text.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Screen { text, reader }
    }

    fn text(&self) -> String {
        shown(&self.text)
    }

    /// All it showed, once the terminal is closed.
    fn finish(self) -> String {
        self.reader.join().unwrap();
        shown(&self.text)
    }
}

fn shown(text: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&text.lock().unwrap()).into_owned()
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

/// `quick` calls WeChat answers at once, then `held` calls to a path whose
/// answers `Hold` keeps waiting: the batch cannot end before the test lets
/// them go.
fn held_input(quick: usize, held: usize) -> (FakeWechat, Hold, Vec<u8>) {
    let fake = common::fake();
    let hold = fake.hold("/cgi-bin/slow");
    let lines = (0..quick + held)
        .flat_map(|id| {
            let path = if id < quick {
                "/cgi-bin/batch"
            } else {
                "/cgi-bin/slow"
            };
            format!("{}\n", json!({"id": id, "path": path})).into_bytes()
        })
        .collect();
    (fake, hold, lines)
}

/// Waits until the `quick` calls are written and a held call is in flight;
/// how many are.
fn in_flight(hold: &Hold, output: &Path, quick: usize) -> usize {
    wait_until("the quick calls written", || results(output).len() >= quick);
    assert!(
        hold.wait_held(1, Duration::from_secs(30)),
        "no call reached the held path"
    );
    hold.held()
}

/// The calls held when the signal came were answered once let go, and
/// written: the batch waited for them.
#[track_caller]
fn assert_held_written(fake: &FakeWechat, output: &Path, quick: usize, held_at_signal: usize) {
    let held_written = results(output)
        .iter()
        .filter(|r| r["id"].as_u64().is_some_and(|id| id >= quick as u64))
        .count();
    assert_eq!(held_written, fake.count("/cgi-bin/slow"));
    assert!(
        held_written >= held_at_signal,
        "{held_written} of the {held_at_signal} calls in flight written"
    );
}

/// Signals `child` once `quick` calls are written and a call is held at
/// the fake, lets the held calls go, and checks the batch stopped cleanly
/// with every call it made written. Returns how many results it wrote.
fn signal_with_a_call_held(
    fake: &FakeWechat,
    hold: Hold,
    child: Child,
    output: &Path,
    quick: usize,
    signal: Signal,
) -> usize {
    let held = in_flight(&hold, output, quick);
    signal.send(child.id());
    hold.release();
    let out = exited(child, signal.flag());
    assert_stopped_cleanly(fake, &out, output, signal, PATHS);
    assert_held_written(fake, output, quick, held);
    results(output).len()
}

#[test]
fn a_signal_stops_a_batch_reading_a_file() {
    for signal in [Signal::Int, Signal::Term] {
        let (fake, hold, lines) = held_input(50, 2000);
        let input = temp_file("signal-file.jsonl", &lines);
        let output = temp_dir("signal-file").join("results.jsonl");
        let child = Cli::on(&fake)
            .args(["batch", &text(&input)])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn();
        let written = signal_with_a_call_held(&fake, hold, child, &output, 50, signal);
        assert!(written < 2050, "{signal:?}");
    }
}

#[test]
fn a_signal_stops_a_batch_reading_a_closed_pipe() {
    for signal in [Signal::Int, Signal::Term] {
        // Small enough for a pipe's buffer (about 5 KiB of 64): written
        // whole, whatever the batch has read.
        let (fake, hold, lines) = held_input(20, 100);
        let output = temp_dir("signal-closed-pipe").join("results.jsonl");
        let mut child = Cli::on(&fake)
            .args(["batch", "-"])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn_with(Stdio::piped());
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&lines).unwrap();
        drop(stdin); // the pipe is closed: the batch reads to its end
        let written = signal_with_a_call_held(&fake, hold, child, &output, 20, signal);
        assert!(written < 120, "{signal:?}");
    }
}

#[test]
fn a_signal_stops_a_batch_reading_a_pipe_whose_writer_stays() {
    for signal in [Signal::Int, Signal::Term] {
        let (fake, hold, lines) = held_input(20, 1);
        let output = temp_dir("signal-open-pipe").join("results.jsonl");
        let mut child = Cli::on(&fake)
            .args(["batch", "-"])
            .args(batch_args(&output).iter().map(String::as_str))
            .spawn_with(Stdio::piped());
        // Kept until the batch exits: the producer is still running.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&lines).unwrap();
        stdin.flush().unwrap();
        let written = signal_with_a_call_held(&fake, hold, child, &output, 20, signal);
        drop(stdin);
        assert_eq!(written, 21, "the call in flight was written");
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
        let (fake, hold, lines) = held_input(20, 1);
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
        let screen = Screen::watch(child.stdout.take().unwrap());
        let mut typed = child.stdin.take().unwrap();
        typed.write_all(&lines).unwrap();
        typed.flush().unwrap();
        let held = in_flight(&hold, &output, 20);
        match signal {
            Signal::Int => {
                typed.write_all(b"\x03").unwrap();
                typed.flush().unwrap();
                // The terminal echoes ^C once it has sent the SIGINT.
                wait_until("Ctrl-C echoed", || screen.text().contains("^C"));
            }
            Signal::Term => signal.send(child_of(child.id())),
        }
        hold.release();
        let out = exited(child, signal.flag());
        drop(typed);
        // The batch's stdout and stderr are the terminal: script's stdout,
        // with the typed lines echoed and the progress bar.
        let shown = screen.finish().replace("\r\n", "\n");
        assert_no_secret(&shown);
        assert_eq!(out.status.code(), Some(signal.code()), "{shown}");
        assert_eq!(results(&output).len(), 21, "the call in flight was written");
        assert_held_written(&fake, &output, 20, held);
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
