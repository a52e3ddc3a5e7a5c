//! Date formatting: the `Date` header, rendered at most once a second, and
//! the Common Log Format timestamp used by the access log.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current `Date` header value, re-rendered only when the second changes.
pub struct DateCache {
    second: u64,
    rendered: String,
}

impl DateCache {
    pub fn new() -> DateCache {
        let mut cache = DateCache {
            second: u64::MAX,
            rendered: String::new(),
        };
        cache.refresh(SystemTime::now());
        cache
    }

    /// Updates the cached value if `now` is in a new second.
    pub fn refresh(&mut self, now: SystemTime) {
        let second = unix_seconds(now);
        if second != self.second {
            self.second = second;
            self.rendered = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
        }
    }

    /// The IMF-fixdate of the last refresh, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn header_value(&self) -> &str {
        &self.rendered
    }
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

/// Formats an HTTP date (IMF-fixdate) such as a `Last-Modified` value.
pub fn http_date(time: SystemTime) -> String {
    // Clamp to whole seconds: HTTP dates have no finer resolution, and
    // times before 1970 (possible on odd filesystems) become the epoch.
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_seconds(time)))
}

/// Formats `[10/Oct/2000:13:55:36 +0000]`-style timestamps (UTC) for the
/// Common Log Format, without the brackets.
/// Returned as a `Display` value, so a log line is formatted without an
/// intermediate `String`.
pub fn clf_timestamp(time: SystemTime) -> impl fmt::Display {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix_seconds(time);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Formatted(move |f: &mut fmt::Formatter<'_>| {
        write!(
            f,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            day,
            MONTHS[(month - 1) as usize],
            year,
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    })
}

/// A value displayed by a closure: formatting without allocating.
pub struct Formatted<F>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Formatted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// A UTC calendar time broken into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Breaks `time` into UTC calendar fields (times before 1970 become the epoch).
pub fn utc(time: SystemTime) -> UtcTime {
    let secs = unix_seconds(time);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = (secs % 86_400) as u32;
    UtcTime {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

/// `2024-05-01T13:45:07Z` (RFC 3339, UTC, whole seconds).
pub fn rfc3339(time: SystemTime) -> String {
    let t = utc(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Unix seconds of `time` (0 before the epoch).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), after Howard
/// Hinnant's `civil_from_days`. Shared with the access log's timestamps.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_known_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(971_182_536);
        assert_eq!(clf_timestamp(t).to_string(), "10/Oct/2000:12:55:36 +0000");
        assert_eq!(
            clf_timestamp(UNIX_EPOCH).to_string(),
            "01/Jan/1970:00:00:00 +0000"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(
            clf_timestamp(leap).to_string(),
            "29/Feb/2000:00:00:00 +0000"
        );
    }

    #[test]
    fn rfc3339_format() {
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(rfc3339(t), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        let t = UNIX_EPOCH + Duration::from_millis(784_111_777_500);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn cache_changes_only_with_the_second() {
        let mut cache = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        cache.refresh(t);
        let first = cache.header_value().to_string();
        cache.refresh(t + Duration::from_millis(999));
        assert_eq!(cache.header_value(), first);
        cache.refresh(t + Duration::from_secs(1));
        assert_eq!(cache.header_value(), "Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
