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
//! | 4 | CRC-32 (Castagnoli) of every byte before it |
//! | 8 | the row's version (`i64`) |
//! | 8 | the row's position (`i64`) |
//! | 8 | `!(version ^ position)`: the version's and position's check |
//!
//! Integers big-endian, nothing after the check. The version and the
//! position come last because a one-event append assigns them in SQL: it
//! binds the record without them ([`start`], sealed with its checksum by
//! [`stamp`]) and appends the 24 bytes in the statement, which cannot
//! compute a CRC but can their bitwise check; a batch knows them and adds
//! them with [`finish`].
//!
//! A load trusts nothing in a record it has not checked: the checksum
//! first (any damaged byte of the part before it fails it, as does any
//! damage of up to 32 bits in a row), then the tail's check (any damage
//! confined to one of its three numbers fails it), then the form (lengths,
//! UTF-8, nothing left over), the version it expects next and positions
//! that grow. A record that fails any of them is read again with its row's
//! columns, which fail with a typed `Decode` error naming the row.
//!
//! The record repeats the row's `version`, `position`, `event_type` and
//! `schema_version` columns and what the `metadata`, `recorded_at`,
//! `event_id`, `correlation_id`, `causation_id` and `context` columns
//! hold, which stay the truth for SQL: the triggers of migration 4 drop
//! the record of a row whose columns are updated by hand, unless the update
//! writes a new record itself (`rewrite_to_current` does), so a record
//! never disagrees with its row; a load that reads the columns beside a
//! record checks the record against them ([`check_row`]).

use crc::{CRC_32_ISCSI, Crc, Table};

use super::{ContextError, Metadata, Reader, StoredContext, read_fields};

/// The first byte of a load record.
pub(crate) const LOAD_RECORD: u8 = 2;

/// The version, position and their check at the record's end.
const TAIL: usize = 24;

/// The checksum's bytes, before the tail.
const CHECKSUM: usize = 4;

