//! Benchmark support shared by the bench targets.
pub mod store_workloads;
