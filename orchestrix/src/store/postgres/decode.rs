//! Rows back into [`RecordedEvent`]s (or, undecoded, [`RawRecordedEvent`]s).
//!
//! The payload is read as the JSON text the server sends for `jsonb` and
//! decoded straight into the event type; the CloudEvents context and the
//! time the store accepted the event come from one column, the compact
//! `context` (migration 0003), decoded by the code SQLite's loads use
//! (`store::context`). A row stored without one (written before it, or by
//! a program that predates it) gets one built by the server from its other
//! columns in that column instead (`statements::EVENT_COLUMNS`): the
//! compact form for a version-2 row, a marked text for a version-1 row or
//! for a version-2 row whose columns make no context ([`Selected`]). A raw read
//! gives the metadata as JSON from what the row has: its `metadata` JSON
//! (schema version 1), its typed columns (versions 2 and 3, which wrote
//! them), or else its context (version 4 on, whose appends write only the
//! context).

use std::sync::Arc;

use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Row, ValueRef};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::DecodeError;
use crate::evolution::{RowEvents, Upcasted};
use crate::message::{AnyEnvelope, AnyMessage, KnownTexts, Metadata, SharedStr, SpecVersion};
use crate::registry::{EventRegistration, EventRegistry};
use crate::store::context::{self, Loaded};
use crate::store::postgres::statements;
use crate::store::{RawRecordedEvent, RecordedEvent, StoreError};

/// Decodes event rows (columns: `statements::EVENT_COLUMNS`, or
/// `statements::RAW_COLUMNS` for a raw read, after `stream_id` when
/// reading the global stream), looking event types up in the global
/// registry.
#[derive(Debug, Default)]
pub(super) struct RowDecoder {
    registry: Option<&'static EventRegistry>,
    /// The registration of the last event type decoded: rows of one type
    /// usually come together, and this skips the registry's lock and map.
    last_type: Option<EventRegistration>,
    /// The id of the last stream seen: consecutive rows of one stream share
    /// one allocation of it.
    last_stream: Option<Arc<str>>,
    /// The last source that is not the default one: rows from one
    /// producer share one allocation of it.
    last_source: Option<SharedStr>,
}

/// One row of a decoded read (`statements::EVENT_COLUMNS`), borrowed from
/// the row.
struct EventRow<'r> {
    stream_id: Arc<str>,
    version: u64,
    position: u64,
    event_type: &'r str,
    schema_version: u32,
    /// The JSON text's bytes, not checked as UTF-8 here: the JSON parser
    /// checks the strings it reads.
    payload: &'r [u8],
    context: Selected<'r>,
}

/// One row of a replay (`statements::REPLAY_COLUMNS`), borrowed from the
/// row: [`EventRow`] without the context and the global position.
struct ReplayRow<'r> {
    version: u64,
    event_type: &'r str,
    schema_version: u32,
    /// The JSON text's bytes (see [`EventRow::payload`]).
    payload: &'r [u8],
}

