//! Runnable Orchestrix programs; see `src/bin/`.
