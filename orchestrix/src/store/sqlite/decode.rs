//! Rows back into [`RecordedEvent`]s, straight from the JSON text.

use std::sync::Arc;

use sqlx::sqlite::{SqliteRow, SqliteValueRef};
use sqlx::{Decode, Row, Sqlite, TypeInfo as _, ValueRef as _};

use time::OffsetDateTime;

use super::time_from_nanos;
use crate::error::DecodeError;
use crate::evolution::RowEvents;
use crate::message::{AnyEnvelope, KnownTexts, Metadata, SharedStr};
use crate::registry::{EventRegistration, EventRegistry};
use crate::store::context::record::{self, LoadRecord, RowHead};
use crate::store::context::{self, Loaded};
use crate::store::{RawRecordedEvent, RecordedEvent, StoreError};

/// Decodes event rows, looking event types up in the global registry.
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

impl RowDecoder {
    /// A row of a stream load (columns: `statements::event_columns!`),
    /// pushed onto `out` (as the events its upcasters yield: usually one).
    pub(super) fn stream_row(
        &mut self,
        stream_id: &str,
        row: &SqliteRow,
        out: &mut Vec<RecordedEvent>,
    ) -> Result<(), StoreError> {
        let stream_id = self.shared_stream_id(stream_id);
        self.decode(stream_id, row, 0)?.0.push_into(out);
        Ok(())
    }

    /// A row of the global stream (`stream_id`, then the event columns),
    /// with its position.
    pub(super) fn global_row(&mut self, row: &SqliteRow) -> Result<(RowEvents, u64), StoreError> {
        let stream_id: &str = row
            .try_get(0)
            .map_err(|error| column_error("?", 0, error))?;
        let stream_id = self.shared_stream_id(stream_id);
        self.decode(stream_id, row, 1)
    }

    /// A row of the global stream, not decoded: its stored text as is.
    pub(super) fn raw_row(&mut self, row: &SqliteRow) -> Result<RawRecordedEvent, StoreError> {
        let stream_id: &str = row
            .try_get(0)
            .map_err(|error| column_error("?", 0, error))?;
        let stream_id = self.shared_stream_id(stream_id);
        let columns = (|| {
            Ok::<_, sqlx::Error>((
                row.try_get::<i64, _>(1)?,
                row.try_get::<i64, _>(2)?,
                row.try_get::<i64, _>(3)?,
                row.try_get::<String, _>(4)?,
                row.try_get::<i64, _>(5)?,
                row.try_get::<String, _>(6)?,
                row.try_get::<String, _>(7)?,
            ))
        })();
        let (version, position, recorded_at, event_type, schema_version, payload, metadata) =
            columns.map_err(|error| column_error(&stream_id, 0, error))?;
        Ok(RawRecordedEvent {
            stream_id,
            version: u64::try_from(version).unwrap_or(0),
            position: u64::try_from(position).unwrap_or(0),
            recorded_at: time_from_nanos(recorded_at),
            event_type,
            schema_version: u32::try_from(schema_version).unwrap_or(0),
            payload,
            metadata,
        })
    }

    fn shared_stream_id(&mut self, stream_id: &str) -> Arc<str> {
        match &self.last_stream {
            Some(last) if &**last == stream_id => Arc::clone(last),
            _ => Arc::clone(self.last_stream.insert(Arc::from(stream_id))),
        }
    }

    /// A row of a stream load by load record (`statements::LOAD_RECORDS`:
    /// payload, record), pushed onto `out`. `Ok(false)`, nothing pushed,
    /// when the row has no record or one that does not decode or is not
    /// the row `cursor` expects next: the caller reads on from
    /// `cursor.next_version` with the rows' own columns, which decode
    /// every older form and name a damaged row.
    pub(super) fn record_row(
        &mut self,
        stream_id: &str,
        row: &SqliteRow,
        cursor: &mut StreamCursor,
        out: &mut Vec<RecordedEvent>,
    ) -> Result<bool, StoreError> {
        let stream_id = self.shared_stream_id(stream_id);
        let Ok(bytes) = blob(row, 1, "load_record") else {
            return Ok(false);
        };
        // The texts a record usually repeats; the type of the row before
        // stands for this row's (it is compared, never trusted).
        let previous_type = self.last_type.map(|known| known.name);
        let texts = context::usual_texts(&KnownTexts {
            message_type: previous_type,
            stream_id: Some(&stream_id),
            last_source: None,
        });
        let Ok(LoadRecord { head, context }) = record::decode(bytes, &texts) else {
            return Ok(false);
        };
        if head.version != cursor.next_version || head.position <= cursor.last_position {
            return Ok(false);
        }
        let payload = text_bytes(row, 0, "payload")
            .map_err(|error| column_error(&stream_id, head.version, error))?;
        let events = self.decode_event(Arc::clone(&stream_id), head, payload, |known| {
            Ok(context::into_loaded(context, known))
        })?;
        events.push_into(out);
        cursor.next_version = head.version + 1;
        cursor.last_position = head.position;
        Ok(true)
    }