/// The checksum: CRC-32C, sliced by 16 (a record is some 100 bytes, read
/// on every load).
const CRC: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// The check of a record's version and position, as the append statements
/// compute it in SQL (`~((v | p) & ~(v & p))`: SQLite has no XOR).
pub(crate) fn tail_check(version: i64, position: i64) -> i64 {
    !(version ^ position)
}

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
/// its version and position (see [`finish`]) and not yet sealed: [`stamp`]
/// sets its `recorded_at` and checksum. [`finish`] and [`stamp`] take its
/// length as `started`.
pub(crate) fn start(metadata: &Metadata, schema_version: u32, event_type: &str) -> Vec<u8> {
    let mut out = super::encode(metadata, 0);
    out.reserve(4 + 4 + event_type.len() + CHECKSUM + TAIL);
    out[0] = LOAD_RECORD;
    out.extend_from_slice(&schema_version.to_be_bytes());
    // A name longer than 4 GiB cannot be stored in a row anyway.
    out.extend_from_slice(
        &u32::try_from(event_type.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(event_type.as_bytes());
    out.extend_from_slice(&[0; CHECKSUM]);
    out
}

/// Sets the record's `recorded_at` and seals what [`start`] wrote (its
/// first `started` bytes) with their checksum.
pub(crate) fn stamp(record: &mut [u8], started: usize, recorded_at: i64) {
    super::set_recorded_at(record, recorded_at);
    if let Some(sealed) = started.checked_sub(CHECKSUM) {
        let checksum = CRC.checksum(&record[..sealed]);
        record[sealed..started].copy_from_slice(&checksum.to_be_bytes());
    }
}

/// Ends a record [`start`] wrote with the row's version and position and
/// their check (replacing any a previous call added, past `started`
/// bytes).
pub(crate) fn finish(record: &mut Vec<u8>, started: usize, version: i64, position: i64) {
    record.truncate(started);
    record.extend_from_slice(&version.to_be_bytes());
    record.extend_from_slice(&position.to_be_bytes());
    record.extend_from_slice(&tail_check(version, position).to_be_bytes());
}

/// Decodes a load record, a text equal to one of `known` given as that
/// text (as `decode_with_known`): checked first (see the module docs).
pub(crate) fn decode<'a>(
    bytes: &'a [u8],
    known: &[&'a str],
) -> Result<LoadRecord<'a>, ContextError> {
    match bytes.first() {
        None => return Err(ContextError::Empty),
        Some(&LOAD_RECORD) => {}
        Some(&other) => return Err(ContextError::UnknownFormat(other)),
    }
    let Some(sealed) = bytes.len().checked_sub(CHECKSUM + TAIL) else {
        return Err(ContextError::Truncated {
            field: "load record",
            at: bytes.len(),
        });
    };
    let (body, sealing) = bytes.split_at(sealed);
    let mut sealing = Reader {
        bytes: sealing,
        at: 0,
        known: &[],
    };
    if u32::from_be_bytes(sealing.take::<4>("checksum")?) != CRC.checksum(body) {
        return Err(ContextError::FailsCheck { check: "checksum" });
    }
    let version = i64::from_be_bytes(sealing.take::<8>("version")?);
    let position = i64::from_be_bytes(sealing.take::<8>("position")?);
    if i64::from_be_bytes(sealing.take::<8>("check")?) != tail_check(version, position) {
        return Err(ContextError::FailsCheck {
            check: "version and position check",
        });
    }
    let mut reader = Reader {
        bytes: body,
        at: 1,
        known,
    };
    let context = read_fields(&mut reader)?;
    let schema_version = u32::from_be_bytes(reader.take::<4>("schema_version")?);
    let event_type = reader.str("event_type")?;
    reader.end()?;
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

    fn record(metadata: &Metadata) -> Vec<u8> {
        let mut bytes = start(metadata, 3, "orders.Placed");
        let started = bytes.len();
        stamp(&mut bytes, started, 77);
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
        stamp(&mut bytes, started, 1);
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
        assert!(decode(&longer, &[]).is_err());
        // A context is not a record.
        let context = crate::store::context::encode(&Metadata::new("orders.Placed"), 1);
        assert!(matches!(
            decode(&context, &[]),
            Err(ContextError::UnknownFormat(1))
        ));
        // Any bit of any byte flipped: the form, the context, the schema
        // version, the type, the checksum, the version, the position or
        // their check. Each fails a check, never decodes as another event.
        let len = bytes.len();
        let sealed = len - TAIL - CHECKSUM;
        for at in 0..len {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                let error = decode(&flipped, &[]).expect_err("a flipped bit is found");
                let expected = match at {
                    0 => matches!(error, ContextError::UnknownFormat(_)),
                    at if at < len - TAIL => {
                        matches!(error, ContextError::FailsCheck { check: "checksum" })
                    }
                    _ => matches!(
                        error,
                        ContextError::FailsCheck {
                            check: "version and position check"
                        }
                    ),
                };
                assert!(
                    expected,
                    "byte {at} (sealed up to {sealed}) bit {bit}: {error}"
                );
            }
        }
        // A sealed record whose tail says a version or position no row
        // has.
        for (version, position, field) in
            [(0, 1, "version"), (-1, 1, "version"), (1, 0, "position")]
        {
            let mut crafted = bytes.clone();
            finish(&mut crafted, sealed + CHECKSUM, version, position);
            assert!(
                matches!(
                    decode(&crafted, &[]),
                    Err(ContextError::OutOfRange { field: f, .. }) if f == field
                ),
                "{field} {version} {position}"
            );
        }
        // A record sealed over a type that is not UTF-8.
        let mut not_utf8 = start(&Metadata::new("orders.Placed"), 1, "orders.Placed");
        let started = not_utf8.len();
        not_utf8[started - CHECKSUM - 1] = 0xff;
        stamp(&mut not_utf8, started, 1);
        finish(&mut not_utf8, started, 1, 1);
        assert!(matches!(
            decode(&not_utf8, &[]),
            Err(ContextError::NotUtf8 {
                field: "event_type"
            })
        ));
    }

    #[test]
    fn the_tail_check_is_what_the_append_statements_compute() {
        // `~((v | p) & ~(v & p))`, the SQL form, is `!(v ^ p)`.
        for (version, position) in [(1, 1), (4, 9), (1, 1 << 40), (i64::MAX, 1), (3, i64::MAX)] {
            assert_eq!(
                tail_check(version, position),
                !((version | position) & !(version & position))
            );
        }
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
