//! An event's stored context: its CloudEvents metadata and the time the
//! store accepted it, in one binary column (`context`) that a stream load
//! reads instead of the metadata JSON and the time column.
//!
//! The compact form (first byte [`COMPACT`]), integers big-endian (network
//! order, as PostgreSQL's `int8send`, `int4send` and `uuid_send` write
//! them, so a PostgreSQL migration can build it from a row's columns in
//! SQL):
//!
//! | bytes | what |
//! |---|---|
//! | 1 | [`COMPACT`] (the format) |
//! | 8 | `recorded_at`: nanoseconds since the Unix epoch, UTC (`i64`) |
//! | 16 | `id` |
//! | 16 | `correlationid` |
//! | 8 + 4 + 4 | `time`: its local wall-clock time as Unix seconds (the seconds of the same date and time read as UTC, `i64`), nanoseconds (`u32`), UTC offset in seconds (`i32`) |
//! | 1 | which optional fields follow: 1 `causationid`, 2 `subject`, 4 `datacontenttype`, 8 `dataschema`; any other bit is an error |
//! | 16 | `causationid`, if present |
//! | 4 + n each | `type`, `source`, then `subject`, `datacontenttype`, `dataschema` if present: length (`u32`) and UTF-8 text |
//!
//! Nothing may follow the last field. The time is kept as its local
//! wall-clock time, not as a UTC instant, so every time the store accepts
//! (local years 0 to 9999, whatever the offset) reads back, and decoding a
//! damaged column is an error, never a panic. (An earlier, unreleased
//! layout kept the UTC instant; no stored column of it exists, so it is not
//! read.)
//!
//! A row written before the column existed has no context: a load reads
//! the text `"<recorded_at> <metadata JSON>"` built from its other columns
//! instead (SQLite's rows, PostgreSQL's version-1 rows; PostgreSQL builds
//! the compact form itself for its version-2 rows) (recorded_at in nanoseconds since the Unix epoch), in the same
//! column of the result ([`Loaded`]). Both decode into the same
//! [`MetadataFields`], the texts borrowed from the column, and then into
//! [`Metadata`] through one function, [`decode_loaded`], for every backend.
//!
//! Written by the PostgreSQL store (migration 3) with [`encode`]. The
//! SQLite store wrote it from its migration 3 on; since its migration 4 it
//! writes the context inside each row's load record ([`record`]: the same
//! fields, beside what else a load needs), and the context column holds
//! the context only of rows written before, or turned back into that form
//! when their columns are updated.

use std::borrow::Cow;

use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::error::DecodeError;
use crate::message::{
    DEFAULT_SOURCE, JSON_CONTENT_TYPE, KnownTexts, Metadata, MetadataFields, SharedStr,
    SpecVersion, Text,
};

#[cfg(feature = "sqlite")]
pub(crate) mod record;

/// The first byte of the compact form.
pub(crate) const COMPACT: u8 = 1;

const CAUSATION: u8 = 1;
const SUBJECT: u8 = 2;
const CONTENT_TYPE: u8 = 4;
const SCHEMA: u8 = 8;
/// Every flag bit the compact form knows.
const KNOWN_FLAGS: u8 = CAUSATION | SUBJECT | CONTENT_TYPE | SCHEMA;

/// Why a stored context does not decode.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ContextError {
    /// The column is empty or NULL.
    #[error("the stored context is empty")]
    Empty,
    /// The first byte names no known form.
    #[error("the stored context has an unknown format (first byte {0:#04x})")]
    UnknownFormat(u8),
    /// The compact form ends before its fields do.
    #[error("the stored context ends early, reading {field} at byte {at}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        at: usize,
    },
    /// A text of the compact form is not UTF-8.
    #[error("the stored context's {field} is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The compact form's time is out of range.
    #[error("the stored context's time is out of range: {0}")]
    Time(#[from] time::error::ComponentRange),
    /// The flags byte has bits no version of the form defines.
    #[error("the stored context's flags byte {0:#04x} has unknown bits")]
    UnknownFlags(u8),
    /// A load record's version or position is not a row's (0 or negative).
    #[cfg(feature = "sqlite")]
    #[error("the stored load record's {field} {value} is out of range")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// A load record does not match its `check`: damaged.
    #[cfg(feature = "sqlite")]
    #[error("the stored load record fails its {check}")]
    FailsCheck {
        /// The check: its checksum, or its version and position check.
        check: &'static str,
    },
    /// A load record says another `field` than its row's column holds:
    /// it is not this row's.
    #[cfg(feature = "sqlite")]
    #[error("the stored load record's {field} differs from the row's {field} column")]
    OtherRow {
        /// The field.
        field: &'static str,
    },
    /// Bytes follow the last field.
    #[error("the stored context has {extra} bytes after its last field (at byte {at})")]
    TrailingBytes {
        /// Where the last field ends.
        at: usize,
        /// How many bytes follow it.
        extra: usize,
    },
}

