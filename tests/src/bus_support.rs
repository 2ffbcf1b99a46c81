//! Handlers registered in this library crate, so the bus tests can check
//! that `#[event_handler]` registrations made in another crate are collected
//! (inventory's known weak spot).

use std::sync::atomic::{AtomicU64, Ordering};

use orchestrix::prelude::*;

/// An event whose handlers live in this crate.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
pub struct CrossCrateEvent {
    /// Added to the counters by the handlers.
    pub value: u64,
}

/// Sum of the values seen by [`record_cross_crate`] (async bus).
pub static SEEN_ASYNC: AtomicU64 = AtomicU64::new(0);

/// Sum of the values seen by [`record_cross_crate_sync`] (sync bus).
pub static SEEN_SYNC: AtomicU64 = AtomicU64::new(0);

/// Adds the event's value to [`SEEN_ASYNC`].
#[event_handler]
pub async fn record_cross_crate(event: &CrossCrateEvent) {
    SEEN_ASYNC.fetch_add(event.value, Ordering::SeqCst);
}

/// Adds the event's value to [`SEEN_SYNC`].
#[event_handler]
pub fn record_cross_crate_sync(event: &CrossCrateEvent) {
    SEEN_SYNC.fetch_add(event.value, Ordering::SeqCst);
}
