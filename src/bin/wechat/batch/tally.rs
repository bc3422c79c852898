//! What a batch did, counted as it goes, and the summary printed at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use weixin::ErrorKind;

#[derive(Default)]
pub struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    not_calls: AtomicU64,
    already_done: AtomicU64,
    by_errcode: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn ok(&self) {
        self.ok.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self, err: &weixin::Error) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        // ok because the lock guards counts, which no panic leaves half-written
        let mut by = self.by_errcode.lock().unwrap_or_else(|e| e.into_inner());
        *by.entry(label(err)).or_default() += 1;
    }

    pub fn not_a_call(&self) {
        self.not_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn already_done(&self) {
        self.already_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls answered, one way or the other.
    pub fn calls(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn not_calls(&self) -> u64 {
        self.not_calls.load(Ordering::Relaxed)
    }

    pub fn skipped(&self) -> u64 {
        self.already_done.load(Ordering::Relaxed)
    }

    /// The summary's lines: counts, errors by errcode (when there were
    /// any), time and rate.
    pub fn summary(&self, took: Duration) -> Vec<String> {
        let mut lines = vec![format!(
            "batch: {} calls: {} ok, {} failed; {} {} not a call; {} already done",
            self.calls(),
            self.ok.load(Ordering::Relaxed),
            self.failures(),
            self.not_calls(),
            if self.not_calls() == 1 {
                "line"
            } else {
                "lines"
            },
            self.skipped(),
        )];
        let by = self.by_errcode.lock().unwrap_or_else(|e| e.into_inner());
        if !by.is_empty() {
            let each: Vec<String> = by.iter().map(|(code, n)| format!("{code} × {n}")).collect();
            lines.push(format!("batch: errors by errcode: {}", each.join(", ")));
        }
        lines.push(format!(
            "batch: took {:.1} s ({:.0} calls/s)",
            took.as_secs_f64(),
            self.calls() as f64 / took.as_secs_f64().max(1e-9)
        ));
        lines
    }
}

/// An error's errcode, or what kind of failure it was when WeChat did not
/// answer one.
fn label(err: &weixin::Error) -> String {
    if let Some(code) = err.errcode() {
        return code.to_string();
    }
    match err.kind() {
        ErrorKind::Transport { .. } => "no answer",
        ErrorKind::HttpStatus { .. } => "http status",
        ErrorKind::Decode { .. } => "not wechat's answer",
        ErrorKind::InvalidRequest { .. } => "invalid request",
        ErrorKind::RefreshLimited { .. } => "refresh limited",
        ErrorKind::Hub { .. } => "hub",
        _ => "other",
    }
    .to_string()
}
