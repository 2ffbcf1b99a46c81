//! One set of limits for everything a store keeps, checked in one place
//! before any backend sees the value, so every backend accepts and refuses
//! exactly the same things, with the same [`LimitError`].
//!
//! * **Identifiers** (stream / aggregate ids, saga ids, projection names,
//!   lease owners; see [`check_id`]): not empty, at most [`MAX_ID_BYTES`]
//!   bytes of UTF-8, no control characters (`U+0000..=U+001F`,
//!   `U+007F..=U+009F`). The length keeps every id well inside what a
//!   PostgreSQL btree index entry holds (about 2,700 bytes) whatever the
//!   text, and the characters keep ids printable in logs and storable
//!   everywhere (PostgreSQL refuses NUL in text).
//! * **JSON** (event payloads, metadata, snapshot state, saga data and step
//!   outputs; see [`check_json`]): arrays and objects nest at most
//!   [`MAX_JSON_DEPTH`] levels, and no string holds a NUL character
//!   (`\u0000`, which PostgreSQL's `jsonb` refuses). Deeper values would be
//!   written and then fail to decode on every read (serde_json stops
//!   decoding at 128 levels), so they are refused when written instead.
//!   No `f32`/`f64` is NaN or infinite: serde_json writes those as `null`,
//!   which a durable store keeps and then cannot decode back into the float
//!   (while an in-memory store would hand the NaN back).
//! * **Text** kept outside JSON (saga types and error texts, snapshot
//!   aggregate types; see [`check_text`]): no NUL character.
//! * **Time**: stores keep `recorded_at`, snapshot and saga times at whole
//!   microseconds (PostgreSQL's `timestamptz` precision); [`stored_precision`]
//!   cuts a time to that, so what is saved reads back equal from every
//!   backend. (PostgreSQL and SQLite loads return an event's metadata time
//!   exactly, from the stored context.)
//!
//! A violation names the rule and the value, shortened ([`shorten`]): an
//! error never repeats a multi-kilobyte id.
//!
//! ```
//! use orchestrix::limits::{self, IdKind, LimitError, MAX_ID_BYTES};
//!
//! assert!(limits::check_id(IdKind::Stream, "order-42").is_ok());
//! let long = "x".repeat(MAX_ID_BYTES + 1);
//! let error = limits::check_id(IdKind::Stream, &long).unwrap_err();
//! assert!(matches!(error, LimitError::IdTooLong { .. }));
//! assert!(error.to_string().len() < 200);
//! ```

mod finite;
mod ids;
mod json;
mod precision;

pub(crate) use ids::has_nul;
pub use ids::{IdKind, MAX_ID_BYTES, check_id, check_text, shorten};
pub use json::{JsonCheckError, MAX_JSON_DEPTH, check_json, check_json_text};
pub(crate) use json::{to_checked_json, to_json_value};
pub use precision::stored_precision;
pub(crate) use precision::{DayClock, now, now_plus};

/// A value breaks one of the [limits](self); nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// An id is the empty string.
    #[error("the {kind} is empty; ids need at least one character")]
    EmptyId {
        /// Which kind of id.
        kind: IdKind,
    },
    /// An id is longer than [`MAX_ID_BYTES`].
    #[error("the {kind} `{id}` is {len} bytes long; at most {max} bytes are allowed")]
    IdTooLong {
        /// Which kind of id.
        kind: IdKind,
        /// The id, shortened.
        id: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An id contains a control character.
    #[error(
        "the {kind} `{id}` contains the control character U+{code:04X} at byte {at}; ids may not contain control characters"
    )]
    IdControlCharacter {
        /// Which kind of id.
        kind: IdKind,
        /// The id, shortened, with control characters escaped.
        id: String,
        /// The character's code point.
        code: u32,
        /// Its byte offset in the id.
        at: usize,
    },
    /// A text value contains the NUL character.
    #[error("{what} contains the NUL character (U+0000), which cannot be stored")]
    NulInText {
        /// What the text is (e.g. "the saga type of saga `s-1`").
        what: String,
    },
    /// A JSON value nests deeper than [`MAX_JSON_DEPTH`].
    #[error(
        "{what} nests JSON arrays and objects more than {max} levels deep, so it could not be read back; flatten it"
    )]
    JsonTooDeep {
        /// What the value is (e.g. "the payload of event `X` for stream `s`").
        what: String,
        /// The limit.
        max: usize,
    },
    /// A JSON string or key contains the NUL character.
    #[error("{what} contains the NUL character (\\u0000) in a JSON string, which cannot be stored")]
    NulInJson {
        /// What the value is.
        what: String,
    },
    /// A float in a JSON value is NaN or infinite: JSON has no such
    /// numbers (serde_json would write `null`, which does not decode back
    /// into the float).
    #[error(
        "{what} contains a NaN or infinite float, which JSON cannot hold; store it as an Option (None) or as a string instead"
    )]
    NonFiniteFloat {
        /// What the value is.
        what: String,
    },
}
