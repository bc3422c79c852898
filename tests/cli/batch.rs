//! `batch`: one token fetch for thousands of calls on many threads, lines
//! that are not calls, resuming after Ctrl-C, and 45009 stopping early.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use weixin::testing::FakeWechat;

use super::{assert_no_secret, temp_dir, temp_file, text, Cli};
use crate::common::{self, wait_until};

/// `n` calls with ids 0..n, each to the path `path(id)`.
fn calls(name: &str, n: usize, path: impl Fn(usize) -> &'static str) -> PathBuf {
    let lines: String = (0..n)
        .map(|id| {
            format!(
                "{}\n",
                json!({"id": id, "path": path(id), "query": {"n": id}})
            )
        })
        .collect();
    temp_file(name, lines.as_bytes())
}

/// The result lines of an output file that parse (a half-written line
/// does not).
pub(super) fn results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// How many times each id has a result.
fn id_counts(results: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for result in results {
        *counts.entry(result["id"].to_string()).or_default() += 1;
    }
    counts
}

/// Each of the ids 0..n exactly once.
#[track_caller]
fn assert_each_once(results: &[Value], n: usize) {
    let counts = id_counts(results);
    let expected: BTreeMap<String, usize> = (0..n).map(|id| (id.to_string(), 1)).collect();
    assert!(
        counts == expected,
        "ids written: {} distinct of {} lines",
        counts.len(),
        results.len()
    );
}

/// stderr without the timing line, which no test can know.
pub(super) fn untimed(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| !line.starts_with("wechat: batch: took "))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// `wechat batch INPUT -o OUTPUT` against `fake`, without progress lines,
/// with `extra` arguments.
fn batch(fake: &FakeWechat, input: &Path, output: &Path, extra: &[&str]) -> Cli {
    Cli::on(fake)
        .args([
            "batch",
            &text(input),
            "-o",
            &text(output),
            "--progress-every",
            "0",
        ])
        .args(extra.iter().copied())
}

#[test]
fn ten_thousand_calls_on_eight_threads_fetch_one_token() {
    let fake = common::fake();
    let input = calls("many.jsonl", 10_000, |_| "/cgi-bin/batch");
    let output = temp_dir("many").join("results.jsonl");
    let run = batch(&fake, &input, &output, &["-j", "8"]).run();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), ""),
        "{}",
        run.stderr
    );
    assert_eq!(
        untimed(&run.stderr),
        "wechat: batch: 10000 calls: 10000 ok, 0 failed; 0 lines not a call; 0 already done\n"
    );
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    assert_eq!(fake.count("/cgi-bin/batch"), 10_000);
    let results = results(&output);
    assert_each_once(&results, 10_000);
    let seventh = results.iter().find(|r| r["id"] == 7).unwrap();
    assert_eq!(seventh["status"], "ok");
    assert_eq!(seventh["answer"]["query"], json!({"n": "7"}));
}

