//! Events kept in their stored form by the in-memory stores (imported rows,
//! e.g. a dump of an older store, or a test of an upcaster), decoded through
//! the registry when read, exactly as a database row is.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::DecodeError;
use crate::message::{AnyMessage, MessageKind, Metadata};
use crate::registry::EventRegistry;
use crate::store::{RecordedEvent, StoreError};

/// An event in the form a store keeps it: its name, schema version and JSON
/// payload, as they were written (possibly by an older version of the
/// program).
///
/// `InMemoryEventStore::import` takes these, so the in-memory stores can
/// hold old rows and test upcasters the way a database store reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The stored name (possibly a former name, an alias today).
    pub event_type: String,
    /// The schema version the payload was written at.
    pub schema_version: u32,
    /// The payload as stored.
    pub payload: serde_json::Value,
    /// Its metadata.
    pub metadata: Metadata,
}

impl StoredEvent {
    /// A stored event with fresh metadata of its type.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Self {
        let event_type = event_type.into();
        Self {
            metadata: Metadata::new(event_type.clone()),
            event_type,
            schema_version,
            payload,
        }
    }
}

/// The message an in-memory store keeps for an imported row: undecoded
/// until read.
#[derive(Debug)]
pub(crate) struct StoredPayload {
    name: &'static str,
    schema_version: u32,
    payload: Box<str>,
}

impl StoredPayload {
    pub(crate) fn new(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        Ok(Self {
            name: intern(&event.event_type),
            schema_version: event.schema_version,
            payload: serde_json::to_string(&event.payload)?.into_boxed_str(),
        })
    }
}

/// Names of imported rows live as long as the program, like registered
/// names: each distinct name is kept once.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

impl AnyMessage for StoredPayload {
    fn message_name(&self) -> &'static str {
        self.name
    }

    fn message_version(&self) -> u32 {
        self.schema_version
    }

    fn message_kind(&self) -> MessageKind {
        MessageKind::Event
    }

    fn rust_type_name(&self) -> &'static str {
        "(stored, not yet decoded)"
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        Ok(self.payload.as_bytes().to_vec())
    }
}

/// Decodes the stored-form events among `events` (through the registry, so
/// upcasters, aliases and splits apply) and keeps the others as they are.
/// `filter`, when given, drops decoded events of other types (a split may
/// yield types a filtered reader does not want).
pub(crate) fn expand_stored(
    events: Vec<RecordedEvent>,
    filter: Option<&crate::store::EventTypeFilter>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let message: &dyn std::any::Any = event.envelope.message();
        let Some(stored) = message.downcast_ref::<StoredPayload>() else {
            out.push(event);
            continue;
        };
        let fail = |source: DecodeError| StoreError::Decode {
            stream_id: event.stream_id.to_string(),
            version: event.version,
            position: Some(event.position),
            event_type: stored.name.to_owned(),
            source,
        };
        let registry = EventRegistry::global().map_err(|error| fail(error.into()))?;
        let decoded = registry
            .decode_stored(
                stored.name,
                stored.schema_version,
                stored.payload.as_bytes(),
            )
            .map_err(fail)?;
        let metadata = Arc::clone(event.envelope.metadata_arc());
        decoded.for_each(|message| {
            if filter.is_none_or(|filter| filter.matches(message.message_name())) {
                out.push(RecordedEvent {
                    stream_id: Arc::clone(&event.stream_id),
                    version: event.version,
                    position: event.position,
                    recorded_at: event.recorded_at,
                    envelope: crate::message::AnyEnvelope::from_parts(
                        message,
                        Arc::clone(&metadata),
                    ),
                });
            }
        });
    }
    Ok(out)
}
