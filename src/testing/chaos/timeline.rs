//! The run's timeline on stderr, when asked for
//! ([`Chaos::timeline`](super::Chaos::timeline)).

use std::fmt;
use std::time::Instant;

/// Prints what happens during a run as it happens, each line stamped with
/// the seconds since the run began; prints nothing when off.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeline(Option<Instant>);

impl Timeline {
    pub(super) fn new(on: bool) -> Timeline {
        Timeline(on.then(Instant::now))
    }

    pub(super) fn is_on(self) -> bool {
        self.0.is_some()
    }

    pub(super) fn note(self, line: fmt::Arguments<'_>) {
        if let Some(origin) = self.0 {
            eprintln!("[{:9.3}] {line}", origin.elapsed().as_secs_f64());
        }
    }
}
