//! Support code for the integration tests: the store conformance suites.
//!
//! * [`conformance::event_store`]: one set of cases every
//!   [`AsyncEventStore`](orchestrix::store::AsyncEventStore) must pass, and
//!   the [`event_store_conformance!`] macro that turns them into named
//!   `#[tokio::test]`s for a given store.
//! * [`projection_scenarios`]: projection scenarios run on every store.
//! * [`evolution`]: event types with a schema history (upcasters,
//!   aliases, splits) for the `evolution_*` tests.
//! * [`postgres`]: `DATABASE_URL` handling and a fresh schema per test.
//! * [`sqlite`]: a fresh database file per test.
//! * [`bus_support`]: handlers registered from this (second) crate, to show
//!   that `inventory` finds registrations across crates.

pub mod bus_support;
pub mod conformance;
pub mod delivery;
pub mod evolution;
pub mod postgres;
pub mod projection_scenarios;
pub mod proxy;
pub mod sqlite;
