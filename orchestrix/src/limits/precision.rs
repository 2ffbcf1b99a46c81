//! The time precision every store keeps.

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
    stored_precision(OffsetDateTime::now_utc())
}