#[test]
fn lines_that_are_not_calls_are_reported_and_the_batch_goes_on() {
    let fake = common::fake();
    fake.fail_next("/cgi-bin/fail", 40003, "invalid openid", 1);
    let input = temp_file(
        "mixed.jsonl",
        concat!(
            "{\"id\": 1, \"path\": \"/cgi-bin/a\", \"query\": {\"n\": 1}}\n",
            "{\"id\": \"two\", \"method\": \"POST\", \"path\": \"/cgi-bin/a\", \"body\": {\"x\": 2}}\n",
            "not json\n",
            "\n",
            "{\"id\": 3, \"path\": \"/cgi-bin/fail\"}\n",
            "{\"id\": 1, \"path\": \"/cgi-bin/a\"}\n",
            "{\"id\": 4, \"path\": \"/cgi-bin/a\", \"qeury\": {}}\n",
        )
        .as_bytes(),
    );
    let output = temp_dir("mixed").join("results.jsonl");
    let run_batch = || batch(&fake, &input, &output, &["-j", "2"]);
    let bad_lines = "wechat: batch: line 3: not JSON: expected ident at column 2\n\
                     wechat: batch: line 6: id 1 repeats line 1\n\
                     wechat: batch: line 7: not a call: unknown field `qeury`, expected one of `id`, `method`, `path`, `query`, `body`\n";
    let run = run_batch().run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""));
    assert_eq!(
        untimed(&run.stderr),
        format!(
            "{bad_lines}wechat: batch: 3 calls: 2 ok, 1 failed; 3 lines not a call; 0 already done\n\
             wechat: batch: errors by errcode: 40003 × 1\n"
        )
    );
    let mut written: Vec<String> = results(&output).iter().map(Value::to_string).collect();
    written.sort();
    let mut expected = [
            json!({"id": "two", "status": "ok", "answer": {"appid": "wx_test_app", "errcode": 0, "errmsg": "ok",
                   "json": {"x": 2}, "method": "POST", "path": "/cgi-bin/a", "query": {}}})
            .to_string(),
            json!({"id": 1, "status": "ok", "answer": {"appid": "wx_test_app", "errcode": 0, "errmsg": "ok",
                   "json": null, "method": "GET", "path": "/cgi-bin/a", "query": {"n": "1"}}})
            .to_string(),
            json!({"id": 3, "status": "error", "errcode": 40003, "error": "GET /cgi-bin/fail for wx_test_app: wechat api error 40003: invalid openid"})
                .to_string(),
        ];
    expected.sort();
    assert_eq!(written, expected);

    // A rerun calls nothing: every call has its result.
    let run = run_batch().run();
    assert_eq!(run.code, Some(1));
    assert_eq!(
        untimed(&run.stderr),
        format!("{bad_lines}wechat: batch: 0 calls: 0 ok, 0 failed; 3 lines not a call; 3 already done\n")
    );
    assert_eq!(fake.count("/cgi-bin/a"), 2);

    // Without --output the results go to stdout.
    let run = Cli::on(&fake)
        .args(["batch", "--progress-every", "0"])
        .stdin("{\"id\": 9, \"path\": \"/cgi-bin/b\"}\n")
        .run();
    assert_eq!(run.code, Some(0));
    assert_eq!(
        run.stdout,
        "{\"id\":9,\"status\":\"ok\",\"answer\":{\"appid\":\"wx_test_app\",\"errcode\":0,\"errmsg\":\"ok\",\
         \"json\":null,\"method\":\"GET\",\"path\":\"/cgi-bin/b\",\"query\":{}}}\n"
    );
}

#[test]
fn an_interrupted_batch_resumes_with_every_id_once() {
    let fake = common::fake();
    let input = calls("resume.jsonl", 2000, |_| "/cgi-bin/batch");
    let output = temp_dir("resume").join("results.jsonl");
    let run_batch = || batch(&fake, &input, &output, &[]);
    // Slow enough (5 s at most) that Ctrl-C lands in the middle.
    let child = run_batch().args(["-j", "4", "--rate", "400"]).spawn();
    wait_until("50 results written", || results(&output).len() >= 50);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait for wechat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_secret(&stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let first = results(&output);
    assert!(
        first.len() >= 50 && first.len() < 2000,
        "{} written",
        first.len()
    );
    assert!(
        untimed(&stderr).ends_with(&format!(
            "wechat: batch interrupted: rerun with the same --output {} to make the calls not made\n",
            text(&output)
        )),
        "{stderr}"
    );
    assert_eq!(
        fake.count("/cgi-bin/batch"),
        first.len(),
        "every call answered was written"
    );

    let run = run_batch().args(["-j", "4"]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        untimed(&run.stderr),
        format!(
            "wechat: batch: {left} calls: {left} ok, 0 failed; 0 lines not a call; {done} already done\n",
            left = 2000 - first.len(),
            done = first.len()
        )
    );
    assert_each_once(&results(&output), 2000);
    assert_eq!(fake.count("/cgi-bin/batch"), 2000);
}

#[test]
fn quota_45009_stops_the_batch_and_a_rerun_finishes_it() {
    let fake = common::fake();
    fake.fail_next(
        "/cgi-bin/limited",
        45009,
        "reach max api daily quota limit",
        1,
    );
    let input = calls("quota.jsonl", 20, |id| {
        if id == 5 {
            "/cgi-bin/limited"
        } else {
            "/cgi-bin/a"
        }
    });
    let output = temp_dir("quota").join("results.jsonl");
    let run_batch = || batch(&fake, &input, &output, &["-j", "1"]);
    let run = run_batch().run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(5), ""));
    assert_eq!(
        untimed(&run.stderr),
        format!(
            "wechat: batch: 6 calls: 5 ok, 1 failed; 0 lines not a call; 0 already done\n\
             wechat: batch: errors by errcode: 45009 × 1\n\
             wechat: batch stopped early: GET /cgi-bin/limited for wx_test_app: \
             wechat api error 45009: reach max api daily quota limit \
             (the daily quota of this API is used up; do not retry today) (line 6, id 5); the calls not made \
             cannot succeed today: rerun with the same --output {} once the quota is reset (tomorrow, or by `wechat quota clear`)\n",
            text(&output)
        )
    );
    assert_each_once(&results(&output), 5);
    assert_eq!(fake.count("/cgi-bin/a"), 5, "nothing after the 45009");

    let run = run_batch().run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_each_once(&results(&output), 20);
}

