//! How the in-memory stores keep one event: its message (shared, as it was
//! saved), where it sits, and its metadata in a compact form, built back
//! into a [`RecordedEvent`] when read.
//!
//! Most metadata repeats what the store already knows: the type is the
//! message's registered name, the content type is the default, the subject
//! is the stream's id, and the source is the default or one of the few
//! sources a store sees, kept once each in the store's [`Tables`]. The
//! compact form keeps only the ids, the time, the source's number and flags
//! for the rest; metadata that says anything else (a type other than the
//! message's name, a subject other than the stream, a schema, another
//! content type, or a source past the table's 65,535) is kept whole, shared
//! as it was saved. Either way a read gives back metadata equal to what was
//! saved.

use std::collections::HashMap;
use std::sync::Arc;

use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::limits;
use crate::message::{
    AnyEnvelope, AnyMessage, DEFAULT_SOURCE, JSON_CONTENT_TYPE, Metadata, SharedStr, SpecVersion,
};
use crate::store::{RecordedEvent, StoreError};

/// One kept event: 104 bytes beside its message (see the test
/// `a_kept_event_is_small`).
///
/// Metadata that is not compact is kept whole in the store's [`Tables`],
/// and the fields here are then unused.
#[derive(Debug)]
pub(super) struct Kept {
    message: Arc<dyn AnyMessage>,
    id: Uuid,
    correlation_id: Uuid,
    /// Meaningful when `flags` has [`CAUSATION`].
    causation_id: Uuid,
    time: OffsetDateTime,
    /// When the store accepted it, in UTC (the store's `SecondCache`, which
    /// reads as `limits::now`).
    recorded_at: PrimitiveDateTime,
    /// Its version in its stream.
    version: u32,
    /// Its stream's number (the index of its id in the store's ids).
    pub(super) stream: u32,
    /// Its source: 0 for [`DEFAULT_SOURCE`], else the number of a source
    /// in [`Tables`].
    source: u16,
    flags: u8,
}

/// What the kept events of one store share: the sources other than the
/// default one, each kept once, and the metadata kept whole.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// The sources other than the default one: source number `n` is at
    /// index `n - 1`.
    sources: Vec<SharedStr>,
    /// Each source's number.
    source_numbers: HashMap<SharedStr, u16>,
    /// The metadata of events kept whole (not compact), by log index.
    wholes: HashMap<usize, Arc<Metadata>>,
}

impl Tables {
    /// The number of `source`, given one if it is new; `None` once the
    /// table is full (the event's metadata is then kept whole).
    fn source_number(&mut self, source: &SharedStr) -> Option<u16> {
        if source.as_str() == DEFAULT_SOURCE {
            return Some(0);
        }
        if let Some(&number) = self.source_numbers.get(source.as_str()) {
            return Some(number);
        }
        let number = u16::try_from(self.sources.len() + 1).ok()?;
        self.sources.push(source.clone());
        self.source_numbers.insert(source.clone(), number);
        Some(number)
    }

    /// The source numbered `number`.
    fn source(&self, number: u16) -> Option<SharedStr> {
        match number {
            0 => Some(SharedStr::from_static(DEFAULT_SOURCE)),
            _ => self.sources.get(usize::from(number) - 1).cloned(),
        }
    }
}

/// The metadata names a cause.
const CAUSATION: u8 = 1;
/// The subject is the stream's id.
const SUBJECT_IS_STREAM: u8 = 2;
/// The content type is [`JSON_CONTENT_TYPE`].
const JSON: u8 = 4;
/// The metadata is not compact: it is kept whole, in [`Tables`].
const WHOLE: u8 = 8;

/// A part of an event that an in-memory store's own tables no longer hold.
/// It cannot happen (the tables only ever grow, and every event's parts
/// are added with it), but is an error, not a panic.
#[derive(Debug, thiserror::Error)]
pub(super) enum Lost {
    /// The log has no event at the position a stream lists.
    #[error("the in-memory store lost the event")]
    Event,
    /// The store has no id under the stream's number.
    #[error("the in-memory stream's id vanished")]
    StreamId,
    /// The event's metadata was kept whole, and is missing.
    #[error("the in-memory store lost the event's metadata")]
    Metadata,
    /// The event's source number names no source.
    #[error("the in-memory store lost the event's source")]
    Source,
}

