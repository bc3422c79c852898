//! The busy retry: errcode `-1` (system busy) is retried with a jittered,
//! bounded backoff. The token retry lives with the token layer
//! ([`Core::with_token`]).

use std::time::Duration;

use super::{Core, Plan};
use crate::error::Result;
use crate::options::RequestOptions;
use crate::response::Response;
use crate::token::Token;

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

impl Core {
    /// Steps 3-5 with the busy retry: build, send, parse.
    pub(super) fn send_busy(
        &self,
        options: &RequestOptions,
        url: &str,
        plan: &Plan,
        token: Option<&Token>,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            match self.send_once(options, url, plan, token) {
                Err(e) if e.errcode() == Some(-1) && attempt < self.busy.retries => {
                    std::thread::sleep(backoff(&self.busy, attempt));
                    attempt += 1;
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
