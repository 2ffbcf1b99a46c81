//! Events as the column arrays `append_events` takes.

use uuid::Uuid;

use crate::message::AnyEnvelope;
use crate::store::StoreError;

/// One append's events, column by column, ready to bind as arrays.
#[derive(Debug, Default)]
pub(super) struct EventBatch {
    pub(super) event_ids: Vec<Uuid>,
    pub(super) event_types: Vec<&'static str>,
    pub(super) schema_versions: Vec<i32>,
    pub(super) payloads: Vec<String>,
    pub(super) metadata: Vec<String>,
    pub(super) correlation_ids: Vec<Uuid>,
    pub(super) causation_ids: Vec<Option<Uuid>>,
}

impl EventBatch {
    /// Serializes `events` (payload and metadata straight to JSON text).
    pub(super) fn encode(stream_id: &str, events: &[AnyEnvelope]) -> Result<Self, StoreError> {
        let mut batch = Self {
            event_ids: Vec::with_capacity(events.len()),
            event_types: Vec::with_capacity(events.len()),
            schema_versions: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
            correlation_ids: Vec::with_capacity(events.len()),
            causation_ids: Vec::with_capacity(events.len()),
        };
        for envelope in events {
            let message = envelope.message();
            let event_type = envelope.message_name();
            let failed = |source| StoreError::Serialize {
                stream_id: stream_id.to_owned(),
                event_type: event_type.to_owned(),
                source,
            };
            let payload = message.to_json_bytes().map_err(failed)?;
            let metadata = envelope.metadata();
            batch.event_ids.push(metadata.id);
            batch.event_types.push(event_type);
            batch
                .schema_versions
                .push(i32::try_from(message.message_version()).unwrap_or(i32::MAX));
            batch.payloads.push(into_text(payload));
            batch
                .metadata
                .push(serde_json::to_string(metadata).map_err(failed)?);
            batch.correlation_ids.push(metadata.correlation_id);
            batch.causation_ids.push(metadata.causation_id);
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
