//! A SQLite row's *load record* (migration 4): everything a stream load
//! needs besides the payload, in one BLOB column (`load_record`), so a load
//! reads two values per row. SQLite's driver copies every value of every
//! row it hands out, on its own thread, and the row is freed on the task's,
//! both under SQLite's process-wide memory mutex: the number of values per
//! row, not their size, is what a load pays for (see `docs/sqlite.md`).
//!
//! | bytes | what |
//! |---|---|
//! | 1 | [`LOAD_RECORD`] (the format) |
//! | … | the compact context's fields after its first byte (see the parent module), `recorded_at` first |
//! | 4 | the payload's schema version (`u32`) |
//! | 4 + n | the stored event type: length (`u32`) and UTF-8 text |
//! | 8 | the row's version (`i64`) |
//! | 8 | the row's position (`i64`) |
//! | 8 | the position's bitwise complement (`!position`): its check |
//!
//! Integers big-endian, nothing after the check. The version and the
//! position come last because a one-event append assigns them in SQL: it
//! binds the record without them ([`start`]) and appends the 24 bytes in
//! the statement; a batch knows them and adds them with [`finish`]. A
//! load checks the version against the one it expects next; the position
//! it cannot know ahead (a load from a later version starts anywhere), so
//! it carries its own check.
//!
//! The record repeats the row's `version`, `position`, `event_type` and
//! `schema_version` columns, which stay the truth for SQL: a trigger of
//! migration 4 turns a row whose columns are updated (a rewrite, a fix by
//! hand) back into the older form (its context in the `context` column, no
//! record), so a record never disagrees with its row. A load checks what it
//! can without the columns (the form, lengths, UTF-8, nothing left over,
//! the version it expects next, the position's check, positions that
//! grow); a load that reads the
//! columns beside a record checks the record against them ([`check_row`]).

use super::{ContextError, Metadata, Reader, StoredContext, read_fields};

/// The first byte of a load record.
pub(crate) const LOAD_RECORD: u8 = 2;

/// The version, position and position check at the record's end.
const TAIL: usize = 24;

/// What a load record says about its row, besides the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowHead<'a> {
    pub(crate) version: u64,
    pub(crate) position: u64,
    pub(crate) schema_version: u32,
    pub(crate) event_type: &'a str,
}

/// A decoded load record.
#[derive(Debug)]
pub(crate) struct LoadRecord<'a> {
    pub(crate) head: RowHead<'a>,
    pub(crate) context: StoredContext<'a>,
}

