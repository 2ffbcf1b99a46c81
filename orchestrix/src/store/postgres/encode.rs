//! Events as the columns the append statements bind.

use crate::message::AnyEnvelope;
use crate::store::{StoreError, checks, context};

/// One append's events, column by column, ready to bind as arrays (or, for
/// a single event, as scalars). The CloudEvents metadata goes into the
/// compact `context` (migration 0003) only: since migration 0004 the typed
/// columns of migration 0002 are no longer written.
#[derive(Debug, Default)]
pub(super) struct EventBatch {
    pub(super) event_types: Vec<&'static str>,
    pub(super) schema_versions: Vec<i32>,
    pub(super) payloads: Vec<String>,
    /// The compact contexts (`store::context::encode`), `recorded_at`
    /// left 0: the append statement puts the server's time in.
    pub(super) contexts: Vec<Vec<u8>>,
}

impl EventBatch {
    /// Checks `stream_id` and `events` against the store limits
    /// ([`checks::encode_append`]), serializing each payload to JSON text
    /// and each context in the same pass.
    pub(super) fn encode(stream_id: &str, events: &[AnyEnvelope]) -> Result<Self, StoreError> {
        let payloads = checks::encode_append(stream_id, events)?;
        let n = events.len();
        let mut batch = Self {
            event_types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            contexts: Vec::with_capacity(n),
        };
        for (envelope, payload) in events.iter().zip(payloads) {
            batch.event_types.push(envelope.message_name());
            batch
                .schema_versions
                .push(i32::try_from(envelope.message().message_version()).unwrap_or(i32::MAX));
            batch.payloads.push(into_text(payload));
            batch.contexts.push(context::encode(envelope.metadata(), 0));
        }
        Ok(batch)
    }

    /// How many events the batch holds.
    pub(super) fn len(&self) -> usize {
        self.event_types.len()
    }
}

/// serde_json writes UTF-8, so this never copies; the lossy path is only a
/// total fallback.
fn into_text(json: Vec<u8>) -> String {
    String::from_utf8(json)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}
