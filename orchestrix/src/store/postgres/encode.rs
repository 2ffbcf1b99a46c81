//! Events as the columns the append statements bind.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::AnyEnvelope;
use crate::store::{StoreError, checks, context};

/// One append's events, column by column, ready to bind as arrays (or, for
/// a single event, as scalars). The CloudEvents metadata goes into the
/// compact `context` (migration 0003); since migration 0004 the typed
/// columns of migration 0002 are written only by a store told to
/// (`write_typed_metadata_columns`, for a rolling upgrade).
#[derive(Debug, Default)]
pub(super) struct EventBatch<'a> {
    pub(super) event_types: Vec<&'static str>,
    pub(super) schema_versions: Vec<i32>,
    pub(super) payloads: Vec<String>,
    /// The compact contexts (`store::context::encode`), `recorded_at`
    /// left 0: the append statement puts the server's time in.
    pub(super) contexts: Vec<Vec<u8>>,
    /// The typed metadata columns, when the store writes them.
    pub(super) typed: Option<TypedColumns<'a>>,
}

/// The events' metadata as the typed columns of migration 0002 hold it,
/// borrowed from the events (`statements::TYPED_COLUMNS`, in that order).
#[derive(Debug, Default)]
pub(super) struct TypedColumns<'a> {
    pub(super) event_ids: Vec<Uuid>,
    /// The CloudEvents type where it differs from the event type (rare).
    pub(super) message_types: Vec<Option<&'a str>>,
    pub(super) sources: Vec<&'a str>,
    pub(super) times: Vec<OffsetDateTime>,
    pub(super) subjects: Vec<Option<&'a str>>,
    pub(super) datacontenttypes: Vec<Option<&'a str>>,
    pub(super) dataschemas: Vec<Option<&'a str>>,
    pub(super) correlation_ids: Vec<Uuid>,
    pub(super) causation_ids: Vec<Option<Uuid>>,
}

impl<'a> EventBatch<'a> {
    /// Checks `stream_id` and `events` against the store limits
    /// ([`checks::encode_append`]), serializing each payload to JSON text
    /// and each context in the same pass; with `typed_columns`, borrows
    /// their metadata for the typed columns too.
    pub(super) fn encode(
        stream_id: &str,
        events: &'a [AnyEnvelope],
        typed_columns: bool,
    ) -> Result<Self, StoreError> {
        let payloads = checks::encode_append(stream_id, events)?;
        let n = events.len();
        let mut batch = Self {
            event_types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            contexts: Vec::with_capacity(n),
            typed: typed_columns.then(|| TypedColumns::with_capacity(n)),
        };
        for (envelope, payload) in events.iter().zip(payloads) {
            let event_type = envelope.message_name();
            batch.event_types.push(event_type);
            batch
                .schema_versions
                .push(i32::try_from(envelope.message().message_version()).unwrap_or(i32::MAX));
            batch.payloads.push(into_text(payload));
            batch.contexts.push(context::encode(envelope.metadata(), 0));
            if let Some(typed) = &mut batch.typed {
                typed.push(event_type, envelope);
            }
        }
        Ok(batch)
    }

    /// How many events the batch holds.
    pub(super) fn len(&self) -> usize {
        self.event_types.len()
    }
}

impl<'a> TypedColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            event_ids: Vec::with_capacity(n),
            message_types: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            subjects: Vec::with_capacity(n),
            datacontenttypes: Vec::with_capacity(n),
            dataschemas: Vec::with_capacity(n),
            correlation_ids: Vec::with_capacity(n),
            causation_ids: Vec::with_capacity(n),
        }
    }

    /// Adds `envelope`'s metadata, stored as `event_type`.
    fn push(&mut self, event_type: &str, envelope: &'a AnyEnvelope) {
        let metadata = envelope.metadata();
        self.event_ids.push(metadata.id);
        self.message_types
            .push((metadata.message_type != event_type).then_some(metadata.message_type.as_str()));
        self.sources.push(&metadata.source);
        self.times.push(metadata.time);
        self.subjects.push(metadata.subject.as_deref());
        self.datacontenttypes
            .push(metadata.datacontenttype.as_deref());
        self.dataschemas.push(metadata.dataschema.as_deref());
        self.correlation_ids.push(metadata.correlation_id);
        self.causation_ids.push(metadata.causation_id);
    }
}

/// serde_json writes UTF-8, so this never copies; the lossy path is only a
/// total fallback.
fn into_text(json: Vec<u8>) -> String {
    String::from_utf8(json)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}
