//! Benchmark support shared by the bench targets.