    /// A row of the older columns (`statements::event_columns!`, from
    /// `at`).
    fn decode(
        &mut self,
        stream_id: Arc<str>,
        row: &SqliteRow,
        at: usize,
    ) -> Result<(RowEvents, u64), StoreError> {
        let version =
            integer(row, at, "version").map_err(|error| column_error(&stream_id, 0, error))?;
        let version = u64::try_from(version).unwrap_or(0);
        let columns = (|| {
            Ok::<_, sqlx::Error>((
                // The rowid: SQLite keeps no other type in it.
                row.try_get_unchecked::<i64, _>(at + 1)?,
                text_bytes(row, at + 2, "event_type")?,
                integer(row, at + 3, "schema_version")?,
                text_bytes(row, at + 4, "payload")?,
                stored_context(row, at + 5, "context")?,
            ))
        })();
        let (position, event_type, schema_version, payload, stored) =
            columns.map_err(|error| column_error(&stream_id, version, error))?;
        // The stored name, checked as UTF-8 only when it is not the type
        // of the row before (whose name is known to be text).
        let event_type = match self
            .last_type
            .filter(|known| known.name.as_bytes() == event_type)
        {
            Some(known) => known.name,
            None => std::str::from_utf8(event_type).map_err(|error| {
                column_error(&stream_id, version, sqlx::Error::Decode(error.into()))
            })?,
        };
        let head = RowHead {
            version,
            position: u64::try_from(position).unwrap_or(0),
            schema_version: u32::try_from(schema_version).unwrap_or(0),
            event_type,
        };
        let loaded = stored.loaded(head);
        let events = self.decode_event(stream_id, head, payload, |known| {
            context::decode_loaded(loaded, event_type, known)
        })?;
        Ok((events, head.position))
    }

    /// The events of a row (`head` from its record or its columns): the
    /// payload decoded as its type (through the type's upcasters when
    /// older), the metadata and time from `context`.
    fn decode_event(
        &mut self,
        stream_id: Arc<str>,
        head: RowHead<'_>,
        payload: &[u8],
        context: impl FnOnce(&KnownTexts<'_>) -> Result<(Metadata, OffsetDateTime), DecodeError>,
    ) -> Result<RowEvents, StoreError> {
        let RowHead {
            version,
            position,
            schema_version,
            event_type,
        } = head;
        let fail = |source: DecodeError| StoreError::Decode {
            stream_id: stream_id.to_string(),
            version,
            position: Some(position),
            event_type: event_type.to_owned(),
            source,
        };
        let same_type = self.last_type.filter(|known| known.name == event_type);
        // One pass over the bytes at the current version; older versions go
        // through the type's upcasters.
        let messages = match same_type {
            Some(known) => known
                .decode_stored(event_type, schema_version, payload)
                .map_err(fail)?,
            None => {
                let registry = match self.registry {
                    Some(registry) => registry,
                    None => {
                        let registry =
                            EventRegistry::global().map_err(|error| fail(error.into()))?;
                        *self.registry.insert(registry)
                    }
                };
                let messages = registry
                    .decode_stored(event_type, schema_version, payload)
                    .map_err(fail)?;
                self.last_type = registry.get(event_type);
                messages
            }
        };
        // The context's texts borrowed from the row, then shared with what
        // this decoder holds (the registered name, the stream's id) where
        // they repeat it: no copy of them per row.
        let message_type = self
            .last_type
            .and_then(|known| known.static_name(event_type));
        let known = KnownTexts {
            message_type,
            stream_id: Some(&stream_id),
            last_source: self.last_source.as_ref(),
        };
        let (metadata, recorded_at) = context(&known).map_err(fail)?;
        context::remember_source(&mut self.last_source, &metadata.source);
        let metadata = Arc::new(metadata);
        Ok(RowEvents::build(messages, |message| RecordedEvent {
            stream_id: Arc::clone(&stream_id),
            version,
            position,
            recorded_at,
            envelope: AnyEnvelope::from_parts(message, Arc::clone(&metadata)),
        }))
    }
}

/// Where a stream load by record stands.
#[derive(Debug)]
pub(super) struct StreamCursor {
    /// The version the next row must have.
    pub(super) next_version: u64,
    /// The position of the last row loaded: the next one's is greater.
    pub(super) last_position: u64,
}

impl StreamCursor {
    /// A load from `from_version` (versions start at 1).
    pub(super) fn from_version(from_version: u64) -> Self {
        Self {
            next_version: from_version.max(1),
            last_position: 0,
        }
    }
}

/// The last column of `event_columns!`, as stored: a BLOB (a load record
/// or a compact context, told apart by the first byte) or a TEXT.
enum Stored<'row> {
    Blob(&'row [u8]),
    Text(&'row [u8]),
}

impl<'row> Stored<'row> {
    /// What the row stores, for `context::decode_loaded`, a BLOB told
    /// apart by its first byte: a load record, a compact context, or a
    /// damaged one of the two (the one value selected for both does not
    /// say which column it came from, and the error says so).
    fn loaded(self, row: RowHead<'row>) -> Loaded<'row> {
        match self {
            Stored::Blob(bytes) => match bytes.first() {
                Some(&record::LOAD_RECORD) => Loaded::Record { bytes, row },
                Some(&context::COMPACT) => Loaded::Context(bytes),
                _ => Loaded::Unknown(bytes),
            },
            Stored::Text(bytes) => Loaded::Columns(bytes),
        }
    }
}

/// A new load record for a row whose columns say `row`, at
/// `schema_version` under `event_type` (a rewrite to the current form):
/// its metadata and time from what the row stores (`stored`, the one
/// column of `coalesce(load_record, context, recorded_at || ' ' ||
/// metadata)`), checked as a load checks it. `None` when that does not
/// decode: the row is left to fail, named, when it is loaded.
pub(super) fn rebuilt_record(
    stored: &SqliteRow,
    row: RowHead<'_>,
    schema_version: u32,
    event_type: &str,
) -> Option<Vec<u8>> {
    let loaded = stored_context(stored, 0, "context").ok()?.loaded(row);
    let (metadata, recorded_at) =
        context::decode_loaded(loaded, row.event_type, &KnownTexts::default()).ok()?;
    let mut record = record::start(&metadata, schema_version, event_type);
    let started = record.len();
    record::stamp(&mut record, started, super::nanos(recorded_at));
    record::finish(
        &mut record,
        started,
        i64::try_from(row.version).ok()?,
        i64::try_from(row.position).ok()?,
    );
    Some(record)
}

/// The last column of `event_columns!`, told apart by its type: a load
/// record or compact context (a BLOB), or `"<recorded_at> <metadata
/// JSON>"` (TEXT) of a row without either.
fn stored_context<'row>(
    row: &'row SqliteRow,
    index: usize,
    name: &'static str,
) -> Result<Stored<'row>, sqlx::Error> {
    let value = row.try_get_raw(index)?;
    if value.type_info().name() == "TEXT" {
        return <&[u8] as Decode<'_, Sqlite>>::decode(value)
            .map(Stored::Text)
            .map_err(sqlx::Error::Decode);
    }
    blob_of(value, name, "BLOB or TEXT").map(Stored::Blob)
}

/// The bytes of the BLOB at `index`.
fn blob<'row>(
    row: &'row SqliteRow,
    index: usize,
    name: &'static str,
) -> Result<&'row [u8], sqlx::Error> {
    blob_of(row.try_get_raw(index)?, name, "BLOB")
}

