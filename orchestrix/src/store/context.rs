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
//! | 8 + 4 + 4 | `time`: Unix seconds (`i64`), nanoseconds (`u32`), UTC offset in seconds (`i32`) |
//! | 1 | which optional fields follow: 1 `causationid`, 2 `subject`, 4 `datacontenttype`, 8 `dataschema` |
//! | 16 | `causationid`, if present |
//! | 4 + n each | `type`, `source`, then `subject`, `datacontenttype`, `dataschema` if present: length (`u32`) and UTF-8 text |
//!
//! A row written before the column existed has no context: a load reads
//! the JSON form instead, `{"recorded_at": <nanoseconds>, "metadata":
//! {<the stored metadata JSON>}}`, which SQL builds from the row's columns
//! (first byte `{`). Both forms decode here, into the same
//! [`MetadataFields`] the metadata JSON deserializes into, the texts
//! borrowed from the column.

use std::borrow::Cow;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::{Metadata, MetadataFields, SpecVersion, Text};

/// The first byte of the compact form.
pub(crate) const COMPACT: u8 = 1;

const CAUSATION: u8 = 1;
const SUBJECT: u8 = 2;
const CONTENT_TYPE: u8 = 4;
const SCHEMA: u8 = 8;

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
    /// The JSON form does not parse.
    #[error("the stored context's JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
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
    out.extend_from_slice(&time.unix_timestamp().to_be_bytes());
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

/// Decodes either form (see the module docs).
pub(crate) fn decode(bytes: &[u8]) -> Result<StoredContext<'_>, ContextError> {
    match bytes.first() {
        None => Err(ContextError::Empty),
        Some(&COMPACT) => decode_compact(bytes),
        Some(b'{') => Ok(serde_json::from_slice::<JsonContext<'_>>(bytes)?.into()),
        Some(&other) => Err(ContextError::UnknownFormat(other)),
    }
}

/// The JSON form, built by SQL from a row without a context.
#[derive(serde::Deserialize)]
struct JsonContext<'a> {
    recorded_at: i64,
    #[serde(borrow)]
    metadata: MetadataFields<'a>,
}

impl<'a> From<JsonContext<'a>> for StoredContext<'a> {
    fn from(json: JsonContext<'a>) -> Self {
        Self {
            fields: json.metadata,
            recorded_at: json.recorded_at,
        }
    }
}

/// Reads the compact form front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
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
        let len = u32::from_be_bytes(self.take::<4>(field)?) as usize;
        let start = self.at;
        let slice = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(ContextError::Truncated { field, at: start })?;
        self.at = start + len;
        std::str::from_utf8(slice)
            .map(|text| Text(Cow::Borrowed(text)))
            .map_err(|_| ContextError::NotUtf8 { field })
    }
}

fn decode_compact(bytes: &[u8]) -> Result<StoredContext<'_>, ContextError> {
    let mut reader = Reader { bytes, at: 1 };
    let recorded_at = i64::from_be_bytes(reader.take::<8>("recorded_at")?);
    let id = reader.uuid("id")?;
    let correlation_id = reader.uuid("correlationid")?;
    let seconds = i64::from_be_bytes(reader.take::<8>("time")?);
    let nanos = u32::from_be_bytes(reader.take::<4>("time")?);
    let offset = i32::from_be_bytes(reader.take::<4>("time")?);
    let time = OffsetDateTime::from_unix_timestamp(seconds)?
        .replace_nanosecond(nanos)?
        .to_offset(time::UtcOffset::from_whole_seconds(offset)?);
    let [flags] = reader.take::<1>("flags")?;
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
    fn the_json_form_reads_a_row_written_before_the_column() {
        let metadata = Metadata::new("orders.Placed");
        let json = format!(
            r#"{{"recorded_at":7,"metadata":{}}}"#,
            serde_json::to_string(&metadata).expect("json")
        );
        let context = decode(json.as_bytes()).expect("decodes");
        assert_eq!(context.recorded_at, 7);
        assert_eq!(
            context.fields.into_metadata(&KnownTexts::default()),
            metadata
        );
    }

    #[test]
    fn damaged_contexts_are_errors_not_panics() {
        let bytes = encode(&Metadata::new("orders.Placed"), 1);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode(&[9]), Err(ContextError::UnknownFormat(9))));
        assert!(matches!(decode(b"{"), Err(ContextError::Json(_))));
        let mut bad_text = bytes.clone();
        let last = bad_text.len() - 1;
        bad_text[last] = 0xff;
        assert!(matches!(
            decode(&bad_text),
            Err(ContextError::NotUtf8 { .. })
        ));
    }
}
