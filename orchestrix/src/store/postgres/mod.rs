//! The PostgreSQL event store: not built yet.
