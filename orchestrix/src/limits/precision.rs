//! The time precision every store keeps.

use std::time::{Duration, SystemTime};

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

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
    clock_reading(SystemTime::now())
}

/// Seconds in a day: Unix time has no leap seconds, so every day has as
/// many.
const SECONDS_PER_DAY: u64 = 86_400;

/// A clock for a caller that reads it at every call of a hot path (the
/// in-memory stores' `recorded_at`, once per append): each reading equals
/// [`now`]'s, in UTC, but the calendar date of the last day read is kept,
/// so a reading on that day costs a few divisions instead of the calendar
/// arithmetic of building an `OffsetDateTime` from the epoch (about a
/// tenth of a one-event save; see docs/performance.md).
#[derive(Debug, Default)]
pub(crate) struct DayClock {
    /// The last day read (days since the epoch) and its date.
    day: Option<(u64, Date)>,
}

impl DayClock {
    /// The current time at [`stored_precision`], in UTC.
    pub(crate) fn now(&mut self) -> PrimitiveDateTime {
        self.reading(SystemTime::now())
    }

    /// `at` as [`now`] reads it, in UTC. A time before the epoch or past
    /// what `OffsetDateTime` holds takes the long way, [`clock_reading`].
    fn reading(&mut self, at: SystemTime) -> PrimitiveDateTime {
        self.same_day_reading(at).unwrap_or_else(|| {
            let reading = clock_reading(at);
            PrimitiveDateTime::new(reading.date(), reading.time())
        })
    }

    /// `at`, when it is after the epoch and within years 9999.
    fn same_day_reading(&mut self, at: SystemTime) -> Option<PrimitiveDateTime> {
        let since = at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let seconds = since.as_secs();
        let day = seconds / SECONDS_PER_DAY;
        let date = match self.day {
            Some((kept, date)) if kept == day => date,
            _ => {
                let midnight = i64::try_from(day * SECONDS_PER_DAY).ok()?;
                let date = OffsetDateTime::from_unix_timestamp(midnight).ok()?.date();
                self.day = Some((day, date));
                date
            }
        };
        // Below 86,400: each part fits a `u8`.
        let of_day = seconds % SECONDS_PER_DAY;
        // Never an error: hours below 24, minutes and seconds below 60,
        // microseconds below a million. Were it one (a bug here), the
        // reading would still be right, through the long way, and only
        // slower, which no comparison of readings can see: the debug
        // assertion makes the tests see it.
        let time = Time::from_hms_micro(
            (of_day / 3_600) as u8,
            (of_day / 60 % 60) as u8,
            (of_day % 60) as u8,
            since.subsec_micros(),
        );
        debug_assert!(time.is_ok(), "a time of day out of range: {time:?}");
        Some(PrimitiveDateTime::new(date, time.ok()?))
    }
}

/// The current time plus `after`, at [`stored_precision`] (a lease's
/// expiry).
pub(crate) fn now_plus(after: Duration) -> OffsetDateTime {
    plus_at_stored_precision(SystemTime::now(), after)
}

/// `now + after` at [`stored_precision`]; `now` when the sum is past what
/// `OffsetDateTime` holds (the end of year 9999), as the saga store's
/// `expiry` does.
fn plus_at_stored_precision(now: SystemTime, after: Duration) -> OffsetDateTime {
    now.checked_add(after)
        .and_then(system_time_at_stored_precision)
        .unwrap_or_else(|| clock_reading(now))
}

/// `at` at [`stored_precision`]; a time outside what `OffsetDateTime`
/// holds (years -9999 to 9999) reads as the nearest time it holds rather
/// than panicking, as `OffsetDateTime::from` would.
fn clock_reading(at: SystemTime) -> OffsetDateTime {
    system_time_at_stored_precision(at).unwrap_or_else(|| {
        let nearest = if at > SystemTime::UNIX_EPOCH {
            PrimitiveDateTime::new(Date::MAX, Time::MAX)
        } else {
            PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT)
        };
        stored_precision(nearest.assume_utc())
    })
}