/// The record of an event of `event_type` at `schema_version`, without
/// its version and position (see [`finish`]); its `recorded_at` is set
/// later with `set_recorded_at`, as a context's.
pub(crate) fn start(metadata: &Metadata, schema_version: u32, event_type: &str) -> Vec<u8> {
    let mut out = super::encode(metadata, 0);
    out.reserve(4 + 4 + event_type.len() + TAIL);
    out[0] = LOAD_RECORD;
    out.extend_from_slice(&schema_version.to_be_bytes());
    // A name longer than 4 GiB cannot be stored in a row anyway.
    out.extend_from_slice(
        &u32::try_from(event_type.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(event_type.as_bytes());
    out
}

/// Ends a record [`start`] wrote with the row's version and position and
/// the position's check (replacing any a previous call added, past
/// `started` bytes).
pub(crate) fn finish(record: &mut Vec<u8>, started: usize, version: i64, position: i64) {
    record.truncate(started);
    record.extend_from_slice(&version.to_be_bytes());
    record.extend_from_slice(&position.to_be_bytes());
    record.extend_from_slice(&(!position).to_be_bytes());
}

/// Decodes a load record, a text equal to one of `known` given as that
/// text (as `decode_with_known`).
pub(crate) fn decode<'a>(
    bytes: &'a [u8],
    known: &[&'a str],
) -> Result<LoadRecord<'a>, ContextError> {
    match bytes.first() {
        None => return Err(ContextError::Empty),
        Some(&LOAD_RECORD) => {}
        Some(&other) => return Err(ContextError::UnknownFormat(other)),
    }
    let mut reader = Reader {
        bytes,
        at: 1,
        known,
    };
    let context = read_fields(&mut reader)?;
    let schema_version = u32::from_be_bytes(reader.take::<4>("schema_version")?);
    let event_type = reader.str("event_type")?;
    let version = i64::from_be_bytes(reader.take::<8>("version")?);
    let position = i64::from_be_bytes(reader.take::<8>("position")?);
    let check = i64::from_be_bytes(reader.take::<8>("position check")?);
    reader.end()?;
    if check != !position {
        return Err(ContextError::FailsCheck { field: "position" });
    }
    let positive = |value: i64, field| {
        u64::try_from(value)
            .ok()
            .filter(|&value| value >= 1)
            .ok_or(ContextError::OutOfRange { field, value })
    };
    Ok(LoadRecord {
        head: RowHead {
            version: positive(version, "version")?,
            position: positive(position, "position")?,
            schema_version,
            event_type,
        },
        context,
    })
}

/// Fails unless the record's `head` is `row`'s (read from its columns).
pub(crate) fn check_row(head: &RowHead<'_>, row: &RowHead<'_>) -> Result<(), ContextError> {
    let differs = [
        (head.version != row.version, "version"),
        (head.position != row.position, "position"),
        (head.schema_version != row.schema_version, "schema_version"),
        (head.event_type != row.event_type, "event_type"),
    ];
    match differs.into_iter().find(|(differs, _)| *differs) {
        Some((_, field)) => Err(ContextError::OtherRow { field }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::KnownTexts;
    use crate::store::context::set_recorded_at;

    fn record(metadata: &Metadata) -> Vec<u8> {
        let mut bytes = start(metadata, 3, "orders.Placed");
        set_recorded_at(&mut bytes, 77);
        let started = bytes.len();
        finish(&mut bytes, started, 4, 9);
        bytes
    }

    #[test]
    fn a_record_keeps_its_row_and_every_context_field() {
        let mut metadata = Metadata::new("orders.Placed");
        metadata.subject = Some("order-1".into());
        metadata.causation_id = Some(uuid::Uuid::new_v4());
        metadata.dataschema = Some("https://example.com/schema".into());
        let bytes = record(&metadata);
        let decoded = decode(&bytes, &["orders.Placed"]).expect("decodes");
        assert_eq!(
            decoded.head,
            RowHead {
                version: 4,
                position: 9,
                schema_version: 3,
                event_type: "orders.Placed",
            }
        );
        assert_eq!(decoded.context.recorded_at, 77);
        assert_eq!(
            decoded.context.fields.into_metadata(&KnownTexts::default()),
            metadata
        );
    }

    #[test]
    fn finishing_again_replaces_the_version_and_position() {
        let metadata = Metadata::new("orders.Placed");
        let mut bytes = start(&metadata, 1, "orders.Placed");
        let started = bytes.len();
        finish(&mut bytes, started, 1, 1);
        finish(&mut bytes, started, 2, 5);
        let head = decode(&bytes, &[]).expect("decodes").head;
        assert_eq!((head.version, head.position), (2, 5));
    }

    #[test]
    fn a_damaged_record_is_an_error_never_a_panic() {
        let bytes = record(&Metadata::new("orders.Placed"));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &[]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &[]),
            Err(ContextError::TrailingBytes { extra: 1, .. })
        ));
        // A context is not a record.
        let context = crate::store::context::encode(&Metadata::new("orders.Placed"), 1);
        assert!(matches!(
            decode(&context, &[]),
            Err(ContextError::UnknownFormat(1))
        ));
        let len = bytes.len();
        for (at, field) in [(len - 24, "version"), (len - 16, "position")] {
            for value in [0_i64, -1] {
                let mut crafted = bytes.clone();
                crafted[at..at + 8].copy_from_slice(&value.to_be_bytes());
                if field == "position" {
                    crafted[len - 8..].copy_from_slice(&(!value).to_be_bytes());
                }
                assert!(
                    matches!(
                        decode(&crafted, &[]),
                        Err(ContextError::OutOfRange { field: f, .. }) if f == field
                    ),
                    "{field} {value}"
                );
            }
        }
        // Any bit of the position or its check flipped.
        for bit in 0..128 {
            let mut flipped = bytes.clone();
            flipped[len - 16 + bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(
                    decode(&flipped, &[]),
                    Err(ContextError::FailsCheck { field: "position" })
                ),
                "bit {bit}"
            );
        }
        let mut not_utf8 = bytes.clone();
        not_utf8[len - 25] = 0xff;
        assert!(matches!(
            decode(&not_utf8, &[]),
            Err(ContextError::NotUtf8 {
                field: "event_type"
            })
        ));
    }

    #[test]
    fn a_record_of_another_row_is_named_by_the_field_that_differs() {
        let row = RowHead {
            version: 4,
            position: 9,
            schema_version: 3,
            event_type: "orders.Placed",
        };
        assert!(check_row(&row, &row).is_ok());
        let others = [
            (RowHead { version: 5, ..row }, "version"),
            (RowHead { position: 8, ..row }, "position"),
            (
                RowHead {
                    schema_version: 2,
                    ..row
                },
                "schema_version",
            ),
            (
                RowHead {
                    event_type: "orders.Shipped",
                    ..row
                },
                "event_type",
            ),
        ];
        for (other, field) in others {
            assert!(
                matches!(check_row(&other, &row), Err(ContextError::OtherRow { field: f }) if f == field),
                "{field}"
            );
        }
    }
}