/// The bytes of `value`, a BLOB (else an error saying the column held
/// another type than `expected`).
fn blob_of<'row>(
    value: SqliteValueRef<'row>,
    name: &'static str,
    expected: &str,
) -> Result<&'row [u8], sqlx::Error> {
    match value.type_info().name() {
        "BLOB" => <&[u8] as Decode<'_, Sqlite>>::decode(value).map_err(sqlx::Error::Decode),
        other => Err(mismatch(name, expected, other)),
    }
}

// One look at each value's type, then its bytes or integer straight from
// SQLite's copy: `Row::try_get` asks SQLite for the type twice and checks
// it against the Rust type's list of compatible types, per column of every
// row of a load. The checks below are the same (a value of another type is
// an error, never read as something else), in one look.

/// The INTEGER at `index`.
fn integer(row: &SqliteRow, index: usize, name: &'static str) -> Result<i64, sqlx::Error> {
    let value = row.try_get_raw(index)?;
    match value.type_info().name() {
        "INTEGER" => <i64 as Decode<'_, Sqlite>>::decode(value).map_err(sqlx::Error::Decode),
        other => Err(mismatch(name, "INTEGER", other)),
    }
}

/// The bytes of the TEXT at `index`, not checked as UTF-8: a payload's
/// JSON parser checks the text it reads (and fails with the row named).
fn text_bytes<'row>(
    row: &'row SqliteRow,
    index: usize,
    name: &'static str,
) -> Result<&'row [u8], sqlx::Error> {
    let value = row.try_get_raw(index)?;
    match value.type_info().name() {
        "TEXT" => <&[u8] as Decode<'_, Sqlite>>::decode(value).map_err(sqlx::Error::Decode),
        other => Err(mismatch(name, "TEXT", other)),
    }
}

/// A value of another type than `name`'s column holds, the column named
/// (its index differs between a load and a read of the global stream).
fn mismatch(name: &str, expected: &str, found: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: format!("expected {expected}, found {found}").into(),
    }
}

fn column_error(stream_id: &str, version: u64, error: sqlx::Error) -> StoreError {
    StoreError::Backend {
        operation: format!("read the stored event at stream `{stream_id}` version {version}"),
        source: Box::new(error),
    }
}
