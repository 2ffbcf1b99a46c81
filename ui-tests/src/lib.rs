//! trybuild cases live under `tests/ui`; this crate has no code of its own.
