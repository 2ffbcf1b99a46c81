//! The compile-time registrations the macros submit through `inventory`,
//! and the lookup tables built from them at run time.

mod events;

pub use events::{EventRegistration, EventRegistry, register, validate};