/// `stored_precision(OffsetDateTime::from(at))`, made from the clock's
/// count of seconds and microseconds since the epoch: cutting an
/// `OffsetDateTime` to microseconds after building it costs more than
/// reading the clock, and a saga reads it at every state write. `None`
/// for a time `OffsetDateTime` cannot hold.
fn system_time_at_stored_precision(at: SystemTime) -> Option<OffsetDateTime> {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => {
            let seconds = i64::try_from(since.as_secs()).ok()?;
            let second = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
            Some(
                second
                    .replace_nanosecond(since.subsec_micros() * 1_000)
                    .unwrap_or(second),
            )
        }
        // Before 1970 the cut goes the other way (toward the past): left
        // to `stored_precision`.
        Err(before) => {
            let before = time::Duration::try_from(before.duration()).ok()?;
            OffsetDateTime::UNIX_EPOCH
                .checked_sub(before)
                .map(stored_precision)
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

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
            // The last nanosecond of a day: 999,999 µs, not the next day.
            Duration::from_secs(86_400 * 400) - Duration::from_nanos(1),
            Duration::from_nanos(1_999),
            Duration::ZERO,
        ] {
            let at = base + offset;
            assert_eq!(
                system_time_at_stored_precision(at),
                Some(stored_precision(OffsetDateTime::from(at))),
                "{offset:?}"
            );
        }
    }

    /// The day clock reads every time as `clock_reading` does, in UTC:
    /// within a day, across midnights (forward, and back, as a clock set
    /// back goes), before the epoch and past year 9999, with one clock
    /// kept across all readings as a store keeps it.
    #[test]
    fn the_day_clock_reads_as_the_clock_reading() {
        let midnight = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_460_800);
        let years = Duration::from_secs(20_000 * 366 * 86_400);
        let times = [
            midnight + Duration::from_nanos(123_456_789),
            midnight + Duration::from_secs(86_399) + Duration::from_nanos(999_999_999),
            midnight + Duration::from_secs(86_400),
            midnight + Duration::from_secs(86_400 + 3_661) + Duration::from_nanos(7_654),
            midnight - Duration::from_nanos(1),
            midnight + Duration::from_secs(86_400 * 400 + 45_296) + Duration::from_micros(5),
            midnight,
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500_700),
            SystemTime::UNIX_EPOCH + Duration::from_secs(HOUR_BEFORE_THE_END + 3_599),
            SystemTime::UNIX_EPOCH + years,
            midnight + Duration::from_secs(12),
        ];
        let mut clock = DayClock::default();
        for at in times {
            let expected = clock_reading(at);
            assert_eq!(
                clock.reading(at),
                PrimitiveDateTime::new(expected.date(), expected.time()),
                "{at:?}"
            );
        }
        let before = stored_precision(OffsetDateTime::now_utc());
        let read = clock.now().assume_utc();
        let later = stored_precision(OffsetDateTime::now_utc());
        assert!(
            before <= read && read <= later,
            "{before} <= {read} <= {later}"
        );
    }

    /// A time before the epoch is cut toward the past, as
    /// `stored_precision` cuts it.
    #[test]
    fn a_time_before_the_epoch_is_cut_as_stored_precision_cuts_it() {
        let at = SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500_700);
        assert_eq!(
            system_time_at_stored_precision(at),
            Some(stored_precision(OffsetDateTime::from(at)))
        );
        let after = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_500_700);
        assert_eq!(
            system_time_at_stored_precision(after),
            Some(stored_precision(OffsetDateTime::from(after)))
        );
    }

    /// Seconds from the epoch to 9999-12-31 23:00:00 UTC, an hour before
    /// the end of what `OffsetDateTime` holds.
    const HOUR_BEFORE_THE_END: u64 = 253_402_297_200;

    /// A lease's expiry past year 9999 is the current time (as `expiry`
    /// gives it), not a panic.
    #[test]
    fn a_sum_past_year_9999_is_the_time_it_was_added_to() {
        let now = SystemTime::UNIX_EPOCH
            + Duration::from_secs(HOUR_BEFORE_THE_END)
            + Duration::from_nanos(123_456_789);
        let read = datetime!(9999-12-31 23:00:00.123_456 UTC);
        assert_eq!(
            plus_at_stored_precision(now, Duration::from_secs(30 * 60)),
            datetime!(9999-12-31 23:30:00.123_456 UTC),
            "within year 9999: the sum"
        );
        for after in [Duration::from_secs(2 * 60 * 60), Duration::MAX] {
            assert_eq!(plus_at_stored_precision(now, after), read, "{after:?}");
        }
    }

    /// A clock outside what `OffsetDateTime` holds reads as the nearest
    /// time it holds, at the stored precision, not a panic.
    #[test]
    fn a_clock_outside_years_9999_reads_as_the_nearest_time_held() {
        let years = Duration::from_secs(20_000 * 366 * 86_400);
        assert_eq!(
            clock_reading(SystemTime::UNIX_EPOCH + years),
            datetime!(9999-12-31 23:59:59.999_999 UTC)
        );
        assert_eq!(
            clock_reading(SystemTime::UNIX_EPOCH - years),
            datetime!(-9999-01-01 00:00 UTC)
        );
        assert_eq!(
            system_time_at_stored_precision(SystemTime::UNIX_EPOCH + years),
            None
        );
    }
}