#[test]
fn a_half_written_last_line_is_not_done() {
    let fake = common::fake();
    let input = calls("half.jsonl", 3, |_| "/cgi-bin/a");
    let output = temp_file(
        "results.jsonl",
        b"{\"id\":0,\"status\":\"ok\",\"answer\":{}}\n{\"id\":1,\"sta",
    );
    let run = batch(&fake, &input, &output, &[]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        untimed(&run.stderr),
        "wechat: batch: 2 calls: 2 ok, 0 failed; 0 lines not a call; 1 already done\n"
    );
    assert_each_once(&results(&output), 3);
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(
        text.starts_with("{\"id\":0,\"status\":\"ok\",\"answer\":{}}\n{\"id\":1,\"sta\n{"),
        "{text}"
    );
}

#[test]
fn progress_lines_when_stderr_is_not_a_terminal() {
    let fake = common::fake();
    let input = calls("progress.jsonl", 20, |_| "/cgi-bin/a");
    // 20 calls at 50 a second take 0.4 s at least: several 0.1 s ticks.
    let run = Cli::on(&fake)
        .args([
            "batch",
            &text(&input),
            "-o",
            &text(&temp_dir("progress").join("out.jsonl")),
        ])
        .args(["-j", "2", "--rate", "50", "--progress-every", "0.1"])
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ticks: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("wechat: batch: ") && l.contains("/20 lines, 0 failed"))
        .collect();
    assert!(!ticks.is_empty(), "{}", run.stderr);
    assert!(
        ticks
            .iter()
            .all(|t| t.contains(" calls/s, eta ") || t.ends_with("0 failed")),
        "{ticks:?}"
    );
}

#[test]
fn no_token_stops_the_batch_instead_of_failing_every_call() {
    let fake = common::fake();
    let input = calls("notoken.jsonl", 50, |_| "/cgi-bin/a");
    let output = temp_dir("notoken").join("results.jsonl");
    // A wrong secret: found before any call, and nothing written.
    Cli::on(&fake)
        .env("WECHAT_SECRET", "wrong")
        .args(["batch", &text(&input), "-o", &text(&output)])
        .run()
        .expect(
            1,
            "",
            "wechat: could not fetch the access_token of wx_test_app from the direct source: \
             wechat api error 40125: invalid appsecret (the appsecret is wrong)\nwechat: batch: no call made\n",
        );
    assert!(!output.exists());
    assert_eq!(fake.count("/cgi-bin/a"), 0);

    // WeChat rejecting every token: the first call fails after the SDK's
    // two refreshes; the second finds the refresh limit used up, and the
    // batch stops there rather than writing 49 errors a rerun would skip.
    fake.reject_tokens(true);
    let run = batch(&fake, &input, &output, &["-j", "1"]).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let stderr = untimed(&run.stderr);
    // The SDK warns as each rejection comes in (two processes fighting is
    // the usual cause).
    let (warnings, rest): (Vec<&str>, Vec<&str>) = stderr
        .lines()
        .partition(|l| l.starts_with("wechat: warning: "));
    assert!(
        !warnings.is_empty() && warnings.iter().all(|w| w.contains("rejected")),
        "{stderr}"
    );
    let mut lines = rest.into_iter();
    assert_eq!(
        lines.next(),
        Some("wechat: batch: 2 calls: 0 ok, 2 failed; 0 lines not a call; 0 already done")
    );
    assert_eq!(
        lines.next(),
        Some("wechat: batch: errors by errcode: 40001 × 1, refresh limited × 1")
    );
    let halt = lines.next().unwrap();
    assert!(
        halt.starts_with(
            "wechat: batch stopped: no token for the calls: GET /cgi-bin/a for wx_test_app: \
             refresh of AccessToken(wx_test_app) refused by the refresh limit"
        ) && halt.ends_with(&format!(
            "(line 2, id 1); rerun with the same --output {} once one can be had",
            text(&output)
        )),
        "{halt}"
    );
    assert_eq!(lines.next(), None);
    let written = results(&output);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["id"], 0);
    assert_eq!(written[0]["errcode"], 40001);
    // Each refresh asks stable_token in normal mode, gets the rejected
    // token back, and forces a new one.
    assert_eq!(
        (
            fake.count("/cgi-bin/stable_token"),
            fake.count("/cgi-bin/stable_token#force")
        ),
        (6, 2),
        "the wrong secret, a fetch and two refreshes"
    );
}
