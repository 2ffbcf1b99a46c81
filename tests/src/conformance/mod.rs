//! Conformance suites: one set of checks run against every implementation
//! of a contract.

pub mod saga_state_store;
