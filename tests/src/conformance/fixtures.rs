//! The event type and ids the conformance cases use.

use orchestrix::prelude::*;

/// The event the conformance cases store: which writer produced it and its
/// sequence number, so a case can tell every event apart.
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(name = "orchestrix.conformance.Event")]
pub struct ConformanceEvent {
    /// Who wrote the event (a task number, a stream label).
    pub writer: u32,
    /// The writer's sequence number.
    pub seq: u32,
}

impl ConformanceEvent {
    /// The event wrapped in fresh metadata, type-erased, as stores take it.
    pub fn envelope(writer: u32, seq: u32) -> AnyEnvelope {
        Envelope::new(Self { writer, seq }).into()
    }
}

/// A second event type, for the cases that read the global stream filtered
/// by type.
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(name = "orchestrix.conformance.OtherEvent")]
pub struct OtherConformanceEvent {
    /// The writer's sequence number.
    pub seq: u32,
}

impl OtherConformanceEvent {
    /// The event wrapped in fresh metadata, type-erased, as stores take it.
    pub fn envelope(seq: u32) -> AnyEnvelope {
        Envelope::new(Self { seq }).into()
    }
}

/// A stream id no other case (or earlier run against the same database)
/// uses, so cases can share one store and run in parallel.
pub fn unique_stream_id(case: &str) -> String {
    format!("conformance-{case}-{}", uuid::Uuid::new_v4())
}
