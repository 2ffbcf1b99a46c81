//! The event-store conformance suite against both in-memory stores.

use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use orchestrix_tests::conformance::BlockingStore;

orchestrix_tests::event_store_conformance!(
    in_memory_async,
    store = async { InMemoryAsyncEventStore::new() }
);

orchestrix_tests::event_store_conformance!(
    in_memory_blocking,
    store = async { BlockingStore(InMemoryEventStore::new()) }
);
