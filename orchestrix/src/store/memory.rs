//! In-memory event stores: not built yet.