impl Lost {
    /// The error for this loss, found while doing `operation`.
    pub(super) fn while_doing(self, operation: String) -> StoreError {
        StoreError::Backend {
            operation,
            source: Box::new(self),
        }
    }

    /// The error for this loss, found reading the event at global
    /// `position` of stream `stream_id`.
    pub(super) fn reading(self, stream_id: &str, position: u64) -> StoreError {
        self.while_doing(format!(
            "read stream `{}` at global position {position}",
            limits::shorten(stream_id)
        ))
    }
}

impl Kept {
    /// `envelope`, kept as event `version` of stream number `stream`, whose
    /// id is `stream_id`, at log index `index`, accepted at `recorded_at`
    /// (in UTC). A new source goes into `tables`, and so does the metadata
    /// when it is not compact.
    pub(super) fn new(
        envelope: &AnyEnvelope,
        stream_id: &str,
        stream: u32,
        version: u32,
        index: usize,
        recorded_at: PrimitiveDateTime,
        tables: &mut Tables,
    ) -> Self {
        let message = Arc::clone(envelope.message_arc());
        let metadata = envelope.metadata();
        let source = is_compact(metadata, message.message_name(), stream_id)
            .then(|| tables.source_number(&metadata.source))
            .flatten();
        let compact = source.is_some();
        if !compact {
            tables
                .wholes
                .insert(index, Arc::clone(envelope.metadata_arc()));
        }
        let flag = |set: bool, flag: u8| if set { flag } else { 0 };
        Self {
            message,
            id: metadata.id,
            correlation_id: metadata.correlation_id,
            causation_id: metadata.causation_id.unwrap_or_default(),
            time: metadata.time,
            recorded_at,
            version,
            stream,
            source: source.unwrap_or_default(),
            flags: flag(metadata.causation_id.is_some(), CAUSATION)
                | flag(metadata.subject.is_some(), SUBJECT_IS_STREAM)
                | flag(metadata.datacontenttype.is_some(), JSON)
                | flag(!compact, WHOLE),
        }
    }

    /// The event as it was saved, shared for a replay.
    pub(super) fn shared_message(&self) -> Arc<dyn AnyMessage> {
        Arc::clone(&self.message)
    }

    /// Its version in its stream.
    pub(super) fn version(&self) -> u64 {
        u64::from(self.version)
    }

    /// The event's registered name.
    pub(super) fn event_type(&self) -> &'static str {
        self.message.message_name()
    }

    /// The event as a store hands it out, at log index `index`, its
    /// stream's id being `stream_id`; `tables` holds the sources and the
    /// metadata kept whole.
    pub(super) fn recorded(
        &self,
        stream_id: &Arc<str>,
        index: usize,
        tables: &Tables,
    ) -> Result<RecordedEvent, StoreError> {
        let position = index as u64 + 1;
        let metadata = match self.has(WHOLE) {
            false => {
                let source = tables
                    .source(self.source)
                    .ok_or_else(|| Lost::Source.reading(stream_id, position))?;
                Arc::new(self.metadata(stream_id, source))
            }
            true => Arc::clone(
                tables
                    .wholes
                    .get(&index)
                    .ok_or_else(|| Lost::Metadata.reading(stream_id, position))?,
            ),
        };
        Ok(RecordedEvent {
            stream_id: Arc::clone(stream_id),
            version: u64::from(self.version),
            position,
            recorded_at: self.recorded_at.assume_utc(),
            envelope: AnyEnvelope::from_parts(Arc::clone(&self.message), metadata),
        })
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The compact metadata built back, its source being `source`.
    fn metadata(&self, stream_id: &Arc<str>, source: SharedStr) -> Metadata {
        Metadata {
            id: self.id,
            specversion: SpecVersion,
            message_type: SharedStr::from_static(self.message.message_name()),
            source,
            time: self.time,
            subject: self
                .has(SUBJECT_IS_STREAM)
                .then(|| SharedStr::from(stream_id)),
            datacontenttype: self
                .has(JSON)
                .then_some(SharedStr::from_static(JSON_CONTENT_TYPE)),
            dataschema: None,
            correlation_id: self.correlation_id,
            causation_id: self.has(CAUSATION).then_some(self.causation_id),
        }
    }
}

