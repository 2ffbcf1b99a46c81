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
/// message reads as a CloudEvents context.
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
    /// Id shared by every message of one conversation.
    pub correlation_id: Uuid,
    /// Id of the message that caused this one, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
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
            time: OffsetDateTime::now_utc(),
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
