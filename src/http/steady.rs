//! Socket timeouts without a system call per request.
//!
//! ureq hands each read and write of a call the time left of the call's
//! budget, and its TCP transport sets the socket's timeout (`setsockopt`)
//! whenever that differs from the one it set last. The time left is never
//! the same twice, so on a pooled connection that was two system calls per
//! request, which a bare agent without timeouts does not make.
//!
//! [`Steady`] sits on top of every transport the client opens and hands
//! down the timeout it handed down last whenever the new one is within
//! [`tolerance`] of it: the socket's timeout then stays as it is. A read or
//! write may therefore give up up to 10 ms (at most 1 % of the budget)
//! before or after the budget runs out, and only the socket's timeout is
//! affected: ureq still checks the budget itself before each read or write.

use std::time::Duration;

use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{Buffers, NextTimeout, Transport};

/// How far the timeout handed down may be from the time left: a hundredth
/// of it, at most 10 ms.
pub(crate) fn tolerance(left: Duration) -> Duration {
    (left / 100).min(Duration::from_millis(10))
}

/// A transport whose timeouts change only when they change by more than
/// [`tolerance`].
#[derive(Debug)]
pub(crate) struct Steady {
    inner: Box<dyn Transport>,
    /// The timeout handed down last, reads and writes alike (a TLS write
    /// may read, and the other way round).
    last: Option<Duration>,
}

impl Steady {
    pub(crate) fn boxed(inner: Box<dyn Transport>) -> Box<dyn Transport> {
        Box::new(Steady { inner, last: None })
    }

    /// `timeout`, with the last timeout handed down in place of its budget
    /// when the two are close enough.
    fn steady(&mut self, mut timeout: NextTimeout) -> NextTimeout {
        let UreqDuration::Exact(left) = timeout.after else {
            self.last = None;
            return timeout;
        };
        match self.last {
            Some(last) if last.abs_diff(left) <= tolerance(left) => {
                timeout.after = UreqDuration::Exact(last);
            }
            _ => self.last = Some(left),
        }
        timeout
    }
}

impl Transport for Steady {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = self.steady(timeout);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = self.steady(timeout);
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the timeouts it is handed.
    #[derive(Debug)]
    struct Recording {
        seen: std::sync::Arc<parking_lot::Mutex<Vec<UreqDuration>>>,
        buffers: ureq::unversioned::transport::LazyBuffers,
    }

    impl Transport for Recording {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(&mut self, _: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
            self.seen.lock().push(timeout.after);
            Ok(())
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.seen.lock().push(timeout.after);
            Ok(false)
        }

        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn after(d: Duration) -> NextTimeout {
        NextTimeout {
            after: UreqDuration::Exact(d),
            ..NextTimeout::default()
        }
    }

    #[test]
    fn close_timeouts_are_handed_down_unchanged_and_far_ones_as_they_are() {
        let recording = Recording {
            seen: Default::default(),
            buffers: ureq::unversioned::transport::LazyBuffers::new(16, 16),
        };
        let seen = recording.seen.clone();
        let mut steady = Steady::boxed(Box::new(recording));
        let secs = Duration::from_secs;
        let ms = Duration::from_millis;
        steady.transmit_output(0, after(secs(30))).unwrap();
        // Within 10 ms of the last one, either way: the same again.
        steady.await_input(after(secs(30) - ms(10))).unwrap();
        steady.transmit_output(0, after(secs(30) + ms(10))).unwrap();
        // Further: handed down, and the new reference.
        steady.await_input(after(secs(30) - ms(11))).unwrap();
        // A small budget is held to a hundredth of itself.
        steady.await_input(after(ms(500))).unwrap();
        steady.await_input(after(ms(505))).unwrap();
        steady.await_input(after(ms(506))).unwrap();
        // No deadline: handed down as it is, and forgotten.
        steady.await_input(NextTimeout::default()).unwrap();
        steady.await_input(after(ms(506))).unwrap();
        let exact = UreqDuration::Exact;
        assert_eq!(
            *seen.lock(),
            [
                exact(secs(30)),
                exact(secs(30)),
                exact(secs(30)),
                exact(secs(30) - ms(11)),
                exact(ms(500)),
                exact(ms(500)),
                exact(ms(506)),
                UreqDuration::NotHappening,
                exact(ms(506)),
            ]
        );
    }
}
