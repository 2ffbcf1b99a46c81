//! Errors shared by several parts of Orchestrix.
//!
//! Every error says what went wrong and where: the stream, the version, the
//! event type, the handler. All public error enums are `#[non_exhaustive]`.

use std::error::Error as StdError;

/// A boxed error from user code (a handler, a saga step, a projection).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The event-type registry is inconsistent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two Rust types are registered under one event name.
    #[error(
        "event name `{name}` is registered by two types, `{first_type}` and `{second_type}`; \
         give one of them another name with #[event(name = \"...\")]"
    )]
    DuplicateEventName {
        /// The contested name.
        name: &'static str,
        /// One of the Rust types.
        first_type: &'static str,
        /// The other Rust type.
        second_type: &'static str,
    },
    /// Two Rust types are aggregates under one `AGGREGATE_TYPE`.
    #[error(
        "aggregate name `{name}` is used by two types, `{first_type}` and `{second_type}`; \
         give one of them another name with #[aggregate(name = \"...\")]"
    )]
    DuplicateAggregateType {
        /// The contested name.
        name: &'static str,
        /// One of the Rust types.
        first_type: &'static str,
        /// The other Rust type.
        second_type: &'static str,
    },
    /// A former name (`#[event(alias = "...")]`) is the name or alias of
    /// another event type.
    #[error(
        "`{alias}` is an alias of `{alias_of}` but also names `{taken_by}`; a stored row must \
         decode into one type, so remove the alias or rename one of them"
    )]
    AliasTaken {
        /// The contested name.
        alias: &'static str,
        /// The Rust type declaring it as an alias.
        alias_of: &'static str,
        /// The other Rust type under that name.
        taken_by: &'static str,
    },
    /// Event types whose old schema versions nothing reads: every gap, one
    /// per type and version.
    #[error(
        "stored events could not be read back: {}; declare `upcast(from = N, ...)` in \
         #[event(...)] for each, or `since = N` if no older version was ever stored",
        crate::error::list_gaps(gaps)
    )]
    MissingUpcasters {
        /// Every missing upcaster, sorted by type and version.
        gaps: Vec<crate::evolution::UpcasterGap>,
    },
}

pub(crate) fn list_gaps(gaps: &[crate::evolution::UpcasterGap]) -> String {
    gaps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A stored event's payload cannot be turned back into a Rust value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No Rust type is registered under the stored name.
    #[error(
        "no event type is registered under the name `{event_type}` (is its crate linked, or does it need `orchestrix::registry::register`?)"
    )]
    UnknownEventType {
        /// The stored name.
        event_type: String,
    },
    /// The stored schema version is not the one the Rust type reads.
    #[error(
        "event `{event_type}` was stored at schema version {stored}, but `{rust_type}` reads version {registered} and declares no upcaster from version {stored} (see `upcast` in docs/evolution.md)"
    )]
    VersionMismatch {
        /// The stored name.
        event_type: String,
        /// The version in the store.
        stored: u32,
        /// The version of the registered Rust type.
        registered: u32,
        /// The registered Rust type.
        rust_type: &'static str,
    },
    /// The row was stored at a schema version newer than the program's
    /// (e.g. written by a newer deploy that was rolled back).
    #[error(
        "event `{event_type}` was stored at schema version {stored}, newer than the version \
         {known} `{rust_type}` reads; deploy the code that wrote it (or a newer one)"
    )]
    NewerVersion {
        /// The stored name.
        event_type: String,
        /// The version in the store.
        stored: u32,
        /// The version the program knows.
        known: u32,
        /// The registered Rust type.
        rust_type: &'static str,
    },
    /// An upcaster failed on the stored payload.
    #[error(
        "event `{event_type}` stored at schema version {stored} could not be upcast to version \
         {registered} (`{rust_type}`): {source}"
    )]
    Upcast {
        /// The stored name.
        event_type: String,
        /// The version in the store.
        stored: u32,
        /// The current version.
        registered: u32,
        /// The registered Rust type.
        rust_type: &'static str,
        /// What went wrong, and in which upcaster.
        #[source]
        source: crate::evolution::UpcastError,
    },
    /// An upcaster split or dropped the event, where exactly one was
    /// asked for ([`EventRegistry::decode`](crate::registry::EventRegistry::decode);
    /// stores read every event it yields).
    #[error(
        "event `{event_type}` stored at schema version {stored} stands for {count} events today, \
         not one; read it with `EventRegistry::decode_stored`"
    )]
    NotOneEvent {
        /// The stored name.
        event_type: String,
        /// The version in the store.
        stored: u32,
        /// How many events its upcasters yield.
        count: usize,
    },
    /// The payload does not deserialize into the Rust type.
    #[error("payload of event `{event_type}` does not decode into `{rust_type}`: {source}")]
    Malformed {
        /// The stored name.
        event_type: String,
        /// The registered Rust type.
        rust_type: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The row's stored context (its CloudEvents metadata and the time the
    /// store accepted it) is damaged: the named column does not decode.
    #[error("the stored {column} column of event `{event_type}` is damaged: {source}")]
    Context {
        /// The stored name.
        event_type: String,
        /// The column that does not decode (e.g. `context`, `metadata`).
        column: &'static str,
        /// What is wrong with it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry itself is inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// An append found the stream at another version than the caller expected:
/// somebody else wrote to it first.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "concurrency conflict on stream `{aggregate_id}`: expected version {expected}, found {actual}"
)]
pub struct ConcurrencyError {
    /// The stream written to.
    pub aggregate_id: String,
    /// The version the caller expected (0: the stream must not exist).
    pub expected: u64,
    /// The version the stream is at.
    pub actual: u64,
}
