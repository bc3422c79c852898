//! The busy retry: errcode `-1` (system busy) is retried with a jittered,
//! bounded backoff. The token retry lives with the token layer
//! (`Tokens::with_token`).

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result, TransportKind};

/// When a call may be sent again after a failure; see
/// [`RequestOptions::retry`](crate::RequestOptions::retry).
///
/// # Example
///
/// ```
/// use weixin::{RequestOptions, Retry};
///
/// let opts = RequestOptions::post("/cgi-bin/message/custom/send").retry(Retry::IfNotSent);
/// assert_eq!(opts.retry_rule(), Retry::IfNotSent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retry {
    /// WeChat's errcode `-1` (system busy) is retried as the client's
    /// [`BusyRetry`] says: for reads, which are safe to repeat.
    Busy,
    /// Sent again only when the request certainly did not reach WeChat:
    /// the host was not resolved or the connection was refused (as many
    /// times as [`BusyRetry::retries`], with its backoff). An errcode `-1`,
    /// a timeout or a connection reset after the request left may mean
    /// WeChat acted on it (a message delivered), so they are returned as
    /// they are: for calls that send something to a user or change state.
    IfNotSent,
}

impl Retry {
    /// Whether `error` may be answered by sending the call again.
    fn allows(self, error: &Error) -> bool {
        match self {
            Retry::Busy => error.errcode() == Some(-1),
            Retry::IfNotSent => matches!(
                error.kind(),
                ErrorKind::Transport {
                    kind: TransportKind::Connect,
                    ..
                }
            ),
        }
    }
}

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
    /// Runs `send` until it answers something `retry` does not allow to
    /// send again (errcode `-1` for [`Retry::Busy`]), at most `1 + retries`
    /// times, backing off between attempts. An error that outlasts the
    /// retries says how many attempts were made.
    pub(super) fn run<T>(&self, retry: Retry, mut send: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            match send() {
                Err(e) if retry.allows(&e) && attempt < self.retries => {
                    std::thread::sleep(backoff(self, attempt));
                    attempt += 1;
                }
                Err(e) if retry.allows(&e) && attempt > 0 => {
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
    fn if_not_sent_retries_only_what_never_left() {
        let transport = |kind| {
            Error::new(ErrorKind::Transport {
                kind,
                url: "http://127.0.0.1/x".into(),
            })
        };
        let busy = Error::api(-1, "system error", 200);
        assert!(Retry::Busy.allows(&busy));
        assert!(!Retry::IfNotSent.allows(&busy));
        assert!(Retry::IfNotSent.allows(&transport(TransportKind::Connect)));
        for kind in [
            TransportKind::Reset,
            TransportKind::Timeout,
            TransportKind::Tls,
            TransportKind::Other,
        ] {
            assert!(!Retry::IfNotSent.allows(&transport(kind)), "{kind:?}");
            assert!(!Retry::Busy.allows(&transport(kind)), "{kind:?}");
        }
    }

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
