//! `Clock`: where the token layer reads the time, so that tests move time
//! instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) mod utc;

/// The time as the token cache, its refresh limit and the hub see it:
/// the system clock, or a [`ManualClock`] a test moves by hand.
///
/// Cheap to clone; clones of a manual clock share its time.
///
/// The system clock is read two ways: precisely wherever a time is written
/// down or a fetch is decided, and, to decide only whether a cached token
/// may be handed out as it is, as the kernel's last timer tick plus one
/// tick (Linux's `CLOCK_REALTIME_COARSE`: never behind the precise time, a
/// few milliseconds ahead at most, so that a token is judged stale a tick
/// early rather than late), which is far cheaper to read among many
/// lookups. A manual clock reads the same both ways.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::{Clock, ManualClock};
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
        millis(self.now())
    }

    /// Milliseconds since the Unix epoch, not behind
    /// [`unix_millis`](Clock::unix_millis) read at the same moment while
    /// the kernel's timer ticks on time, and at most one tick ahead of it,
    /// on Linux (the same reading elsewhere and for a manual clock).
    ///
    /// For the token cache's hit path only. The precise clock's vDSO read
    /// is an ordered TSC read, which waits for every load before it, so
    /// that a lookup's cache misses cannot overlap what came before; at
    /// 100,000 keys, reading this one instead took a hit from 370 to 317
    /// ns (benches/scale.rs). This is the
    /// kernel's last tick read from shared memory with no ordering
    /// instruction (`CLOCK_REALTIME_COARSE`), plus the length of a tick
    /// (`clock_getres`): ahead rather than behind, so that a token is
    /// judged stale up to a tick early, never late, even with no expiry
    /// margin. Anything written down (a landing time, the refresh limit's
    /// schedule) uses the precise clock.
    pub(crate) fn coarse_upper_unix_millis(&self) -> u64 {
        match &self.manual {
            Some(millis) => millis.load(Ordering::SeqCst),
            None => coarse_upper_system_millis(),
        }
    }
}

/// Whole milliseconds of `d`, saturating: the crate's one conversion of
/// a duration to the milliseconds its clocks, schedules and stores count.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The coarse realtime clock's resolution (one timer tick, 1 to 10 ms on
/// Linux), in nanoseconds, read once.
#[cfg(target_os = "linux")]
static COARSE_TICK_NANOS: once_cell::sync::Lazy<u64> = once_cell::sync::Lazy::new(|| {
    let tick = rustix::time::clock_getres(rustix::time::ClockId::RealtimeCoarse);
    nanos(tick.tv_sec, tick.tv_nsec)
});

/// Nanoseconds in a `timespec`; 0 before the epoch (no machine that talks
/// to WeChat is set there).
#[cfg(target_os = "linux")]
fn nanos(secs: i64, nanos: i64) -> u64 {
    let secs = u64::try_from(secs).unwrap_or(0);
    let nanos = u64::try_from(nanos).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// `CLOCK_REALTIME_COARSE` plus one tick, read through the vDSO with no
/// system call.
#[cfg(target_os = "linux")]
fn coarse_upper_system_millis() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    nanos(now.tv_sec, now.tv_nsec).saturating_add(*COARSE_TICK_NANOS) / 1_000_000
}

/// Elsewhere, the precise system clock.
#[cfg(not(target_os = "linux"))]
fn coarse_upper_system_millis() -> u64 {
    millis(Clock::system().now())
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
/// use weixin::ManualClock;
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
        ManualClock {
            clock: Clock {
                manual: Some(Arc::new(AtomicU64::new(millis(since_epoch)))),
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
        if let Some(now) = &self.clock.manual {
            now.fetch_add(millis(by), Ordering::SeqCst);
        }
    }

    /// The [`Clock`] to hand to a client, a source or a hub.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_reads_the_system_time_at_most_a_tick_ahead() {
        let clock = Clock::system();
        #[cfg(target_os = "linux")]
        let tick_ms = {
            let tick = *COARSE_TICK_NANOS;
            // 1 to 10 ms on Linux (CONFIG_HZ 1000 to 100); 100 ms is far
            // past any, and far short of a wrong unit.
            assert!((1..=100_000_000).contains(&tick), "a tick of {tick} ns");
            tick.div_ceil(1_000_000)
        };
        #[cfg(not(target_os = "linux"))]
        let tick_ms = 0;
        for _ in 0..1000 {
            let before = clock.unix_millis();
            let coarse = clock.coarse_upper_unix_millis();
            let after = clock.unix_millis();
            // Behind only when the kernel's tick came late (a host that
            // stopped this machine a moment): a second is far past that.
            assert!(coarse + 1000 >= before, "{coarse} behind {before}");
            assert!(
                coarse <= after + tick_ms,
                "{coarse} more than a tick after {after}"
            );
        }
    }

    #[test]
    fn a_manual_clock_reads_the_same_coarse_and_precise() {
        let manual = ManualClock::new(Duration::from_millis(1_700_000_000_123));
        let clock = manual.clock();
        assert_eq!(clock.coarse_upper_unix_millis(), 1_700_000_000_123);
        manual.advance(Duration::from_millis(5));
        assert_eq!(clock.coarse_upper_unix_millis(), clock.unix_millis());
    }
}
