//! In-memory event stores: [`InMemoryEventStore`] (blocking) and
//! [`InMemoryAsyncEventStore`] (async).
//!
//! Both are thin faces over one shared core, so their rules cannot drift
//! apart: nothing is serialized (each event's message stays behind the
//! `Arc` it was saved in, its metadata is kept in a compact form and built
//! back, equal, when read), a single lock makes every append atomic and
//! gives the global order.
//!
//! ```
//! use orchestrix::prelude::*;
//! use orchestrix::store::memory::InMemoryEventStore;
//!
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//!
//! let store = InMemoryEventStore::new();
//! let event: AnyEnvelope = Envelope::new(Deposited { amount: 5 }).into();
//! let outcome = store.save("acc-1", &[event], Some(0))?;
//! assert_eq!(outcome.new_version, 1);
//!
//! let events = store.load("acc-1", 0)?;
//! assert_eq!(events[0].downcast_ref::<Deposited>().map(|d| d.amount), Some(5));
//! # Ok::<(), StoreError>(())
//! ```

mod async_store;
mod kept;
mod state;
mod sync_store;

pub use async_store::InMemoryAsyncEventStore;
pub use sync_store::InMemoryEventStore;