/// A decoded context: the metadata's fields (texts borrowed from the
/// column where it allows) and when the store accepted the event.
#[derive(Debug)]
pub(crate) struct StoredContext<'a> {
    pub(crate) fields: MetadataFields<'a>,
    /// Nanoseconds since the Unix epoch, UTC.
    pub(crate) recorded_at: i64,
}

/// The compact form of `metadata`, accepted at `recorded_at` (nanoseconds
/// since the Unix epoch).
pub(crate) fn encode(metadata: &Metadata, recorded_at: i64) -> Vec<u8> {
    let texts = [
        Some(metadata.message_type.as_str()),
        Some(metadata.source.as_str()),
        metadata.subject.as_deref(),
        metadata.datacontenttype.as_deref(),
        metadata.dataschema.as_deref(),
    ];
    let text_len: usize = texts.iter().flatten().map(|text| 4 + text.len()).sum();
    let mut out = Vec::with_capacity(1 + 8 + 16 + 16 + 16 + 1 + 16 + text_len);
    out.push(COMPACT);
    out.extend_from_slice(&recorded_at.to_be_bytes());
    out.extend_from_slice(metadata.id.as_bytes());
    out.extend_from_slice(metadata.correlation_id.as_bytes());
    let time = metadata.time;
    // The local wall-clock time, read as UTC: in range for every local date.
    out.extend_from_slice(
        &time
            .replace_offset(UtcOffset::UTC)
            .unix_timestamp()
            .to_be_bytes(),
    );
    out.extend_from_slice(&time.nanosecond().to_be_bytes());
    out.extend_from_slice(&time.offset().whole_seconds().to_be_bytes());
    let flags = [
        (metadata.causation_id.is_some(), CAUSATION),
        (metadata.subject.is_some(), SUBJECT),
        (metadata.datacontenttype.is_some(), CONTENT_TYPE),
        (metadata.dataschema.is_some(), SCHEMA),
    ]
    .into_iter()
    .filter(|(present, _)| *present)
    .fold(0, |flags, (_, flag)| flags | flag);
    out.push(flags);
    if let Some(causation_id) = metadata.causation_id {
        out.extend_from_slice(causation_id.as_bytes());
    }
    for text in texts.into_iter().flatten() {
        // A text longer than 4 GiB cannot be stored in a row anyway.
        out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// Sets the `recorded_at` of a compact form [`encode`] wrote (PostgreSQL
/// sets it in SQL instead).
#[cfg(feature = "sqlite")]
pub(crate) fn set_recorded_at(bytes: &mut [u8], recorded_at: i64) {
    if let Some(field) = bytes.get_mut(1..9) {
        field.copy_from_slice(&recorded_at.to_be_bytes());
    }
}

/// Decodes the compact form (see the module docs), no text known ahead.
/// (The loads pass their known texts through `decode_loaded`; kept for the tests.)
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Result<StoredContext<'_>, ContextError> {
    decode_with_known(bytes, &[])
}

/// [`decode`], a text equal to one of `known` (e.g. the registered type
/// name, the default source) given as that text: compared byte for byte
/// instead of checked as UTF-8, which costs several times more per short
/// text, on every row of a load.
pub(crate) fn decode_with_known<'a>(
    bytes: &'a [u8],
    known: &[&'a str],
) -> Result<StoredContext<'a>, ContextError> {
    match bytes.first() {
        None => Err(ContextError::Empty),
        Some(&COMPACT) => decode_compact(bytes, known),
        Some(&other) => Err(ContextError::UnknownFormat(other)),
    }
}

