//! Not built yet.

/// Names this module adds to `orchestrix::prelude`.
pub mod prelude {}

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {}
