//! The rate limit: calls start at most `rate` times a second, all threads
//! together, evenly spaced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::exit::Failure;

/// The longest a waiting thread sleeps before it looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

pub struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    /// At most `rate` calls a second.
    pub fn new(rate: f64) -> Result<Pace, Failure> {
        let interval = Duration::try_from_secs_f64(1.0 / rate)
            .ok()
            .filter(|_| rate > 0.0)
            .ok_or_else(|| Failure::usage(format!("--rate {rate} is not a positive number")))?;
        Ok(Pace {
            interval,
            next: Mutex::new(Instant::now()),
        })
    }

    /// Waits for the next free slot; false if `stop` was set meanwhile.
    pub fn wait(&self, stop: &AtomicBool) -> bool {
        let slot = {
            // ok because the lock guards an Instant, which no panic leaves half-written
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= slot {
                return true;
            }
            std::thread::sleep((slot - now).min(POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_and_stop_wins() {
        let pace = Pace::new(1000.0).unwrap();
        assert_eq!(pace.interval, Duration::from_millis(1));
        let start = *pace.next.lock().unwrap();
        let stop = AtomicBool::new(false);
        assert!(pace.wait(&stop));
        assert!(pace.wait(&stop));
        assert!(*pace.next.lock().unwrap() >= start + pace.interval * 2);
        stop.store(true, Ordering::Relaxed);
        assert!(!pace.wait(&stop));
        for bad in [0.0, -1.0, f64::NAN] {
            assert!(Pace::new(bad).is_err(), "{bad}");
        }
    }
}
