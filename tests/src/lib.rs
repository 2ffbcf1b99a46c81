//! Support code for the integration tests: the store conformance suites.

pub mod bus_support;