/// What a load selected for an event's context, in one column.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loaded<'a> {
    /// The stored context: the compact form (or damaged bytes).
    Context(&'a [u8]),
    /// A row stored without one: `"<recorded_at> <metadata JSON>"`,
    /// recorded_at in nanoseconds since the Unix epoch.
    Columns(&'a [u8]),
    /// A SQLite row's load record ([`record`]), read beside the row's own
    /// columns (`row`), which it must repeat.
    #[cfg(feature = "sqlite")]
    Record {
        /// The record's bytes.
        bytes: &'a [u8],
        /// What the row's columns hold.
        row: record::RowHead<'a>,
    },
    /// A SQLite BLOB of neither form (its first byte neither a record's
    /// nor a context's, or none): a damaged record or context, which one
    /// the one value a load selects for both does not say.
    #[cfg(feature = "sqlite")]
    Unknown(&'a [u8]),
}

/// The texts a context usually repeats, in the order its fields come: the
/// type, the default source and content type, the stream's id as subject.
pub(crate) fn usual_texts<'k>(known: &KnownTexts<'k>) -> [&'k str; 4] {
    [
        known.message_type.unwrap_or(DEFAULT_SOURCE),
        DEFAULT_SOURCE,
        JSON_CONTENT_TYPE,
        known.stream_id.map_or(DEFAULT_SOURCE, |id| &**id),
    ]
}

/// A decoded context's metadata (its texts shared with `known` where they
/// match) and time.
pub(crate) fn into_loaded(
    context: StoredContext<'_>,
    known: &KnownTexts<'_>,
) -> (Metadata, OffsetDateTime) {
    (
        context.fields.into_metadata(known),
        time_from_nanos(context.recorded_at),
    )
}

/// The metadata and `recorded_at` of a loaded row of type `event_type`,
/// its texts shared with `known` where they match. A column that does not
/// decode is [`DecodeError::Context`] naming it (`context`, `recorded_at`
/// or `metadata`): the caller names the row.
pub(crate) fn decode_loaded(
    loaded: Loaded<'_>,
    event_type: &str,
    known: &KnownTexts<'_>,
) -> Result<(Metadata, OffsetDateTime), DecodeError> {
    let damaged = |column, source: Box<dyn std::error::Error + Send + Sync>| DecodeError::Context {
        event_type: event_type.to_owned(),
        column,
        source,
    };
    let context =
        match loaded {
            Loaded::Context(bytes) => decode_with_known(bytes, &usual_texts(known))
                .map_err(|source| damaged("context", source.into()))?,
            #[cfg(feature = "sqlite")]
            Loaded::Record { bytes, row } => {
                let texts = usual_texts(known);
                let record = record::decode(bytes, &texts)
                    .and_then(|record| record::check_row(&record.head, &row).map(|()| record))
                    .map_err(|source| damaged("load_record", source.into()))?;
                record.context
            }
            #[cfg(feature = "sqlite")]
            Loaded::Unknown(bytes) => {
                let source = match bytes.first() {
                    None => ContextError::Empty,
                    Some(&first) => ContextError::UnknownFormat(first),
                };
                return Err(damaged("load_record or context", source.into()));
            }
            Loaded::Columns(bytes) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|source| damaged("metadata", source.into()))?;
                let (recorded_at, metadata) = text.split_once(' ').unwrap_or(("", text));
                StoredContext {
                    recorded_at: recorded_at.parse().map_err(
                        |source: std::num::ParseIntError| damaged("recorded_at", source.into()),
                    )?,
                    fields: serde_json::from_str(metadata)
                        .map_err(|source| damaged("metadata", source.into()))?,
                }
            }
        };
    Ok(into_loaded(context, known))
}

