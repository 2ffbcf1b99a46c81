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
        envelope
            .message()
            .check_json(&|| payload_what(stream_id, envelope))
            .map_err(|error| json_error(stream_id, envelope, error))?;
        metadata(stream_id, envelope)?;
    }
    Ok(())
}

/// As [`append`], for a store that keeps each payload as JSON text: the
/// payloads come back serialized, each checked in the same pass that
/// wrote it (no second serialization).
#[cfg(any(feature = "postgres", test))]
pub(crate) fn encode_append(
    stream_id: &str,
    events: &[AnyEnvelope],
) -> Result<Vec<Vec<u8>>, StoreError> {
    self::stream_id(stream_id)?;
    let mut payloads = Vec::with_capacity(events.len());
    for envelope in events {
        let payload = envelope
            .message()
            .to_checked_json_bytes(&|| payload_what(stream_id, envelope))
            .map_err(|error| json_error(stream_id, envelope, error))?;
        metadata(stream_id, envelope)?;
        payloads.push(payload);
    }
    Ok(payloads)
}

/// An event's metadata must serialize within the JSON limits. Its ids and
/// time always do, and so do strings without NUL while the time is one
/// RFC 3339 can write (year 0 to 9999, an offset in whole minutes): that
/// is checked directly, and only metadata outside it is serialized (into
/// nothing) to find the exact error.
fn metadata(stream_id: &str, envelope: &AnyEnvelope) -> Result<(), StoreError> {
    let metadata = envelope.metadata();
    let texts = [
        Some(metadata.specversion.as_str()),
        Some(metadata.message_type.as_str()),
        Some(metadata.source.as_str()),
        metadata.subject.as_deref(),
        metadata.datacontenttype.as_deref(),
        metadata.dataschema.as_deref(),
    ];
    let plain = !texts.iter().flatten().any(|text| limits::has_nul(text))
        && (0..=9999).contains(&metadata.time.year())
        && metadata.time.offset().seconds_past_minute() == 0;
    if plain {
        return Ok(());
    }
    limits::check_json(metadata, || {
        format!(
            "the metadata of event `{}` for stream `{}`",
            envelope.message_name(),
            shorten(stream_id)
        )
    })
    .map_err(|error| json_error(stream_id, envelope, error))
}

fn payload_what(stream_id: &str, envelope: &AnyEnvelope) -> String {
    format!(
        "the payload of event `{}` for stream `{}`",
        envelope.message_name(),
        shorten(stream_id)
    )
}

fn json_error(stream_id: &str, envelope: &AnyEnvelope, error: JsonCheckError) -> StoreError {
    match error {
        JsonCheckError::Limit(limit) => StoreError::Limit(limit),
        JsonCheckError::Serialize(source) => StoreError::Serialize {
            stream_id: shorten(stream_id),
            event_type: envelope.message_name().to_owned(),
            source,
        },
    }
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

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use time::OffsetDateTime;

    use super::*;
    use crate::Event;
    use crate::limits::LimitError;
    use crate::message::{Envelope, Metadata};

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "checks.Noted")]
    struct Noted {
        text: String,
    }

    fn noted(metadata: Metadata) -> AnyEnvelope {
        Envelope::with_metadata(Noted { text: "x".into() }, metadata).into()
    }

    /// The direct metadata check accepts exactly what serializing the
    /// metadata accepts, with the same errors.
    #[test]
    fn metadata_is_refused_as_its_serialization_would_be() {
        let plain = Metadata::new("checks.Noted").with_subject("order-7");
        assert!(append("s", &[noted(plain.clone())]).is_ok());
        assert!(encode_append("s", &[noted(plain.clone())]).is_ok());

        let nul = plain.clone().with_subject("a\u{0}b");
        for error in [
            append("s", &[noted(nul.clone())]).expect_err("NUL"),
            encode_append("s", &[noted(nul)]).expect_err("NUL"),
        ] {
            assert!(
                matches!(&error, StoreError::Limit(LimitError::NulInJson { what }) if what.contains("metadata")),
                "{error:?}"
            );
        }

        // RFC 3339 has years 0 to 9999 only: this time does not serialize.
        let far = Metadata {
            time: OffsetDateTime::new_utc(
                time::Date::from_calendar_date(-1, time::Month::January, 1).expect("a date"),
                time::Time::MIDNIGHT,
            ),
            ..plain
        };
        assert!(limits::check_json(&far, String::new).is_err());
        let error = append("s", &[noted(far)]).expect_err("year -1");
        assert!(matches!(error, StoreError::Serialize { .. }), "{error:?}");
    }

    /// The payload comes back as exactly the JSON `to_json_bytes` writes.
    #[test]
    fn encoded_payloads_are_the_plain_serialization() {
        let event = noted(Metadata::new("checks.Noted"));
        let encoded = encode_append("s", std::slice::from_ref(&event)).expect("encodes");
        let plain = event.message().to_json_bytes().expect("serializes");
        assert_eq!(encoded, vec![plain]);
    }
}