/// What a load selected in the context's place (see
/// `statements::EVENT_COLUMNS`), told apart by its first bytes.
#[derive(Clone, Copy, Debug)]
enum Selected<'r> {
    /// A context (stored, or built from a version-2 row's typed columns),
    /// or `"<recorded_at> <metadata JSON>"` of a version-1 row.
    Loaded(Loaded<'r>),
    /// `"<recorded_at> <column> <why>"` of a version-2 row whose typed
    /// columns make no context.
    Unbuildable(&'r [u8]),
}

impl<'r> Selected<'r> {
    fn from_bytes(bytes: &'r [u8]) -> Self {
        if let Some(text) = bytes.strip_prefix(statements::JSON_MARKER) {
            Self::Loaded(Loaded::Columns(text))
        } else if let Some(text) = bytes.strip_prefix(statements::UNBUILDABLE_MARKER) {
            Self::Unbuildable(text)
        } else {
            Self::Loaded(Loaded::Context(bytes))
        }
    }
}

/// The error of a version-2 row whose typed columns make no context:
/// `text` is `"<recorded_at in ns> <column> <why>"`. A `recorded_at` that
/// is not nanoseconds in an `i64` is named first, as for a version-1 row.
fn unbuildable(text: &[u8], event_type: &str) -> DecodeError {
    let text = String::from_utf8_lossy(text);
    let (recorded_at, why) = text.split_once(' ').unwrap_or((&text, ""));
    let (column, source): (&'static str, Box<dyn std::error::Error + Send + Sync>) =
        match recorded_at.parse::<i64>() {
            Err(error) => ("recorded_at", Box::new(error)),
            Ok(_) => {
                let column = match why.split_once(' ').map_or(why, |(first, _)| first) {
                    "source" => "source",
                    "occurred_at" => "occurred_at",
                    "recorded_at" => "recorded_at",
                    _ => "typed metadata",
                };
                let why = format!("the typed metadata columns make no context: {why}");
                (column, why.into())
            }
        };
    DecodeError::Context {
        event_type: event_type.to_owned(),
        column,
        source,
    }
}

/// One row of a raw read (`statements::RAW_COLUMNS`), borrowed from the
/// row.
struct Columns<'r> {
    stream_id: Arc<str>,
    version: u64,
    position: u64,
    recorded_at: OffsetDateTime,
    event_type: &'r str,
    schema_version: u32,
    payload: &'r str,
    /// The whole context as JSON (rows of schema version 1 only).
    metadata: Option<&'r str>,
    /// The typed columns (rows of schema versions 2 and 3 only).
    event_id: Option<Uuid>,
    source: Option<&'r str>,
    occurred_at: Option<OffsetDateTime>,
    subject: Option<&'r str>,
    datacontenttype: Option<&'r str>,
    dataschema: Option<&'r str>,
    message_type: Option<&'r str>,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    /// The compact context (rows of schema version 3 on).
    context: Option<&'r [u8]>,
}

impl RowDecoder {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A row of a stream load, pushed onto `out` (as the events its
    /// upcasters yield: usually one).
    pub(super) fn stream_row(
        &mut self,
        stream_id: &str,
        row: &PgRow,
        out: &mut Vec<RecordedEvent>,
    ) -> Result<(), StoreError> {
        let stream_id = self.shared_stream_id(stream_id);
        let columns = EventRow::read(stream_id, row, 0, self.last_type_name())?;
        self.decode(&columns)?.push_into(out);
        Ok(())
    }

    /// A row of the global stream, with its position.
    pub(super) fn global_row(&mut self, row: &PgRow) -> Result<(RowEvents, u64), StoreError> {
        let stream_id = self.global_stream_id(row)?;
        let columns = EventRow::read(stream_id, row, 1, self.last_type_name())?;
        Ok((self.decode(&columns)?, columns.position))
    }

    /// A row of the global stream, not decoded.
    pub(super) fn raw_row(&mut self, row: &PgRow) -> Result<RawRecordedEvent, StoreError> {
        let stream_id = self.global_stream_id(row)?;
        let columns = Columns::read(stream_id, row, 1)?;
        let metadata = self.raw_metadata(&columns)?;
        Ok(RawRecordedEvent {
            stream_id: columns.stream_id.clone(),
            version: columns.version,
            position: columns.position,
            recorded_at: columns.recorded_at,
            event_type: columns.event_type.to_owned(),
            schema_version: columns.schema_version,
            payload: columns.payload.to_owned(),
            metadata,
        })
    }

    fn global_stream_id(&mut self, row: &PgRow) -> Result<Arc<str>, StoreError> {
        let stream_id: &str = row
            .try_get(0)
            .map_err(|error| column_error("?", 0, error))?;
        Ok(self.shared_stream_id(stream_id))
    }

    /// The name of the last event type decoded, which the next row most
    /// likely has too.
    fn last_type_name(&self) -> Option<&'static str> {
        self.last_type.map(|known| known.name)
    }

    fn shared_stream_id(&mut self, stream_id: &str) -> Arc<str> {
        match &self.last_stream {
            Some(last) if &**last == stream_id => Arc::clone(last),
            _ => Arc::clone(self.last_stream.insert(Arc::from(stream_id))),
        }
    }

    /// The current events a payload stored as `event_type` at
    /// `schema_version` decodes into. At the current version this is one
    /// pass over the bytes into the Rust type; older versions go through
    /// the type's upcasters.
    fn messages(
        &mut self,
        event_type: &str,
        schema_version: u32,
        payload: &[u8],
    ) -> Result<Upcasted, DecodeError> {
        match self.last_type {
            Some(known) if known.name == event_type => {
                known.decode_stored(event_type, schema_version, payload)
            }
            _ => {
                let registry = match self.registry {
                    Some(registry) => registry,
                    None => *self.registry.insert(EventRegistry::global()?),
                };
                let messages = registry.decode_stored(event_type, schema_version, payload)?;
                self.last_type = registry.get(event_type);
                Ok(messages)
            }
        }
    }

    /// A row of a replay (`statements::REPLAY_COLUMNS`): its message(s),
    /// pushed onto `out` with the row's version. Neither the context nor
    /// the time the store accepted the event is read: a replay needs
    /// neither. A payload that does not decode is the
    /// [`StoreError::Decode`] a load gives, naming the stream, version and
    /// type, but with no `position`: the replay's columns leave it out,
    /// and the caller fetches it for the failing row
    /// (`statements::replay_position`).
    pub(super) fn replay_row(
        &mut self,
        stream_id: &str,
        row: &PgRow,
        out: &mut Vec<(u64, Arc<dyn AnyMessage>)>,
    ) -> Result<(), StoreError> {
        let columns = ReplayRow::read(stream_id, row, self.last_type_name())?;
        let messages = self
            .messages(columns.event_type, columns.schema_version, columns.payload)
            .map_err(|source| StoreError::Decode {
                stream_id: stream_id.to_owned(),
                version: columns.version,
                position: None,
                event_type: columns.event_type.to_owned(),
                source,
            })?;
        messages.for_each(|message| out.push((columns.version, message)));
        Ok(())
    }

    fn decode(&mut self, columns: &EventRow<'_>) -> Result<RowEvents, StoreError> {
        let fail = |source: DecodeError| StoreError::Decode {
            stream_id: columns.stream_id.to_string(),
            version: columns.version,
            position: Some(columns.position),
            event_type: columns.event_type.to_owned(),
            source,
        };
        let messages = self
            .messages(columns.event_type, columns.schema_version, columns.payload)
            .map_err(fail)?;
        // The context's texts borrowed from the row, then shared with what
        // this decoder holds (the registered name, the stream's id) where
        // they repeat it: no copy of them per row.
        let known = KnownTexts {
            message_type: self
                .last_type
                .and_then(|known| known.static_name(columns.event_type)),
            stream_id: Some(&columns.stream_id),
            last_source: self.last_source.as_ref(),
        };
        let (metadata, recorded_at) = match columns.context {
            Selected::Loaded(loaded) => {
                context::decode_loaded(loaded, columns.event_type, &known).map_err(fail)?
            }
            Selected::Unbuildable(text) => return Err(fail(unbuildable(text, columns.event_type))),
        };
        context::remember_source(&mut self.last_source, &metadata.source);
        let metadata = Arc::new(metadata);
        Ok(RowEvents::build(messages, |message| RecordedEvent {
            stream_id: Arc::clone(&columns.stream_id),
            version: columns.version,
            position: columns.position,
            recorded_at,
            envelope: AnyEnvelope::from_parts(message, Arc::clone(&metadata)),
        }))
    }
}

impl RowDecoder {
    /// The texts this decoder holds that `columns`' context may repeat: the
    /// registered name (or alias) the row is stored under, and its
    /// stream's id.
    fn known_texts<'k>(&self, columns: &'k Columns<'_>) -> KnownTexts<'k> {
        KnownTexts {
            message_type: self
                .last_type
                .and_then(|known| known.static_name(columns.event_type)),
            stream_id: Some(&columns.stream_id),
            last_source: None,
        }
    }

    /// A raw read's metadata as JSON: the row's `metadata` JSON (schema
    /// version 1) as it is, else its typed columns (versions 2 and 3),
    /// else its context (version 4 on).
    ///
    /// Total, as raw reads promise (a reader gets past a poison event
    /// with them): a context that does not decode gives the JSON object
    /// [`undecodable_context`] describes instead of an error.
    fn raw_metadata(&mut self, columns: &Columns<'_>) -> Result<String, StoreError> {
        if let Some(json) = columns.metadata {
            return Ok(json.to_owned());
        }
        let serialized = match (self.typed_metadata(columns), columns.context) {
            (Some(metadata), _) => serde_json::to_string(&metadata),
            (None, Some(context)) => match self.context_metadata(columns, context) {
                Ok(metadata) => serde_json::to_string(&metadata),
                Err(error) => serde_json::to_string(&undecodable_context(context, &error)),
            },
            (None, None) => {
                return Err(StoreError::Backend {
                    operation: columns.describe(),
                    source: "the row has neither JSON metadata, nor its typed metadata columns, \
                             nor a context"
                        .into(),
                });
            }
        };
        serialized.map_err(|source| StoreError::Backend {
            operation: columns.describe(),
            source: Box::new(source),
        })
    }

    /// The metadata of a row's stored context (rows of schema version 3
    /// on), for a raw read.
    fn context_metadata(
        &mut self,
        columns: &Columns<'_>,
        context: &[u8],
    ) -> Result<Metadata, DecodeError> {
        let known = self.known_texts(columns);
        let (metadata, _) =
            context::decode_loaded(Loaded::Context(context), columns.event_type, &known)?;
        Ok(metadata)
    }

    /// The metadata from the typed columns (rows of schema versions 2 and
    /// 3), for a raw read; `None` for a row without them (the condition
    /// under which `statements::RAW_COLUMNS` sends the context instead).
    ///
    /// Texts the context repeats (the type, the default source and
    /// content type, the stream's id as subject, the last source) are
    /// shared, not copied.
    fn typed_metadata(&mut self, columns: &Columns<'_>) -> Option<Metadata> {
        let (Some(id), Some(correlation_id), Some(source), Some(time)) = (
            columns.event_id,
            columns.correlation_id,
            columns.source,
            columns.occurred_at,
        ) else {
            return None;
        };
        let known = self.known_texts(columns);
        let message_type = known.share(columns.message_type.unwrap_or(columns.event_type));
        let subject = columns.subject.map(|subject| known.share(subject));
        let source = match &self.last_source {
            Some(last) if last == source => last.clone(),
            _ => {
                let source = SharedStr::from(source);
                if !source.is_static() {
                    self.last_source = Some(source.clone());
                }
                source
            }
        };
        Some(Metadata {
            id,
            specversion: SpecVersion,
            message_type,
            source,
            time,
            subject,
            datacontenttype: columns.datacontenttype.map(SharedStr::from),
            dataschema: columns.dataschema.map(SharedStr::from),
            correlation_id,
            causation_id: columns.causation_id,
        })
    }
}

/// A raw read's metadata for a row whose only metadata is a context that
/// does not decode: `{"undecodable_context": "<the stored bytes in hex>",
/// "error": "<why they do not decode>"}` (documented on
/// [`RawRecordedEvent::metadata`]), so the row is still read, e.g. to park
/// it.
fn undecodable_context(context: &[u8], error: &DecodeError) -> serde_json::Value {
    let hex = context
        .iter()
        .fold(String::with_capacity(context.len() * 2), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    serde_json::json!({
        "undecodable_context": hex,
        "error": error.to_string(),
    })
}

impl<'r> EventRow<'r> {
    /// The row's columns, each decoded as [`Columns::read`] does; an event
    /// type equal to `last_type` (compared byte for byte) is that text,
    /// with no UTF-8 check of its own.
    fn read(
        stream_id: Arc<str>,
        row: &'r PgRow,
        at: usize,
        last_type: Option<&'static str>,
    ) -> Result<Self, StoreError> {
        let version = big_endian(row, at, i64::from_be_bytes)
            .map_err(|error| column_error(&stream_id, 0, error))?;
        let version = u64::try_from(version).unwrap_or(0);
        let read = || -> Result<Self, sqlx::Error> {
            Ok(Self {
                stream_id: Arc::clone(&stream_id),
                version,
                position: u64::try_from(big_endian(row, at + 1, i64::from_be_bytes)?).unwrap_or(0),
                event_type: known_text(row, at + 2, last_type)?,
                schema_version: u32::try_from(big_endian(row, at + 3, i32::from_be_bytes)?)
                    .unwrap_or(0),
                payload: json_bytes(row, at + 4)?.unwrap_or(b"null"),
                context: Selected::from_bytes(binary_bytes(row, at + 5)?),
            })
        };
        read().map_err(|error| column_error(&stream_id, version, error))
    }
}

impl<'r> ReplayRow<'r> {
    /// The row's columns, read as [`EventRow::read`] reads them.
    fn read(
        stream_id: &str,
        row: &'r PgRow,
        last_type: Option<&'static str>,
    ) -> Result<Self, StoreError> {
        let version = big_endian(row, 0, i64::from_be_bytes)
            .map_err(|error| column_error(stream_id, 0, error))?;
        let version = u64::try_from(version).unwrap_or(0);
        let read = || -> Result<Self, sqlx::Error> {
            Ok(Self {
                version,
                event_type: known_text(row, 1, last_type)?,
                schema_version: u32::try_from(big_endian(row, 2, i32::from_be_bytes)?).unwrap_or(0),
                payload: json_bytes(row, 3)?.unwrap_or(b"null"),
            })
        };
        read().map_err(|error| column_error(stream_id, version, error))
    }
}

impl<'r> Columns<'r> {
    /// The row's columns. Their types are the store's own schema's, so
    /// each is decoded without sqlx's per-value compatibility check (a
    /// type lookup and comparison per column, a fifth of a stream load's
    /// client time); a value of another type still fails to decode, as
    /// an error, never as a wrong value.
    fn read(stream_id: Arc<str>, row: &'r PgRow, at: usize) -> Result<Self, StoreError> {
        let version: i64 = column(row, at).map_err(|error| column_error(&stream_id, 0, error))?;
        let version = u64::try_from(version).unwrap_or(0);
        let read = || -> Result<Self, sqlx::Error> {
            Ok(Self {
                stream_id: Arc::clone(&stream_id),
                version,
                position: u64::try_from(column::<i64>(row, at + 1)?).unwrap_or(0),
                recorded_at: column(row, at + 2)?,
                event_type: column(row, at + 3)?,
                schema_version: u32::try_from(column::<i32>(row, at + 4)?).unwrap_or(0),
                payload: json_text(row, at + 5)?.unwrap_or("null"),
                metadata: json_text(row, at + 6)?,
                event_id: nullable(row, at + 7)?,
                source: nullable(row, at + 8)?,
                occurred_at: nullable(row, at + 9)?,
                subject: nullable(row, at + 10)?,
                datacontenttype: nullable(row, at + 11)?,
                dataschema: nullable(row, at + 12)?,
                message_type: nullable(row, at + 13)?,
                correlation_id: nullable(row, at + 14)?,
                causation_id: nullable(row, at + 15)?,
                context: nullable(row, at + 16)?,
            })
        };
        read().map_err(|error| column_error(&stream_id, version, error))
    }

    fn describe(&self) -> String {
        format!(
            "read the stored event at stream `{}` version {}",
            self.stream_id, self.version
        )
    }
}

/// A non-null column of the store's schema (see [`Columns::read`]).
fn column<'r, T: sqlx::Decode<'r, sqlx::Postgres>>(
    row: &'r PgRow,
    index: usize,
) -> Result<T, sqlx::Error> {
    row.try_get_unchecked(index)
}

/// A non-null integer column of the store's schema (`bigint`, `integer`)
/// read from its bytes: in the binary format, which sqlx asks for every
/// column of a prepared statement's result, exactly `N` big-endian bytes.
/// Anything else (the text format, another width) goes through sqlx's
/// decode, which reads it or fails as it always did: only the common case
/// skips its format and width dispatch, on every row of a load.
fn big_endian<'r, T, const N: usize>(
    row: &'r PgRow,
    index: usize,
    from_bytes: fn([u8; N]) -> T,
) -> Result<T, sqlx::Error>
where
    T: sqlx::Decode<'r, sqlx::Postgres>,
{
    let value = row.try_get_raw(index)?;
    if value.format() == PgValueFormat::Binary
        && let Ok(bytes) = value.as_bytes()
        && let Ok(bytes) = <[u8; N]>::try_from(bytes)
    {
        return Ok(from_bytes(bytes));
    }
    column(row, index)
}

/// A non-null `bytea` column of the store's schema, borrowed from the row:
/// its bytes as sent in the binary format; anything else through sqlx's
/// decode (as [`big_endian`]).
fn binary_bytes(row: &PgRow, index: usize) -> Result<&[u8], sqlx::Error> {
    let value = row.try_get_raw(index)?;
    if value.format() == PgValueFormat::Binary
        && let Ok(bytes) = value.as_bytes()
    {
        return Ok(bytes);
    }
    column(row, index)
}

/// A column that is usually NULL: NULL is seen before anything is
/// decoded.
fn nullable<'r, T: sqlx::Decode<'r, sqlx::Postgres>>(
    row: &'r PgRow,
    index: usize,
) -> Result<Option<T>, sqlx::Error> {
    if row.try_get_raw(index)?.is_null() {
        return Ok(None);
    }
    row.try_get_unchecked(index).map(Some)
}

/// A non-null text column of the store's schema that usually equals
/// `known`: compared byte for byte first, checked as UTF-8 only when it
/// differs.
fn known_text<'r>(
    row: &'r PgRow,
    index: usize,
    known: Option<&'static str>,
) -> Result<&'r str, sqlx::Error> {
    let value = row.try_get_raw(index)?;
    if let (Some(known), Ok(bytes)) = (known, value.as_bytes())
        && bytes == known.as_bytes()
    {
        return Ok(known);
    }
    row.try_get_unchecked(index)
}