/// Keeps `source` as the reader's last source ([`KnownTexts::last_source`])
/// when it is not the default (static) one and not already kept.
pub(crate) fn remember_source(last: &mut Option<SharedStr>, source: &SharedStr) {
    if !source.is_static()
        && last
            .as_ref()
            .is_none_or(|last| !std::ptr::eq(last.as_str(), source.as_str()))
    {
        *last = Some(source.clone());
    }
}

/// A time from nanoseconds since the Unix epoch (every `i64` is in range).
pub(crate) fn time_from_nanos(nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Reads the compact form front to back.
struct Reader<'a, 'k> {
    bytes: &'a [u8],
    at: usize,
    known: &'k [&'a str],
}

impl<'a> Reader<'a, '_> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ContextError> {
        let end = self.at + N;
        let taken = self
            .bytes
            .get(self.at..end)
            .and_then(|slice| <[u8; N]>::try_from(slice).ok())
            .ok_or(ContextError::Truncated { field, at: self.at })?;
        self.at = end;
        Ok(taken)
    }

    fn uuid(&mut self, field: &'static str) -> Result<Uuid, ContextError> {
        self.take::<16>(field).map(Uuid::from_bytes)
    }

    fn text(&mut self, field: &'static str) -> Result<Text<'a>, ContextError> {
        self.str(field).map(|text| Text(Cow::Borrowed(text)))
    }

    /// A text (length, then UTF-8), borrowed from the bytes or, when it
    /// equals one, from a known text.
    fn str(&mut self, field: &'static str) -> Result<&'a str, ContextError> {
        let len = u32::from_be_bytes(self.take::<4>(field)?) as usize;
        let start = self.at;
        let slice = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(ContextError::Truncated { field, at: start })?;
        self.at = start + len;
        if let Some(known) = self.known.iter().find(|known| known.as_bytes() == slice) {
            return Ok(known);
        }
        std::str::from_utf8(slice).map_err(|_| ContextError::NotUtf8 { field })
    }
}

fn decode_compact<'a>(
    bytes: &'a [u8],
    known: &[&'a str],
) -> Result<StoredContext<'a>, ContextError> {
    let mut reader = Reader {
        bytes,
        at: 1,
        known,
    };
    let context = read_fields(&mut reader)?;
    reader.end()?;
    Ok(context)
}

impl Reader<'_, '_> {
    /// Fails unless every byte was read.
    fn end(&self) -> Result<(), ContextError> {
        if self.at != self.bytes.len() {
            return Err(ContextError::TrailingBytes {
                at: self.at,
                extra: self.bytes.len() - self.at,
            });
        }
        Ok(())
    }
}

