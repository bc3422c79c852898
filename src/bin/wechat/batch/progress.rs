//! A batch's progress on stderr: a bar with rate and ETA on a terminal,
//! plain periodic lines otherwise (a log, a CI run).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::tally::Tally;
use super::ticker::Ticker;
use crate::output::note;

pub struct Progress {
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    /// The thread that prints the lines, until it is taken and dropped.
    Lines(Mutex<Option<Ticker>>),
    Quiet,
}

impl Progress {
    /// A bar when stderr is a terminal, else a line every `every` (never
    /// when zero). `total` is the number of input lines, when known.
    pub fn start(total: Option<u64>, every: Duration, tally: Arc<Tally>) -> Progress {
        let shown = if std::io::stderr().is_terminal() {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::new(n),
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec:0} eta {eta}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner} {elapsed_precise} {pos} lines {per_sec:0}",
                ),
            };
            // ok because the template is a constant that parses
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            Shown::Bar(bar)
        } else if every.is_zero() {
            Shown::Quiet
        } else {
            let start = Instant::now();
            Shown::Lines(Mutex::new(Some(Ticker::every(every, move || {
                note(&line(&tally, total, start.elapsed()));
            }))))
        };
        Progress { shown }
    }

    /// One more line handled.
    pub fn advance(&self) {
        if let Shown::Bar(bar) = &self.shown {
            bar.inc(1);
        }
    }

    /// One line skipped (already done): the bar counts the work left.
    pub fn skip(&self) {
        if let Shown::Bar(bar) = &self.shown {
            bar.dec_length(1);
        }
    }

    /// A line on stderr that does not garble the bar.
    pub fn note(&self, message: &str) {
        match &self.shown {
            Shown::Bar(bar) => bar.suspend(|| note(message)),
            _ => note(message),
        }
    }

    /// Leaves the bar as it is and stops the periodic lines.
    pub fn finish(&self) {
        match &self.shown {
            Shown::Bar(bar) => bar.abandon(),
            Shown::Lines(ticker) => {
                // ok because the lock guards an Option, which no panic leaves half-written
                drop(ticker.lock().unwrap_or_else(|e| e.into_inner()).take());
            }
            Shown::Quiet => {}
        }
    }
}

/// `batch: 1200/9000 lines, 3 failed, 120 calls/s, eta 65 s`.
fn line(tally: &Tally, total: Option<u64>, elapsed: Duration) -> String {
    let handled = tally.calls() + tally.not_calls();
    let rate = tally.calls() as f64 / elapsed.as_secs_f64().max(1e-9);
    let failed = tally.failures();
    match total.map(|t| t.saturating_sub(tally.skipped())) {
        Some(left) if rate > 0.0 => format!(
            "batch: {handled}/{left} lines, {failed} failed, {rate:.0} calls/s, eta {:.0} s",
            left.saturating_sub(handled) as f64 / rate
        ),
        Some(left) => format!("batch: {handled}/{left} lines, {failed} failed"),
        None => format!("batch: {handled} lines, {failed} failed, {rate:.0} calls/s"),
    }
}
