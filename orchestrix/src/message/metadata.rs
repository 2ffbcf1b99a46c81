//! CloudEvents 1.0 attributes plus correlation and causation ids.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The CloudEvents specification version every Orchestrix message declares.
pub const SPEC_VERSION: &str = "1.0";

/// The source a message gets when none is set; see [`Metadata::with_source`].
pub const DEFAULT_SOURCE: &str = "urn:orchestrix";

/// The content type of every payload Orchestrix serializes.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Context attributes of one message: the CloudEvents 1.0 attributes, plus the
/// ids that tie a message to the conversation it belongs to.
///
/// * `correlation_id` is shared by every message of one business conversation
///   (a command and every event and command it leads to).
/// * `causation_id` is the id of the message that directly caused this one.
///
/// Serialized with the CloudEvents attribute names (`id`, `specversion`,
/// `type`, `source`, `time`, …), so the metadata of a stored or transmitted
/// message reads as a CloudEvents context. CloudEvents extension attribute
/// names are lowercase letters and digits only, so the two ids are written
/// as the extensions `correlationid` and `causationid` (the snake-case
/// spellings are accepted when reading). A `specversion` other than `1.0`
/// is refused when reading.
///
/// ```
/// use orchestrix::message::Metadata;
///
/// let command = Metadata::new("PlaceOrder").with_subject("order-7");
/// let event = Metadata::new("OrderPlaced").caused_by(&command);
/// assert_eq!(event.correlation_id, command.correlation_id);
/// assert_eq!(event.causation_id, Some(command.id));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Unique id of this message (CloudEvents `id`).
    pub id: Uuid,
    /// CloudEvents version, always `"1.0"` (CloudEvents `specversion`).
    #[serde(deserialize_with = "spec_version_1_0")]
    pub specversion: String,
    /// The message's registered name (CloudEvents `type`).
    #[serde(rename = "type")]
    pub message_type: String,
    /// Where the message was produced (CloudEvents `source`, a URI reference).
    pub source: String,
    /// When the message was created (CloudEvents `time`, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// What the message is about, e.g. an aggregate id (CloudEvents `subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Content type of the payload (CloudEvents `datacontenttype`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// Schema the payload adheres to (CloudEvents `dataschema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<String>,
    /// Id shared by every message of one conversation (CloudEvents
    /// extension `correlationid`).
    #[serde(rename = "correlationid", alias = "correlation_id")]
    pub correlation_id: Uuid,
    /// Id of the message that caused this one, if any (CloudEvents
    /// extension `causationid`).
    #[serde(
        rename = "causationid",
        alias = "causation_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub causation_id: Option<Uuid>,
}

fn spec_version_1_0<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let version = String::deserialize(deserializer)?;
    if version != SPEC_VERSION {
        return Err(serde::de::Error::custom(format_args!(
            "unsupported CloudEvents specversion `{version}`: Orchestrix reads version {SPEC_VERSION}"
        )));
    }
    Ok(version)
}

impl Metadata {
    /// Fresh metadata for a message of type `message_type`: a new id, the
    /// current time, the default source, a JSON content type, and a new
    /// correlation id (the message starts its own conversation).
    pub fn new(message_type: impl Into<String>) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            specversion: SPEC_VERSION.to_owned(),
            message_type: message_type.into(),
            source: DEFAULT_SOURCE.to_owned(),
            time: crate::limits::now(),
            subject: None,
            datacontenttype: Some(JSON_CONTENT_TYPE.to_owned()),
            dataschema: None,
            correlation_id: id,
            causation_id: None,
        }
    }

    /// Marks this message as caused by `cause`: it joins the cause's
    /// conversation (same correlation id) and names the cause's id.
    #[must_use]
    pub fn caused_by(mut self, cause: &Metadata) -> Self {
        self.correlation_id = cause.correlation_id;
        self.causation_id = Some(cause.id);
        self
    }

    /// Sets the CloudEvents `source`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the CloudEvents `subject`.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the CloudEvents `dataschema`.
    #[must_use]
    pub fn with_dataschema(mut self, dataschema: impl Into<String>) -> Self {
        self.dataschema = Some(dataschema.into());
        self
    }

    /// Sets the correlation id explicitly (e.g. taken from an incoming request).
    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_a_cloudevents_context() {
        let cause = Metadata::new("PlaceOrder");
        let metadata = Metadata::new("OrderPlaced")
            .caused_by(&cause)
            .with_subject("order-7");
        let json = serde_json::to_value(&metadata).expect("serializes");
        let object = json.as_object().expect("an object");
        for name in object.keys() {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "`{name}` is not a valid CloudEvents attribute name"
            );
        }
        assert_eq!(json["type"], "OrderPlaced");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["correlationid"], cause.correlation_id.to_string());
        assert_eq!(json["causationid"], cause.id.to_string());
        let back: Metadata = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, metadata);
    }

    #[test]
    fn reads_snake_case_ids_and_refuses_other_spec_versions() {
        let metadata = Metadata::new("OrderPlaced");
        let mut json = serde_json::to_value(&metadata).expect("serializes");
        let object = json.as_object_mut().expect("an object");
        let correlation = object.remove("correlationid").expect("present");
        object.insert("correlation_id".into(), correlation);
        let back: Metadata = serde_json::from_value(json.clone()).expect("alias accepted");
        assert_eq!(back.correlation_id, metadata.correlation_id);

        json["specversion"] = "0.3".into();
        let error = serde_json::from_value::<Metadata>(json).expect_err("0.3 is refused");
        assert!(error.to_string().contains("specversion `0.3`"), "{error}");
    }
}
