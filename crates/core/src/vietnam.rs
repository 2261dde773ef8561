//! Vietnam's time: the province's calendar days (the cut-over date, login statistics, report
//! dates) are days in UTC+7, which has no daylight saving time.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

/// Vietnam's offset from UTC, in seconds.
pub const UTC_OFFSET_SECS: i64 = 7 * 3600;

/// Vietnam's offset as a chrono offset.
pub fn offset() -> FixedOffset {
    // 7 h is within chrono's ±24 h range; the fallback only satisfies the type.
    FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| Utc.fix())
}

use chrono::Offset as _;

/// `at` in Vietnam's time.
pub fn local(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&offset())
}

/// The calendar day `at` falls on in Vietnam.
pub fn date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::seconds(UTC_OFFSET_SECS)).date_naive()
}

/// The instants bounding Vietnam's calendar days `from..=to`: from midnight of `from` to
/// midnight after `to`.
pub fn day_bounds(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
        - Duration::seconds(UTC_OFFSET_SECS);
    let end = to.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + Duration::days(1)
        - Duration::seconds(UTC_OFFSET_SECS);
    (start, end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_day_turns_at_vietnam_midnight() {
        assert_eq!(date(at("2024-06-30T16:59:59Z")).to_string(), "2024-06-30");
        assert_eq!(date(at("2024-06-30T17:00:00Z")).to_string(), "2024-07-01");
        assert_eq!(
            local(at("2024-06-30T17:30:00Z")).to_rfc3339(),
            "2024-07-01T00:30:00+07:00"
        );
    }

    #[test]
    fn day_bounds_are_vietnam_midnights() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        let (start, end) = day_bounds(d, d);
        assert_eq!(start, at("2025-02-28T17:00:00Z"));
        assert_eq!(end, at("2025-03-01T17:00:00Z"));
    }
}
