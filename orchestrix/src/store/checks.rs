//! The [`limits`] every event store applies before its backend
//! sees anything, so that every store accepts and refuses the same calls
//! with the same errors. The stores of this crate call them first thing;
//! a custom store should too.

use crate::limits::{self, IdKind, JsonCheckError, shorten};
use crate::message::AnyEnvelope;
use crate::store::{Snapshot, StoreError};

/// A stream id: see [`limits::check_id`].
///
/// ```
/// use orchestrix::store::{StoreError, checks};
///
/// assert!(checks::stream_id("acc-1").is_ok());
/// assert!(matches!(checks::stream_id(""), Err(StoreError::Limit(_))));
/// ```
pub fn stream_id(id: &str) -> Result<(), StoreError> {
    Ok(limits::check_id(IdKind::Stream, id)?)
}

/// An append: the stream id, then each event's payload and metadata (they
/// must serialize, within the JSON limits).
pub fn append(stream_id: &str, events: &[AnyEnvelope]) -> Result<(), StoreError> {
    self::stream_id(stream_id)?;
    for envelope in events {
        let event_type = envelope.message_name();
        let failed = |error| match error {
            JsonCheckError::Limit(limit) => StoreError::Limit(limit),
            JsonCheckError::Serialize(source) => StoreError::Serialize {
                stream_id: shorten(stream_id),
                event_type: event_type.to_owned(),
                source,
            },
        };
        envelope
            .message()
            .check_json(&|| {
                format!(
                    "the payload of event `{event_type}` for stream `{}`",
                    shorten(stream_id)
                )
            })
            .map_err(failed)?;
        limits::check_json(envelope.metadata(), || {
            format!(
                "the metadata of event `{event_type}` for stream `{}`",
                shorten(stream_id)
            )
        })
        .map_err(failed)?;
    }
    Ok(())
}

/// A snapshot: its stream id, its aggregate type (text) and its state
/// (JSON).
pub fn snapshot(snapshot: &Snapshot) -> Result<(), StoreError> {
    stream_id(&snapshot.aggregate_id)?;
    let what = |part: &str| {
        format!(
            "the {part} of the snapshot of stream `{}`",
            shorten(&snapshot.aggregate_id)
        )
    };
    limits::check_text(&snapshot.aggregate_type, || what("aggregate type"))?;
    limits::check_json(&snapshot.state, || what("state")).map_err(|error| match error {
        JsonCheckError::Limit(limit) => StoreError::Limit(limit),
        JsonCheckError::Serialize(source) => StoreError::Serialize {
            stream_id: shorten(&snapshot.aggregate_id),
            event_type: snapshot.aggregate_type.clone(),
            source,
        },
    })
}