/// The compact form's fields after its first byte, from where `reader`
/// stands (a load record holds them too, see [`record`]).
fn read_fields<'a>(reader: &mut Reader<'a, '_>) -> Result<StoredContext<'a>, ContextError> {
    let recorded_at = i64::from_be_bytes(reader.take::<8>("recorded_at")?);
    let id = reader.uuid("id")?;
    let correlation_id = reader.uuid("correlationid")?;
    let seconds = i64::from_be_bytes(reader.take::<8>("time")?);
    let nanos = u32::from_be_bytes(reader.take::<4>("time")?);
    let offset = i32::from_be_bytes(reader.take::<4>("time")?);
    // `replace_offset` keeps the date and time: never out of range.
    let time = OffsetDateTime::from_unix_timestamp(seconds)?
        .replace_nanosecond(nanos)?
        .replace_offset(UtcOffset::from_whole_seconds(offset)?);
    let [flags] = reader.take::<1>("flags")?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(ContextError::UnknownFlags(flags));
    }
    let causation_id = if flags & CAUSATION != 0 {
        Some(reader.uuid("causationid")?)
    } else {
        None
    };
    let message_type = reader.text("type")?;
    let source = reader.text("source")?;
    let mut optional =
        |flag: u8, field| (flags & flag != 0).then(|| reader.text(field)).transpose();
    let subject = optional(SUBJECT, "subject")?;
    let datacontenttype = optional(CONTENT_TYPE, "datacontenttype")?;
    let dataschema = optional(SCHEMA, "dataschema")?;
    Ok(StoredContext {
        fields: MetadataFields {
            id,
            _specversion: SpecVersion,
            message_type,
            source,
            time,
            subject,
            datacontenttype,
            dataschema,
            correlation_id,
            causation_id,
        },
        recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::KnownTexts;

    fn round_trip(metadata: &Metadata) -> (Metadata, i64) {
        let bytes = encode(metadata, -42);
        let context = decode(&bytes).expect("decodes");
        (
            context.fields.into_metadata(&KnownTexts::default()),
            context.recorded_at,
        )
    }

    /// Known texts change nothing but how a text is checked: the same
    /// fields with or without them, a text that is not known still checked
    /// as UTF-8.
    #[test]
    fn known_texts_decode_as_the_texts_they_equal() {
        let mut metadata = Metadata::new("orders.Placed");
        metadata.subject = Some("order-1".into());
        metadata.dataschema = Some("https://example.com/schema".into());
        let bytes = encode(&metadata, 7);
        let known = ["orders.Placed", crate::message::DEFAULT_SOURCE, "order-1"];
        let with_known = decode_with_known(&bytes, &known).expect("decodes");
        assert_eq!(with_known.recorded_at, 7);
        assert_eq!(
            with_known.fields.into_metadata(&KnownTexts::default()),
            metadata
        );
        let mut not_utf8 = Metadata::new("orders.Placed");
        not_utf8.subject = Some("ab".into());
        not_utf8.datacontenttype = None;
        let mut bytes = encode(&not_utf8, 7);
        let at = bytes.len() - 2;
        bytes[at] = 0xff;
        assert!(matches!(
            decode_with_known(&bytes, &known),
            Err(ContextError::NotUtf8 { field: "subject" })
        ));
    }

    #[test]
    fn the_compact_form_keeps_every_field() {
        let mut metadata = Metadata::new("orders.Placed");
        assert_eq!(round_trip(&metadata), (metadata.clone(), -42));
        metadata.subject = Some("order-1".into());
        metadata.datacontenttype = Some("application/json".into());
        metadata.dataschema = Some("https://example.com/schema/ü".into());
        metadata.causation_id = Some(Uuid::new_v4());
        metadata.time = time::macros::datetime!(1901-02-03 04:05:06.123_456_789 -07:30);
        let (decoded, _) = round_trip(&metadata);
        assert_eq!(decoded, metadata);
        assert_eq!(decoded.time.offset(), metadata.time.offset());
        // The text a raw read would print is the one the JSON column holds.
        assert_eq!(
            serde_json::to_string(&decoded).expect("json"),
            serde_json::to_string(&metadata).expect("json")
        );
    }

    #[test]
    fn a_row_without_a_context_decodes_from_its_text_and_names_a_damaged_column() {
        let metadata = Metadata::new("orders.Placed");
        let text = format!(
            "-42 {}",
            serde_json::to_string(&metadata).expect("metadata JSON")
        );
        let known = KnownTexts::default();
        let (decoded, recorded_at) =
            decode_loaded(Loaded::Columns(text.as_bytes()), "orders.Placed", &known)
                .expect("decodes");
        assert_eq!(decoded, metadata);
        assert_eq!(recorded_at, time_from_nanos(-42));
        let column = |loaded| match decode_loaded(loaded, "orders.Placed", &known) {
            Err(DecodeError::Context { column, .. }) => column,
            other => panic!("expected a damaged column, got {other:?}"),
        };
        assert_eq!(column(Loaded::Columns(b"soon {}")), "recorded_at");
        assert_eq!(column(Loaded::Columns(b"1 {\"id\": 1}")), "metadata");
        assert_eq!(column(Loaded::Columns(b"1 \xff")), "metadata");
        assert_eq!(column(Loaded::Context(&[1, 2])), "context");
        assert_eq!(column(Loaded::Context(&[])), "context");
        #[cfg(feature = "sqlite")]
        for unknown in [&[][..], &[0], &[7, 1]] {
            assert_eq!(column(Loaded::Unknown(unknown)), "load_record or context");
        }
    }

    #[test]
    fn damaged_contexts_are_errors_not_panics() {
        let bytes = encode(&Metadata::new("orders.Placed"), 1);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode(&[9]), Err(ContextError::UnknownFormat(9))));
        let mut bad_text = bytes.clone();
        let last = bad_text.len() - 1;
        bad_text[last] = 0xff;
        assert!(matches!(
            decode(&bad_text),
            Err(ContextError::NotUtf8 { .. })
        ));
    }

    /// Where the time's three fields start in the compact form.
    const TIME_AT: usize = 1 + 8 + 16 + 16;

    #[test]
    fn the_extremes_of_every_accepted_time_round_trip() {
        use time::macros::datetime;
        let times = [
            datetime!(0000-01-01 00:00:00 +00:00),
            datetime!(0000-01-01 00:00:00 +01:00),
            datetime!(0000-01-01 00:00:00 -01:00),
            datetime!(0000-01-01 00:00:00.000_000_001 +23:59:59),
            datetime!(0000-01-01 00:30:00 -23:59:59),
            datetime!(9999-12-31 23:59:59.999_999_999 +00:00),
            datetime!(9999-12-31 23:59:59.999_999_999 +01:00),
            datetime!(9999-12-31 23:30:00 -01:00),
            datetime!(9999-12-31 23:59:59.999_999_999 -23:59:59),
            datetime!(9999-12-31 00:00:00 +23:59:59),
        ];
        for time in times {
            let mut metadata = Metadata::new("orders.Placed");
            metadata.time = time;
            let (decoded, _) = round_trip(&metadata);
            assert_eq!(decoded.time, time, "{time}");
            assert_eq!(decoded.time.offset(), time.offset(), "{time}");
            assert_eq!(
                (decoded.time.date(), decoded.time.time()),
                (time.date(), time.time()),
                "{time}"
            );
        }
    }

    #[test]
    fn crafted_extreme_times_decode_or_fail_never_panic() {
        let bytes = encode(&Metadata::new("orders.Placed"), 1);
        let seconds = [
            i64::MIN,
            -62_167_219_201,
            -62_167_219_200,
            0,
            253_402_300_799,
            253_402_300_800,
            i64::MAX,
        ];
        let nanos = [0, 999_999_999, 1_000_000_000, u32::MAX];
        let offsets = [
            i32::MIN,
            -93_600,
            -93_599,
            -3_600,
            0,
            3_600,
            93_599,
            93_600,
            i32::MAX,
        ];
        for seconds in seconds {
            for nanos in nanos {
                for offset in offsets {
                    let mut crafted = bytes.clone();
                    crafted[TIME_AT..TIME_AT + 8].copy_from_slice(&seconds.to_be_bytes());
                    crafted[TIME_AT + 8..TIME_AT + 12].copy_from_slice(&nanos.to_be_bytes());
                    crafted[TIME_AT + 12..TIME_AT + 16].copy_from_slice(&offset.to_be_bytes());
                    let _ = decode(&crafted);
                }
            }
        }
        // The last second of year 9999 an hour east of UTC: a valid time.
        let mut crafted = bytes.clone();
        crafted[TIME_AT..TIME_AT + 8].copy_from_slice(&253_402_300_799_i64.to_be_bytes());
        crafted[TIME_AT + 8..TIME_AT + 12].copy_from_slice(&0_u32.to_be_bytes());
        crafted[TIME_AT + 12..TIME_AT + 16].copy_from_slice(&3_600_i32.to_be_bytes());
        let time = decode(&crafted).expect("in range").fields.time;
        assert_eq!(time, time::macros::datetime!(9999-12-31 23:59:59 +01:00));
    }

    #[test]
    fn unknown_flags_and_trailing_bytes_are_errors() {
        let bytes = encode(&Metadata::new("orders.Placed"), 1);
        let flags_at = TIME_AT + 16;
        for bit in [16_u8, 32, 64, 128] {
            let mut crafted = bytes.clone();
            crafted[flags_at] |= bit;
            assert!(
                matches!(decode(&crafted), Err(ContextError::UnknownFlags(_))),
                "bit {bit}"
            );
        }
        // More than one byte after the last field: the error counts them
        // all and says where the fields end.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            decode(&longer),
            Err(ContextError::TrailingBytes { at, extra: 3 }) if at == bytes.len()
        ));
    }
}