/// Whether `metadata` says nothing else than what the compact form builds
/// back, the source aside (kept by number): the type is the message's
/// name, the subject (if any) the stream's id, the content type (if any)
/// JSON, no schema.
fn is_compact(metadata: &Metadata, message_type: &str, stream_id: &str) -> bool {
    metadata.message_type.as_str() == message_type
        && metadata.dataschema.is_none()
        && metadata
            .subject
            .as_ref()
            .is_none_or(|subject| subject.as_str() == stream_id)
        && metadata
            .datacontenttype
            .as_ref()
            .is_none_or(|content_type| content_type.as_str() == JSON_CONTENT_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use crate::message::Envelope;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "kept.Noted")]
    struct Noted;

    fn now() -> PrimitiveDateTime {
        let now = crate::limits::now();
        PrimitiveDateTime::new(now.date(), now.time())
    }

    /// `metadata` kept at log index `index` beside what `tables` holds,
    /// read back, and whether it was compact.
    fn round_trip(metadata: Metadata, index: usize, tables: &mut Tables) -> (Metadata, bool) {
        // Built from its parts, so the type may differ from the message's
        // name (`Envelope::with_metadata` would set it).
        let envelope = AnyEnvelope::from_parts(Arc::new(Noted), Arc::new(metadata));
        let stream: Arc<str> = "order-7".into();
        let kept = Kept::new(&envelope, &stream, 0, 1, index, now(), tables);
        let compact = !tables.wholes.contains_key(&index);
        let recorded = kept.recorded(&stream, index, tables).expect("kept");
        (recorded.metadata().clone(), compact)
    }

    /// Whatever metadata is saved reads back equal, compact or kept whole.
    #[test]
    fn metadata_reads_back_equal_to_what_was_saved() {
        let cause = Metadata::new("PlaceOrder");
        let cases = [
            (Metadata::new("kept.Noted"), true),
            (Metadata::new("kept.Noted").with_subject("order-7"), true),
            (Metadata::new("kept.Noted").caused_by(&cause), true),
            (
                Metadata {
                    datacontenttype: None,
                    ..Metadata::new("kept.Noted")
                },
                true,
            ),
            (
                Metadata {
                    causation_id: Some(Uuid::nil()),
                    ..Metadata::new("kept.Noted")
                },
                true,
            ),
            (
                Metadata {
                    time: Metadata::new("kept.Noted")
                        .time
                        .to_offset(time::macros::offset!(+5:30)),
                    ..Metadata::new("kept.Noted")
                },
                true,
            ),
            (Metadata::new("kept.Noted").with_source("urn:other"), true),
            (Metadata::new("kept.Noted").with_source("urn:more"), true),
            (Metadata::new("kept.Noted").with_source("urn:other"), true),
            (Metadata::new("kept.Renamed"), false),
            (Metadata::new("kept.Noted").with_subject("order-8"), false),
            (Metadata::new("kept.Noted").with_dataschema("urn:s"), false),
            (
                Metadata {
                    datacontenttype: Some("text/plain".into()),
                    ..Metadata::new("kept.Noted")
                },
                false,
            ),
        ];
        let mut tables = Tables::default();
        for (index, (metadata, compact)) in cases.into_iter().enumerate() {
            let (back, was_compact) = round_trip(metadata.clone(), index, &mut tables);
            assert_eq!(back, metadata);
            assert_eq!(back.time.offset(), metadata.time.offset());
            assert_eq!(was_compact, compact, "{metadata:?}");
        }
        // Each source other than the default is kept once.
        assert_eq!(tables.sources, ["urn:other", "urn:more"]);
    }

    /// Events of one source share its one text; once the table holds as
    /// many sources as a number can name, an event of a new source is
    /// kept whole, and still reads back equal.
    #[test]
    fn sources_are_kept_once_and_a_full_table_keeps_metadata_whole() {
        let mut tables = Tables::default();
        let (first, _) = round_trip(
            Metadata::new("kept.Noted").with_source("urn:shared"),
            0,
            &mut tables,
        );
        let (second, _) = round_trip(
            Metadata::new("kept.Noted").with_source("urn:shared"),
            1,
            &mut tables,
        );
        assert!(std::ptr::eq(first.source.as_str(), second.source.as_str()));

        for number in tables.sources.len() + 1..=usize::from(u16::MAX) {
            let source = SharedStr::from(format!("urn:source:{number}"));
            assert_eq!(tables.source_number(&source), u16::try_from(number).ok());
        }
        let (back, compact) = round_trip(
            Metadata::new("kept.Noted").with_source("urn:one-too-many"),
            2,
            &mut tables,
        );
        assert!(!compact, "kept whole");
        assert_eq!(back.source, "urn:one-too-many");
        assert_eq!(tables.sources.len(), usize::from(u16::MAX));
        // Known sources stay compact.
        let (back, compact) = round_trip(
            Metadata::new("kept.Noted").with_source("urn:shared"),
            3,
            &mut tables,
        );
        assert!(compact);
        assert_eq!(back.source, "urn:shared");
    }

    /// A broken table is a typed error naming the stream and position, not
    /// a panic or a silently dropped event.
    #[test]
    fn a_lost_part_is_an_error_naming_the_event() {
        let mut tables = Tables::default();
        let stream: Arc<str> = "order-7".into();
        let whole: AnyEnvelope =
            Envelope::with_metadata(Noted, Metadata::new("kept.Noted").with_dataschema("urn:s"))
                .into();
        let kept = Kept::new(&whole, &stream, 0, 1, 4, now(), &mut tables);
        let error = kept
            .recorded(&stream, 4, &Tables::default())
            .expect_err("its metadata is missing");
        let text = error.to_string();
        assert!(
            text.contains("order-7") && text.contains("position 5"),
            "{text}"
        );

        let sourced: AnyEnvelope =
            Envelope::with_metadata(Noted, Metadata::new("kept.Noted").with_source("urn:x")).into();
        let kept = Kept::new(&sourced, &stream, 0, 1, 5, now(), &mut tables);
        assert!(kept.recorded(&stream, 5, &tables).is_ok());
        assert!(kept.recorded(&stream, 5, &Tables::default()).is_err());
    }

    /// A compact event shares the stream's id as its subject, and its
    /// static texts stay static.
    #[test]
    fn built_metadata_allocates_no_text() {
        let envelope: AnyEnvelope =
            Envelope::with_metadata(Noted, Metadata::new("kept.Noted").with_subject("order-7"))
                .into();
        let stream: Arc<str> = "order-7".into();
        let mut tables = Tables::default();
        let kept = Kept::new(&envelope, &stream, 0, 1, 0, now(), &mut tables);
        assert!(tables.wholes.is_empty());
        let recorded = kept.recorded(&stream, 0, &tables).expect("kept");
        assert_eq!((recorded.version, recorded.position), (1, 1));
        let metadata = recorded.metadata();
        assert!(metadata.message_type.is_static());
        assert!(metadata.source.is_static());
        let subject = metadata.subject.as_ref().expect("a subject");
        assert!(std::ptr::eq(subject.as_str(), &*stream));
        assert!(Arc::ptr_eq(
            recorded.envelope.message_arc(),
            envelope.message_arc()
        ));
    }

    /// What one event costs the store besides its message: the memory
    /// figure of the README depends on it.
    #[test]
    fn a_kept_event_is_small() {
        assert!(
            std::mem::size_of::<Kept>() <= 104,
            "{}",
            std::mem::size_of::<Kept>()
        );
    }
}
