//! The busy retry: errcode `-1` (system busy) is retried with a jittered,
//! bounded backoff, for the calls that may be sent twice; a call that sends
//! or changes something (the table in `sends.rs`) is sent again only when
//! its request never left. The token retry lives with the token layer
//! (`Tokens::with_token`).

use std::time::Duration;

use super::route::path_of;
use super::sends::sends;
use crate::error::{Error, NotRetried, Result};

/// When a call may be sent again after a failure: each path gets one
/// from [`Retry::for_path`], and a call can say its own with
/// [`RequestOptions::retry`](crate::RequestOptions::retry). The token retry
/// (errcode 40001, 40014, 42001: WeChat refused the token before acting)
/// is made whatever the rule.
///
/// | rule | errcode `-1` | request never left | reset, timeout after connecting |
/// | --- | --- | --- | --- |
/// | [`Busy`](Retry::Busy) (reads) | retried | returned | returned |
/// | [`IfNotSent`](Retry::IfNotSent) (sends) | returned, [`NotRetried`] | retried | returned |
/// | [`Always`](Retry::Always) (opt-in) | retried | retried | returned |
///
/// # Example
///
/// ```
/// use weixin::{RequestOptions, Retry};
///
/// let opts = RequestOptions::post("/cgi-bin/message/custom/send");
/// assert_eq!(opts.retry_rule(), Retry::IfNotSent);
/// let opts = opts.retry(Retry::Always);
/// assert_eq!(opts.retry_rule(), Retry::Always);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retry {
    /// WeChat's errcode `-1` (system busy) is retried as the client's
    /// [`BusyRetry`] says: for reads, which are safe to repeat.
    Busy,
    /// Sent again only when the request certainly did not reach WeChat
    /// ([`Error::is_unsent`]: the host was not resolved, the connection was
    /// refused, the connect timeout was reached), as many times as
    /// [`BusyRetry::retries`], with its backoff. An errcode `-1`, a timeout
    /// or a connection reset after the request left may mean WeChat acted
    /// on it (a message delivered), so they are returned as they are, and
    /// an errcode `-1` says so ([`Error::not_retried`]): for calls that
    /// send something to a user or change state.
    IfNotSent,
    /// Both: errcode `-1` and a request that never left are sent again, as
    /// [`BusyRetry`] says. For a call that sends or changes something, the
    /// caller accepts that WeChat may act on it twice (a message delivered
    /// twice), for example because the message carries its own key.
    Always,
}

impl Retry {
    /// The rule a call to `path` gets when it sets none:
    /// [`Retry::IfNotSent`] for the calls that send something to a user or
    /// change an account's state (customer-service, template, subscription
    /// and mass messages; menus; materials, drafts and publishing; tags;
    /// customer-service accounts; comments; cards; QR codes; quota resets;
    /// a mini program's releases), [`Retry::Busy`] for every other path:
    /// reads, token and ticket calls. `path` may carry a query or be a full
    /// URL.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::Retry;
    ///
    /// assert_eq!(Retry::for_path("/cgi-bin/message/template/send"), Retry::IfNotSent);
    /// assert_eq!(Retry::for_path("https://api.weixin.qq.com/cgi-bin/menu/create?x=1"), Retry::IfNotSent);
    /// assert_eq!(Retry::for_path("/cgi-bin/menu/get"), Retry::Busy);
    /// assert_eq!(Retry::for_path("/cgi-bin/token"), Retry::Busy);
    /// ```
    pub fn for_path(path: &str) -> Retry {
        if sends(path_of(path)) {
            Retry::IfNotSent
        } else {
            Retry::Busy
        }
    }

    /// Whether `error` may be answered by sending the call again.
    fn allows(self, error: &Error) -> bool {
        let busy = error.errcode() == Some(-1);
        match self {
            Retry::Busy => busy,
            Retry::IfNotSent => error.is_unsent(),
            Retry::Always => busy || error.is_unsent(),
        }
    }

    /// Why `error`, which this rule does not retry, was not: when a read
    /// would have been.
    fn why_not(self, error: &Error) -> Option<NotRetried> {
        (self == Retry::IfNotSent && error.errcode() == Some(-1))
            .then_some(NotRetried::MayHaveActed)
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
    /// Runs `send` until it answers something the call's rule (`retry`,
    /// asked only on failure) does not allow to send again (errcode `-1`
    /// for [`Retry::Busy`]), at most `1 + retries` times, backing off
    /// between attempts. An error that outlasts the retries says how many
    /// attempts were made; one the rule kept from a retry says why.
    pub(super) fn run<T>(
        &self,
        retry: impl Fn() -> Retry,
        mut send: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            let e = match send() {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let rule = retry();
            if !rule.allows(&e) {
                let e = match rule.why_not(&e) {
                    Some(why) => e.with_not_retried(why),
                    None => e,
                };
                return Err(match attempt {
                    0 => e,
                    _ => e.after_attempts(attempt + 1),
                });
            }
            if attempt >= self.retries {
                return Err(match attempt {
                    0 => e,
                    _ => e.after_attempts(attempt + 1),
                });
            }
            std::thread::sleep(backoff(self, attempt));
            attempt += 1;
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

    use crate::error::{ErrorKind, TransportKind};

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
        assert!(Retry::Always.allows(&busy));
        assert!(!Retry::IfNotSent.allows(&busy));
        assert_eq!(
            Retry::IfNotSent.why_not(&busy),
            Some(NotRetried::MayHaveActed)
        );
        assert_eq!(Retry::Busy.why_not(&busy), None);
        let unsent = transport(TransportKind::Connect).unsent();
        assert!(Retry::IfNotSent.allows(&unsent));
        assert!(Retry::Always.allows(&unsent));
        assert!(!Retry::Busy.allows(&unsent), "a read is returned as today");
        assert!(Retry::IfNotSent.allows(&transport(TransportKind::Timeout).unsent()));
        for kind in [
            TransportKind::Reset,
            TransportKind::Timeout,
            TransportKind::Tls,
            TransportKind::Other,
        ] {
            for rule in [Retry::Busy, Retry::IfNotSent, Retry::Always] {
                assert!(!rule.allows(&transport(kind)), "{rule:?} {kind:?}");
                assert_eq!(rule.why_not(&transport(kind)), None);
            }
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
