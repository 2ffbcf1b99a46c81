//! The time precision every store keeps.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// `at` cut to whole microseconds: the precision of PostgreSQL's
/// `timestamptz`, and so the precision every store keeps, so a value saved
/// and read back compares equal on every backend. Timestamps the framework
/// creates (metadata times, snapshot times, saga times) are made with it.
///
/// ```
/// use orchestrix::limits::stored_precision;
/// use time::macros::datetime;
///
/// let at = datetime!(2026-01-02 03:04:05.123_456_789 UTC);
/// assert_eq!(stored_precision(at), datetime!(2026-01-02 03:04:05.123_456 UTC));
/// ```
pub fn stored_precision(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// The current time at [`stored_precision`].
pub(crate) fn now() -> OffsetDateTime {
    system_time_at_stored_precision(SystemTime::now())
}

/// The current time plus `after`, at [`stored_precision`] (a lease's
/// expiry); the current time when the sum is past what the system clock
/// can hold.
pub(crate) fn now_plus(after: Duration) -> OffsetDateTime {
    let now = SystemTime::now();
    system_time_at_stored_precision(now.checked_add(after).unwrap_or(now))
}

/// `stored_precision(OffsetDateTime::from(at))`, made from the clock's
/// count of seconds and microseconds since the epoch: cutting an
/// `OffsetDateTime` to microseconds after building it costs more than
/// reading the clock, and a saga reads it at every state write.
fn system_time_at_stored_precision(at: SystemTime) -> OffsetDateTime {
    let second = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|since| {
            let seconds = i64::try_from(since.as_secs()).ok()?;
            Some((OffsetDateTime::from_unix_timestamp(seconds).ok()?, since))
        });
    match second {
        Some((second, since)) => second
            .replace_nanosecond(since.subsec_micros() * 1_000)
            .unwrap_or(second),
        // Before 1970 (the cut goes the other way) or past what
        // `OffsetDateTime` holds: left to `stored_precision`.
        None => stored_precision(OffsetDateTime::from(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `now_plus(after)` lies between `stored_precision(t + after)` for a
    /// `t` read before it and one read after it, and is at the stored
    /// precision.
    #[test]
    fn now_plus_is_the_clock_plus_the_duration_cut_to_microseconds() {
        for after in [
            Duration::ZERO,
            Duration::from_nanos(999),
            Duration::from_nanos(1_001),
            Duration::from_millis(1),
            Duration::from_secs(30) + Duration::from_nanos(123_456_789),
            Duration::from_secs(24 * 60 * 60),
        ] {
            let before = stored_precision(OffsetDateTime::now_utc() + after);
            let at = now_plus(after);
            let later = stored_precision(OffsetDateTime::now_utc() + after);
            assert!(
                before <= at && at <= later,
                "{before} <= {at} <= {later} for {after:?}"
            );
            assert_eq!(at.nanosecond() % 1_000, 0, "{at}");
            assert_eq!(at.offset(), time::UtcOffset::UTC);
        }
    }

    #[test]
    fn now_is_the_clock_cut_to_microseconds() {
        let before = stored_precision(OffsetDateTime::now_utc());
        let at = now();
        let later = stored_precision(OffsetDateTime::now_utc());
        assert!(before <= at && at <= later, "{before} <= {at} <= {later}");
        assert_eq!(at.nanosecond() % 1_000, 0, "{at}");
    }

    /// Times within a second, across seconds and days apart read the same
    /// as `stored_precision` of the time.
    #[test]
    fn clock_times_read_as_stored_precision_reads_them() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_460_800);
        for offset in [
            Duration::from_nanos(123_456_789),
            Duration::from_nanos(999_999_999),
            Duration::from_nanos(1_000_000_001),
            Duration::from_nanos(5),
            Duration::from_secs(86_400 * 400) + Duration::from_nanos(7_654),
            Duration::from_secs(86_400 * 400) + Duration::from_nanos(7_654),
            Duration::from_nanos(1_999),
            Duration::ZERO,
        ] {
            let at = base + offset;
            assert_eq!(
                system_time_at_stored_precision(at),
                stored_precision(OffsetDateTime::from(at)),
                "{offset:?}"
            );
        }
    }

    /// A time before the epoch is cut toward the past, as
    /// `stored_precision` cuts it.
    #[test]
    fn a_time_before_the_epoch_is_cut_as_stored_precision_cuts_it() {
        let at = SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500_700);
        assert_eq!(
            system_time_at_stored_precision(at),
            stored_precision(OffsetDateTime::from(at))
        );
        let after = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_500_700);
        assert_eq!(
            system_time_at_stored_precision(after),
            stored_precision(OffsetDateTime::from(after))
        );
    }
}
