//! The schema history of `#[derive(Event)]`: former names, the first stored
//! version and the upcasters (`alias`, `since`, `upcast(...)` in
//! `#[event(...)]`), split like every macro here: `parse` reads the keys,
//! `validate` checks what can be checked at compile time, `expand`
//! generates the upcasting chain.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;

use proc_macro2::Span;
use syn::{LitInt, LitStr, Path, Type};

/// What an event declares about its stored past.
#[derive(Default)]
pub(crate) struct History {
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) since: Option<LitInt>,
    pub(crate) upcasts: Vec<Upcast>,
}

/// One `upcast(from = N, shape = T, with = f)` / `split = f`.
pub(crate) struct Upcast {
    /// The `upcast` key, for errors about the entry as a whole.
    pub(crate) span: Span,
    pub(crate) from: LitInt,
    pub(crate) from_version: u32,
    /// `None`: the upcaster works on the JSON value.
    pub(crate) shape: Option<Type>,
    pub(crate) function: Path,
    /// `split = f`: `f` returns the current events (`Upcasted`).
    pub(crate) split: bool,
}

impl History {
    pub(crate) fn is_empty(&self) -> bool {
        self.aliases.is_empty() && self.since.is_none() && self.upcasts.is_empty()
    }

    pub(crate) fn since_version(&self) -> u32 {
        self.since
            .as_ref()
            .and_then(|since| since.base10_parse().ok())
            .unwrap_or(1)
    }
}