/// The JSON text's bytes of a `json`/`jsonb` column, borrowed from the row
/// (in the binary format, `jsonb` is a version byte, 1, and the text), not
/// checked as UTF-8.
fn json_bytes(row: &PgRow, index: usize) -> Result<Option<&[u8]>, sqlx::Error> {
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Ok(None);
    }
    let format = value.format();
    let bytes = value
        .as_bytes()
        .map_err(|source| malformed(index, source))?;
    Ok(Some(match (format, bytes.split_first()) {
        // JSON text never starts with the control character 1.
        (PgValueFormat::Binary, Some((1, text))) => text,
        _ => bytes,
    }))
}

/// The JSON text of a `json`/`jsonb` column, borrowed from the row.
fn json_text(row: &PgRow, index: usize) -> Result<Option<&str>, sqlx::Error> {
    json_bytes(row, index)?
        .map(std::str::from_utf8)
        .transpose()
        .map_err(|error| malformed(index, Box::new(error)))
}

fn malformed(index: usize, source: Box<dyn std::error::Error + Send + Sync>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source,
    }
}

fn column_error(stream_id: &str, version: u64, error: sqlx::Error) -> StoreError {
    StoreError::Backend {
        operation: format!("read the stored event at stream `{stream_id}` version {version}"),
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Metadata;

    #[test]
    fn one_bytes_column_holds_every_form_told_apart_by_its_marker() {
        let bytes = context::encode(&Metadata::new("orders.Placed"), 7);
        assert!(matches!(
            Selected::from_bytes(&bytes),
            Selected::Loaded(Loaded::Context(_))
        ));
        // Damaged contexts, printable or not, stay contexts.
        for damaged in [&b""[..], b"\0", b"\x09\x01", b"\x7f", b"1764 {}", b"\0jso"] {
            assert!(
                matches!(
                    Selected::from_bytes(damaged),
                    Selected::Loaded(Loaded::Context(_))
                ),
                "{damaged:?}"
            );
        }
        assert!(matches!(
            Selected::from_bytes(b"\0json 1764 {}"),
            Selected::Loaded(Loaded::Columns(b"1764 {}"))
        ));
        assert!(matches!(
            Selected::from_bytes(b"\0typed 1 source is NULL"),
            Selected::Unbuildable(b"1 source is NULL")
        ));
    }

    #[test]
    fn an_unbuildable_row_names_its_column() {
        let column = |text: &[u8]| match unbuildable(text, "orders.Placed") {
            DecodeError::Context { column, .. } => column,
            other => panic!("expected a damaged column, got {other:?}"),
        };
        assert_eq!(column(b"Infinity source is NULL"), "recorded_at");
        assert_eq!(column(b"1 source is NULL"), "source");
        assert_eq!(
            column(b"1 occurred_at infinity is out of range"),
            "occurred_at"
        );
        assert_eq!(
            column(b"1 recorded_at 3000-01-01 is out of range"),
            "recorded_at"
        );
        assert_eq!(column(b"1"), "typed metadata");
    }
}
