//! Conformance suites: one set of behavioural cases, run against every
//! implementation of a contract, so implementations cannot drift apart.

pub mod delivery_store;
pub mod event_store;
mod fixtures;
pub mod hardening;
pub mod projection_state_store;
pub mod saga_hardening;
pub mod saga_state_store;
mod sync_adapter;

pub use fixtures::{ConformanceEvent, OtherConformanceEvent, unique_stream_id};
pub use sync_adapter::BlockingStore;
