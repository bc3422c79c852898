//! `Clock`: where the token layer reads the time, so that tests move time
//! instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time as the token cache, its refresh limit and the hub see it:
/// the system clock, or a [`ManualClock`] a test moves by hand.
///
/// Cheap to clone; clones of a manual clock share its time.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wechat::{Clock, ManualClock};
///
/// let manual = ManualClock::new(Duration::from_secs(1_700_000_000));
/// let clock: Clock = manual.clock();
/// manual.advance(Duration::from_secs(30));
/// assert_eq!(clock.unix_secs(), 1_700_000_030);
/// assert!(Clock::system().unix_secs() > 1_700_000_000);
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    /// Milliseconds since the Unix epoch, when manual.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The time since the Unix epoch (zero if the system clock is set
    /// before it).
    pub fn now(&self) -> Duration {
        match &self.manual {
            Some(millis) => Duration::from_millis(millis.load(Ordering::SeqCst)),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.now().as_secs()
    }

    /// Whether `other` reads the same time: both the system's, or clones
    /// of one manual clock.
    pub(crate) fn same_as(&self, other: &Clock) -> bool {
        match (&self.manual, &other.manual) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Milliseconds since the Unix epoch.
    pub(crate) fn unix_millis(&self) -> u64 {
        u64::try_from(self.now().as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            Some(_) => write!(f, "Clock::manual({:?})", self.now()),
            None => f.write_str("Clock::system"),
        }
    }
}

/// A clock that stands still until a test moves it.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wechat::ManualClock;
///
/// let manual = ManualClock::starting_now();
/// let before = manual.clock().now();
/// manual.advance(Duration::from_millis(1500));
/// assert_eq!(manual.clock().now() - before, Duration::from_millis(1500));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    clock: Clock,
}

impl ManualClock {
    /// A clock standing at `since_epoch` after the Unix epoch.
    pub fn new(since_epoch: Duration) -> ManualClock {
        let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        ManualClock {
            clock: Clock {
                manual: Some(Arc::new(AtomicU64::new(millis))),
            },
        }
    }

    /// A clock standing at the system clock's time now, so that tokens a
    /// source stamps with the real time look fresh to it.
    pub fn starting_now() -> ManualClock {
        ManualClock::new(Clock::system().now())
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        if let Some(millis) = &self.clock.manual {
            let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
            millis.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// The [`Clock`] to hand to a client, a source or a hub.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }
}
