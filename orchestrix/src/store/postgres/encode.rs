//! Events as the columns the append statements bind.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::AnyEnvelope;
use crate::store::{StoreError, checks, context};

/// One append's events, column by column, ready to bind as arrays (or, for
/// a single event, as scalars). The CloudEvents context goes into typed
/// columns (migration 0002) and, for loads, into the compact `context`
/// (migration 0003).
#[derive(Debug, Default)]
pub(super) struct EventBatch<'a> {
    pub(super) event_ids: Vec<Uuid>,
    pub(super) event_types: Vec<&'static str>,
    pub(super) schema_versions: Vec<i32>,
    pub(super) payloads: Vec<String>,
    /// The CloudEvents type where it differs from the event type (rare).
    pub(super) message_types: Vec<Option<&'a str>>,
    pub(super) sources: Vec<&'a str>,
    pub(super) times: Vec<OffsetDateTime>,
    pub(super) subjects: Vec<Option<&'a str>>,
    pub(super) datacontenttypes: Vec<Option<&'a str>>,
    pub(super) dataschemas: Vec<Option<&'a str>>,
    pub(super) correlation_ids: Vec<Uuid>,
    pub(super) causation_ids: Vec<Option<Uuid>>,
    /// The compact contexts (`store::context::encode`), `recorded_at`
    /// left 0: the append statement puts the server's time in.
    pub(super) contexts: Vec<Vec<u8>>,
}

impl<'a> EventBatch<'a> {
    /// Checks `stream_id` and `events` against the store limits
    /// ([`checks::encode_append`]), serializing each payload to JSON text
    /// in the same pass, and borrows their metadata.
    pub(super) fn encode(stream_id: &str, events: &'a [AnyEnvelope]) -> Result<Self, StoreError> {
        let payloads = checks::encode_append(stream_id, events)?;
        let n = events.len();
        let mut batch = Self {
            event_ids: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            message_types: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            subjects: Vec::with_capacity(n),
            datacontenttypes: Vec::with_capacity(n),
            dataschemas: Vec::with_capacity(n),
            correlation_ids: Vec::with_capacity(n),
            causation_ids: Vec::with_capacity(n),
            contexts: Vec::with_capacity(n),
        };
        for (envelope, payload) in events.iter().zip(payloads) {
            let message = envelope.message();
            let event_type = envelope.message_name();
            let metadata = envelope.metadata();
            batch.event_ids.push(metadata.id);
            batch.event_types.push(event_type);
            batch
                .schema_versions
                .push(i32::try_from(message.message_version()).unwrap_or(i32::MAX));
            batch.payloads.push(into_text(payload));
            batch.message_types.push(
                (metadata.message_type != event_type).then_some(metadata.message_type.as_str()),
            );
            batch.sources.push(&metadata.source);
            batch.times.push(metadata.time);
            batch.subjects.push(metadata.subject.as_deref());
            batch
                .datacontenttypes
                .push(metadata.datacontenttype.as_deref());
            batch.dataschemas.push(metadata.dataschema.as_deref());
            batch.correlation_ids.push(metadata.correlation_id);
            batch.causation_ids.push(metadata.causation_id);
            batch.contexts.push(context::encode(metadata, 0));
        }
        Ok(batch)
    }
}

/// serde_json writes UTF-8, so this never copies; the lossy path is only a
/// total fallback.
fn into_text(json: Vec<u8>) -> String {
    String::from_utf8(json)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}
