//! Support code for the integration tests: the store conformance suites.

pub mod conformance;
