//! Which of a [`HubSource`](crate::HubSource)'s hubs a request goes to.
//!
//! The hubs are tried in the order given, each at most once per request:
//! first those not resting, then the resting ones (a request is never
//! failed without trying every hub). A hub rests for the backoff after a
//! connection-level failure (refused, reset, a timeout before an answer,
//! 502 or 503), so the calls after it go straight to the next one and come
//! back once the backoff is over. A hub's error body is its answer, except
//! a 502 or 503 that is not WeChat's error relayed (`wechat_error`): the
//! hub's store or its way to WeChat is down, or a proxy in front of it
//! found no hub. Time is read from a [`Clock`], so a test moves it by hand.
//!
//! A refresh (a token WeChat rejected) goes to one hub only: it is sent to
//! the next one only if it certainly never left (the connection was
//! refused); any other failure ends it there (the caller asks the next hub
//! for its current token, a read, never for a second refresh).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{millis, Clock};
use crate::error::{Error, ErrorKind, Result, TransportKind};

/// One hub: its base URL and until when it rests.
struct Hub {
    base_url: String,
    /// Milliseconds since the epoch, by the source's clock; 0 when it is
    /// not resting.
    resting_until: AtomicU64,
}

/// The hubs of one source and of its clones, with their shared state.
pub(super) struct Hubs {
    hubs: Vec<Hub>,
    /// Connection-level failures seen, for [`HubSource::failures`](crate::HubSource::failures).
    failures: AtomicU64,
}

/// What a failed attempt says about the next hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Not the hub's connection: the answer stands (an error body, a bad
    /// answer, a refused bearer).
    Answered,
    /// The hub could not be reached or could not answer: it rests.
    Unreachable {
        /// The request certainly did not reach the hub (refused, no such
        /// host): sending it elsewhere sends it once.
        never_sent: bool,
    },
}

impl Failure {
    /// How `e`, the error of one attempt, counts.
    pub(super) fn of(e: &Error) -> Failure {
        match e.kind() {
            ErrorKind::Transport { kind, .. } => match kind {
                TransportKind::Connect => Failure::Unreachable { never_sent: true },
                TransportKind::Reset | TransportKind::Timeout => {
                    Failure::Unreachable { never_sent: false }
                }
                _ => Failure::Answered,
            },
            // WeChat's own error, relayed: another hub would ask again and
            // hear the same.
            ErrorKind::Hub { reason, .. } if reason == "wechat_error" => Failure::Answered,
            ErrorKind::HttpStatus { status, .. } | ErrorKind::Hub { status, .. }
                if matches!(status, 502 | 503) =>
            {
                Failure::Unreachable { never_sent: false }
            }
            _ => Failure::Answered,
        }
    }
}

impl Hubs {
    /// The hubs at `base_urls`, already checked, none resting.
    pub(super) fn new(base_urls: Vec<String>) -> Arc<Hubs> {
        Arc::new(Hubs {
            hubs: base_urls
                .into_iter()
                .map(|base_url| Hub {
                    base_url,
                    resting_until: AtomicU64::new(0),
                })
                .collect(),
            failures: AtomicU64::new(0),
        })
    }

    /// The hubs' base URLs, in the order given.
    pub(super) fn urls(&self) -> impl Iterator<Item = &str> {
        self.hubs.iter().map(|h| h.base_url.as_str())
    }

    /// How many hubs there are.
    pub(super) fn len(&self) -> usize {
        self.hubs.len()
    }

