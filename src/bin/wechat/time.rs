//! Now, and times as people read them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now (0 on a clock set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// The library's file, shared by path (see its docs); the binary prints
// only the `utc` form.
#[allow(dead_code)] // ok because `rfc3339` is the status page's form only
#[path = "../../clock/utc.rs"]
mod utc_text;

pub use utc_text::utc;
