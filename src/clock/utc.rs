//! Unix seconds as UTC dates people read. One file for the library (the
//! hub's status page) and the `wechat` binary, which includes it by path:
//! the binary uses only the public API, and a date formatter is no part
//! of it.

/// `[year, month, day, hour, minute, second]` in UTC of Unix seconds `ts`.
fn civil(ts: u64) -> [u64; 6] {
    let days = ts / 86_400;
    let secs = ts % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    [year, month, day, secs / 3600, secs % 3600 / 60, secs % 60]
}

/// `2024-05-01 12:00:00 UTC` for Unix seconds `ts`.
pub fn utc(ts: u64) -> String {
    let [y, mo, d, h, mi, s] = civil(ts);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// `2024-05-01T12:00:00Z` (RFC 3339, as HTML's `datetime` takes it) for
/// Unix seconds `ts`.
pub fn rfc3339(ts: u64) -> String {
    let [y, mo, d, h, mi, s] = civil(ts);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_414_587_457), "2014-10-29 12:57:37 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(rfc3339(1_414_587_457), "2014-10-29T12:57:37Z");
    }
}