    pub(super) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs `attempt` with one hub's base URL after another, in the order
    /// of the module doc, until one answers. With `once` (a refresh), the
    /// next hub is tried only after a failure that never sent the request.
    ///
    /// # Errors
    ///
    /// The error of the last hub tried.
    pub(super) fn run<T>(
        &self,
        clock: &Clock,
        backoff: Duration,
        once: bool,
        mut attempt: impl FnMut(&str) -> Result<T>,
    ) -> Result<T> {
        let now = clock.unix_millis();
        // Read once: a hub that fails below starts resting, and must not
        // come round again in the same request.
        let resting: Vec<bool> = self
            .hubs
            .iter()
            .map(|h| h.resting_until.load(Ordering::Relaxed) > now)
            .collect();
        let by = |rest: bool| {
            self.hubs
                .iter()
                .zip(&resting)
                .filter(move |(_, r)| **r == rest)
                .map(|(h, _)| h)
        };
        let order = by(false).chain(by(true));
        let mut last = None;
        for hub in order {
            match attempt(&hub.base_url) {
                Ok(answer) => {
                    hub.resting_until.store(0, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(e) => match Failure::of(&e) {
                    Failure::Answered => return Err(e),
                    Failure::Unreachable { never_sent } => {
                        self.failures.fetch_add(1, Ordering::Relaxed);
                        let until = clock.unix_millis().saturating_add(millis(backoff));
                        hub.resting_until.store(until, Ordering::Relaxed);
                        if once && !never_sent {
                            return Err(e);
                        }
                        last = Some(e);
                    }
                },
            }
        }
        // ok because a source has at least one hub, so the loop ran
        Err(last.unwrap_or_else(|| Error::config("a hub source with no hub")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn refused(url: &str) -> Error {
        Error::new(ErrorKind::Transport {
            kind: TransportKind::Connect,
            url: url.to_string(),
        })
    }

    fn reset(url: &str) -> Error {
        Error::new(ErrorKind::Transport {
            kind: TransportKind::Reset,
            url: url.to_string(),
        })
    }

    #[test]
    fn each_error_counts_as_the_module_doc_says() {
        let status = |status| {
            Failure::of(&Error::new(ErrorKind::HttpStatus {
                status,
                url: "u".into(),
            }))
        };
        let gone = Failure::Unreachable { never_sent: false };
        assert_eq!(
            Failure::of(&refused("u")),
            Failure::Unreachable { never_sent: true }
        );
        assert_eq!(Failure::of(&reset("u")), gone);
        assert_eq!(status(502), gone);
        assert_eq!(status(503), gone);
        assert_eq!(status(500), Failure::Answered);
        assert_eq!(status(401), Failure::Answered);
        assert_eq!(Failure::of(&Error::decode("x")), Failure::Answered);
        let hub = |reason: &str, status| {
            Failure::of(&Error::new(ErrorKind::Hub {
                errcode: None,
                reason: reason.into(),
                message: String::new(),
                status,
            }))
        };
        assert_eq!(hub("store_unavailable", 503), gone);
        assert_eq!(hub("bad_gateway", 502), gone);
        assert_eq!(hub("wechat_error", 502), Failure::Answered);
        assert_eq!(hub("unauthorized", 401), Failure::Answered);
    }

    #[test]
    fn a_failed_hub_rests_for_the_backoff_then_comes_back_first() {
        let manual = ManualClock::new(Duration::from_secs(1_000));
        let clock = manual.clock();
        let backoff = Duration::from_secs(30);
        let hubs = Hubs::new(vec!["a".into(), "b".into(), "c".into()]);
        let tried = parking_lot::Mutex::new(Vec::new());
        let run = |down: &[&str]| {
            tried.lock().clear();
            let answer = hubs.run(&clock, backoff, false, |url| {
                tried.lock().push(url.to_string());
                if down.contains(&url) {
                    Err(refused(url))
                } else {
                    Ok(url.to_string())
                }
            });
            (answer.ok(), tried.lock().clone())
        };
        assert_eq!(
            run(&["a"]),
            (Some("b".into()), vec!["a".into(), "b".into()])
        );
        // a rests: not tried while the clock stands.
        assert_eq!(run(&["a"]), (Some("b".into()), vec!["b".into()]));
        manual.advance(backoff - Duration::from_millis(1));
        assert_eq!(run(&["a"]), (Some("b".into()), vec!["b".into()]));
        manual.advance(Duration::from_millis(1));
        // Back to a once its backoff is over: it answers now.
        assert_eq!(run(&[]), (Some("a".into()), vec!["a".into()]));
        assert_eq!(hubs.failures(), 1);
        // Every hub resting: each is still tried, in order.
        assert_eq!(run(&["a", "b", "c"]).1.len(), 3);
        assert_eq!(
            run(&["a", "b"]),
            (Some("c".into()), vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn a_refresh_goes_on_only_when_it_never_left() {
        let clock = ManualClock::new(Duration::from_secs(1_000)).clock();
        let hubs = Hubs::new(vec!["a".into(), "b".into()]);
        let mut tried = Vec::new();
        let err = hubs
            .run(&clock, Duration::from_secs(30), true, |url| {
                tried.push(url.to_string());
                Err::<(), _>(reset(url))
            })
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Transport { .. }));
        assert_eq!(tried, ["a"], "no fan-out");
        let mut tried = Vec::new();
        let ok = hubs.run(&clock, Duration::from_secs(30), true, |url| {
            tried.push(url.to_string());
            if url == "b" {
                Err(refused(url))
            } else {
                Ok(())
            }
        });
        // a rests after the reset, so b comes first; refused, a gets it.
        assert!(ok.is_ok());
        assert_eq!(tried, ["b", "a"]);
    }
}
