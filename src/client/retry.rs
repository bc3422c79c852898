//! The busy retry: errcode `-1` (system busy) is retried with a jittered,
//! bounded backoff. The token retry lives with the token layer
//! (`Tokens::with_token`).

use std::time::Duration;

use crate::error::Result;

/// How a call is retried when WeChat answers errcode `-1` (system busy).
///
/// Retry `n` (counting from 0) sleeps a random time between half and all of
/// `min(base * 2^n, max)`. Other errcodes, 45009 (quota) included, are never
/// retried this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// How many times a busy answer is retried. `0` disables retrying.
    pub retries: u32,
    /// The first backoff.
    pub base: Duration,
    /// The largest backoff.
    pub max: Duration,
}

impl BusyRetry {
    /// Runs `send` until it answers something other than errcode `-1`, at
    /// most `1 + retries` times, backing off between attempts. A `-1` that
    /// outlasts the retries says how many attempts were made.
    pub(super) fn run<T>(&self, mut send: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            match send() {
                Err(e) if e.errcode() == Some(-1) && attempt < self.retries => {
                    std::thread::sleep(backoff(self, attempt));
                    attempt += 1;
                }
                Err(e) if e.errcode() == Some(-1) && attempt > 0 => {
                    return Err(e.after_attempts(attempt + 1));
                }
                other => return other,
            }
        }
    }
}

/// A jittered exponential backoff for retry `attempt`.
fn backoff(busy: &BusyRetry, attempt: u32) -> Duration {
    let full = busy
        .base
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(busy.max);
    let mut byte = [0u8; 1];
    // ok because jitter is best effort: without randomness, no jitter
    let _ = getrandom::fill(&mut byte);
    full / 2 + full / 2 * u32::from(byte[0]) / 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let busy = BusyRetry {
            retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for attempt in 0..40 {
            let d = backoff(&busy, attempt);
            let full = Duration::from_millis(100 * 2u64.pow(attempt.min(10))).min(busy.max);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }
}
