//! How the in-memory stores keep one event: its message (shared, as it was
//! saved), where it sits, and its metadata in a compact form, built back
//! into a [`RecordedEvent`] when read.
//!
//! Most metadata repeats what the store already knows: the type is the
//! message's registered name, the source and content type are the
//! defaults, the subject is the stream's id. The compact form keeps only
//! the ids and the time, and flags for the rest; metadata that says
//! anything else (another source, a schema, a subject other than the
//! stream) is kept whole, shared as it was saved. Either way a read gives
//! back metadata equal to what was saved.

use std::collections::HashMap;
use std::sync::Arc;

use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::message::{
    AnyEnvelope, AnyMessage, DEFAULT_SOURCE, JSON_CONTENT_TYPE, Metadata, SharedStr, SpecVersion,
};
use crate::store::RecordedEvent;

/// One kept event: 104 bytes beside its message (see the test
/// `a_kept_event_is_small`).
///
/// Metadata that is not compact is kept whole in the store's side table
/// (`Wholes`), and the fields here are then unused.
#[derive(Debug)]
pub(super) struct Kept {
    message: Arc<dyn AnyMessage>,
    id: Uuid,
    correlation_id: Uuid,
    /// Meaningful when `flags` has [`CAUSATION`].
    causation_id: Uuid,
    time: OffsetDateTime,
    /// When the store accepted it, in UTC (as `limits::now` gives it).
    recorded_at: PrimitiveDateTime,
    /// Its version in its stream.
    version: u32,
    /// Its stream's number (the index of its id in the store's ids).
    pub(super) stream: u32,
    flags: u8,
}

/// The metadata of events kept whole (not compact), by log index.
pub(super) type Wholes = HashMap<usize, Arc<Metadata>>;

/// The metadata names a cause.
const CAUSATION: u8 = 1;
/// The subject is the stream's id.
const SUBJECT_IS_STREAM: u8 = 2;
/// The content type is [`JSON_CONTENT_TYPE`].
const JSON: u8 = 4;
/// The metadata is not compact: it is kept whole, in [`Wholes`].
const WHOLE: u8 = 8;

impl Kept {
    /// `envelope`, kept as event `version` of stream number `stream`, whose
    /// id is `stream_id`, accepted at `recorded_at` (in UTC). Its metadata
    /// is compact, or else the second value, to keep whole.
    pub(super) fn new(
        envelope: &AnyEnvelope,
        stream_id: &str,
        stream: u32,
        version: u32,
        recorded_at: PrimitiveDateTime,
    ) -> (Self, Option<Arc<Metadata>>) {
        let message = Arc::clone(envelope.message_arc());
        let metadata = envelope.metadata();
        let compact = is_compact(metadata, message.message_name(), stream_id);
        let flag = |set: bool, flag: u8| if set { flag } else { 0 };
        let kept = Self {
            message,
            id: metadata.id,
            correlation_id: metadata.correlation_id,
            causation_id: metadata.causation_id.unwrap_or_default(),
            time: metadata.time,
            recorded_at,
            version,
            stream,
            flags: flag(metadata.causation_id.is_some(), CAUSATION)
                | flag(metadata.subject.is_some(), SUBJECT_IS_STREAM)
                | flag(metadata.datacontenttype.is_some(), JSON)
                | flag(!compact, WHOLE),
        };
        let whole = (!compact).then(|| Arc::clone(envelope.metadata_arc()));
        (kept, whole)
    }

    /// The event's registered name.
    pub(super) fn event_type(&self) -> &'static str {
        self.message.message_name()
    }

    /// The event as a store hands it out, at log index `index`, its
    /// stream's id being `stream_id`; `wholes` holds the metadata kept
    /// whole.
    pub(super) fn recorded(
        &self,
        stream_id: &Arc<str>,
        index: usize,
        wholes: &Wholes,
    ) -> Option<RecordedEvent> {
        let metadata = match self.has(WHOLE) {
            false => Arc::new(self.metadata(stream_id)),
            true => Arc::clone(wholes.get(&index)?),
        };
        Some(RecordedEvent {
            stream_id: Arc::clone(stream_id),
            version: u64::from(self.version),
            position: index as u64 + 1,
            recorded_at: self.recorded_at.assume_utc(),
            envelope: AnyEnvelope::from_parts(Arc::clone(&self.message), metadata),
        })
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The compact metadata built back.
    fn metadata(&self, stream_id: &Arc<str>) -> Metadata {
        Metadata {
            id: self.id,
            specversion: SpecVersion,
            message_type: SharedStr::from_static(self.message.message_name()),
            source: SharedStr::from_static(DEFAULT_SOURCE),
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
/// back: the type is the message's name, the source the default one, the
/// subject (if any) the stream's id, the content type (if any) JSON, no
/// schema.
fn is_compact(metadata: &Metadata, message_type: &str, stream_id: &str) -> bool {
    metadata.message_type.as_str() == message_type
        && metadata.source.as_str() == DEFAULT_SOURCE
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

    /// `metadata` kept and read back, and whether it was compact.
    fn round_trip(metadata: Metadata) -> (Metadata, bool) {
        let envelope: AnyEnvelope = Envelope::with_metadata(Noted, metadata).into();
        let stream: Arc<str> = "order-7".into();
        let (kept, whole) = Kept::new(&envelope, &stream, 0, 1, now());
        let compact = whole.is_none();
        let wholes: Wholes = whole.into_iter().map(|whole| (0, whole)).collect();
        let recorded = kept.recorded(&stream, 0, &wholes).expect("kept");
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
            (Metadata::new("kept.Noted").with_subject("order-8"), false),
            (Metadata::new("kept.Noted").with_source("urn:other"), false),
            (Metadata::new("kept.Noted").with_dataschema("urn:s"), false),
            (
                Metadata {
                    datacontenttype: Some("text/plain".into()),
                    ..Metadata::new("kept.Noted")
                },
                false,
            ),
        ];
        for (metadata, compact) in cases {
            let (back, was_compact) = round_trip(metadata.clone());
            assert_eq!(back, metadata);
            assert_eq!(back.time.offset(), metadata.time.offset());
            assert_eq!(was_compact, compact, "{metadata:?}");
        }
    }

    /// A compact event shares the stream's id as its subject, and its
    /// static texts stay static.
    #[test]
    fn built_metadata_allocates_no_text() {
        let envelope: AnyEnvelope =
            Envelope::with_metadata(Noted, Metadata::new("kept.Noted").with_subject("order-7"))
                .into();
        let stream: Arc<str> = "order-7".into();
        let (kept, whole) = Kept::new(&envelope, &stream, 0, 1, now());
        assert!(whole.is_none());
        let recorded = kept.recorded(&stream, 0, &Wholes::new()).expect("kept");
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
