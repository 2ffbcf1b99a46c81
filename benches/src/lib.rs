//! Benchmark support shared by the bench targets.
pub mod hand_written;
pub mod postgres_raw;
pub mod saga_hand_written;
pub mod sqlite_raw;
pub mod store_workloads;
