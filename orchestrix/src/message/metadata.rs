//! CloudEvents 1.0 attributes plus correlation and causation ids.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use super::SharedStr;

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
/// The texts are [`SharedStr`]s: the registered type name, the default
/// source and the JSON content type are static texts, never allocated per
/// message, and a text read back from a store is shared where it repeats
/// (a stream's id as the subject). `specversion` is a [`SpecVersion`], which
/// takes no space: Orchestrix only knows version 1.0.
///
/// ```
/// use orchestrix::message::Metadata;
///
/// let command = Metadata::new("PlaceOrder").with_subject("order-7");
/// let event = Metadata::new("OrderPlaced").caused_by(&command);
/// assert_eq!(event.correlation_id, command.correlation_id);
/// assert_eq!(event.causation_id, Some(command.id));
/// assert_eq!(event.message_type, "OrderPlaced");
/// assert_eq!(event.specversion, "1.0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Unique id of this message (CloudEvents `id`).
    pub id: Uuid,
    /// CloudEvents version, always `"1.0"` (CloudEvents `specversion`).
    pub specversion: SpecVersion,
    /// The message's registered name (CloudEvents `type`).
    #[serde(rename = "type")]
    pub message_type: SharedStr,
    /// Where the message was produced (CloudEvents `source`, a URI reference).
    pub source: SharedStr,
    /// When the message was created (CloudEvents `time`, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// What the message is about, e.g. an aggregate id (CloudEvents `subject`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<SharedStr>,
    /// Content type of the payload (CloudEvents `datacontenttype`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<SharedStr>,
    /// Schema the payload adheres to (CloudEvents `dataschema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<SharedStr>,
    /// Id shared by every message of one conversation (CloudEvents
    /// extension `correlationid`).
    #[serde(rename = "correlationid")]
    pub correlation_id: Uuid,
    /// Id of the message that caused this one, if any (CloudEvents
    /// extension `causationid`).
    #[serde(rename = "causationid", skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
}

/// The CloudEvents `specversion` of every Orchestrix message: always
/// [`SPEC_VERSION`] (`"1.0"`), so it takes no space. It reads and compares
/// as that text, serializes as it, and refuses any other version when
/// read.
///
/// ```
/// use orchestrix::message::{Metadata, SpecVersion};
///
/// let metadata = Metadata::new("OrderPlaced");
/// assert_eq!(metadata.specversion, "1.0");
/// assert_eq!(metadata.specversion.to_string(), "1.0");
/// assert!(serde_json::from_str::<SpecVersion>("\"0.3\"").is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecVersion;

impl SpecVersion {
    /// The version's text, `"1.0"`.
    pub const fn as_str(&self) -> &'static str {
        SPEC_VERSION
    }
}

impl std::ops::Deref for SpecVersion {
    type Target = str;

    fn deref(&self) -> &str {
        SPEC_VERSION
    }
}

impl AsRef<str> for SpecVersion {
    fn as_ref(&self) -> &str {
        SPEC_VERSION
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SPEC_VERSION)
    }
}

macro_rules! spec_version_eq_text {
    ($($text:ty),*) => {$(
        impl PartialEq<$text> for SpecVersion {
            fn eq(&self, other: &$text) -> bool {
                AsRef::<str>::as_ref(other) == SPEC_VERSION
            }
        }

        impl PartialEq<SpecVersion> for $text {
            fn eq(&self, _: &SpecVersion) -> bool {
                AsRef::<str>::as_ref(self) == SPEC_VERSION
            }
        }
    )*};
}

spec_version_eq_text!(str, &str, String);

impl Serialize for SpecVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SPEC_VERSION)
    }
}

impl<'de> Deserialize<'de> for SpecVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Text(version) = Text::<'de>::deserialize(deserializer)?;
        if version != SPEC_VERSION {
            return Err(serde::de::Error::custom(format_args!(
                "unsupported CloudEvents specversion `{version}`: Orchestrix reads version {SPEC_VERSION}"
            )));
        }
        Ok(SpecVersion)
    }
}

/// [`Metadata`] as its JSON text has it, the texts borrowed where the text
/// allows: what a store reads a stored context into, to decide itself which
/// texts to share (see [`into_metadata`](Self::into_metadata)). The one
/// definition of the wire form: `Metadata` deserializes through it.
#[derive(Debug, Deserialize)]
pub(crate) struct MetadataFields<'a> {
    pub(crate) id: Uuid,
    #[serde(rename = "specversion")]
    pub(crate) _specversion: SpecVersion,
    #[serde(rename = "type", borrow)]
    pub(crate) message_type: Text<'a>,
    #[serde(borrow)]
    pub(crate) source: Text<'a>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    #[serde(default, borrow)]
    pub(crate) subject: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub(crate) datacontenttype: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub(crate) dataschema: Option<Text<'a>>,
    #[serde(rename = "correlationid", alias = "correlation_id")]
    pub(crate) correlation_id: Uuid,
    #[serde(rename = "causationid", alias = "causation_id", default)]
    pub(crate) causation_id: Option<Uuid>,
}

/// A JSON string, borrowed from the JSON text when it has no escapes.
#[derive(Debug)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(text)))
    }
}

/// Which texts a reader already holds, so a decoded [`Metadata`] points at
/// them instead of copying: the stored type's registered name, the
/// stream's id (the usual subject) and the last non-default source it
/// decoded (rows from one producer usually come together).
#[derive(Debug, Default)]
pub(crate) struct KnownTexts<'k> {
    /// The registered name (or alias) the row is stored under.
    pub(crate) message_type: Option<&'static str>,
    /// The stream's id.
    pub(crate) stream_id: Option<&'k std::sync::Arc<str>>,
    /// The source of the reader's previous row, when not the default one.
    pub(crate) last_source: Option<&'k SharedStr>,
}

impl KnownTexts<'_> {
    /// `text` as a [`SharedStr`], pointing at a known text when it is one.
    pub(crate) fn share(&self, text: &str) -> SharedStr {
        if let Some(name) = self.message_type
            && name == text
        {
            return SharedStr::from_static(name);
        }
        if let Some(stream_id) = self.stream_id
            && **stream_id == *text
        {
            return SharedStr::from(stream_id);
        }
        if let Some(source) = self.last_source
            && source.as_str() == text
        {
            return source.clone();
        }
        SharedStr::from(text)
    }
}

impl MetadataFields<'_> {
    /// The metadata, its texts shared with `known` where they match.
    pub(crate) fn into_metadata(self, known: &KnownTexts<'_>) -> Metadata {
        let share = |text: Text<'_>| known.share(&text.0);
        Metadata {
            id: self.id,
            specversion: SpecVersion,
            message_type: share(self.message_type),
            source: share(self.source),
            time: self.time,
            subject: self.subject.map(share),
            datacontenttype: self.datacontenttype.map(share),
            dataschema: self.dataschema.map(share),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        }
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        MetadataFields::deserialize(deserializer)
            .map(|fields| fields.into_metadata(&KnownTexts::default()))
    }
}

impl Metadata {
    /// Fresh metadata for a message of type `message_type`: a new id, the
    /// current time, the default source, a JSON content type, and a new
    /// correlation id (the message starts its own conversation).
    ///
    /// A static name (`SharedStr::from_static`, as
    /// [`Envelope::new`](super::Envelope::new) passes the registered name)
    /// is not copied; the default source and content type never are.
    pub fn new(message_type: impl Into<SharedStr>) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            specversion: SpecVersion,
            message_type: message_type.into(),
            source: SharedStr::from_static(DEFAULT_SOURCE),
            time: crate::limits::now(),
            subject: None,
            datacontenttype: Some(SharedStr::from_static(JSON_CONTENT_TYPE)),
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
    pub fn with_source(mut self, source: impl Into<SharedStr>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the CloudEvents `subject`.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<SharedStr>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the CloudEvents `dataschema`.
    #[must_use]
    pub fn with_dataschema(mut self, dataschema: impl Into<SharedStr>) -> Self {
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

    #[test]
    fn specversion_is_required_when_reading() {
        let metadata = Metadata::new("OrderPlaced");
        let mut json = serde_json::to_value(&metadata).expect("serializes");
        json.as_object_mut()
            .expect("an object")
            .remove("specversion");
        let error = serde_json::from_value::<Metadata>(json).expect_err("missing");
        assert!(error.to_string().contains("specversion"), "{error}");
    }

    #[test]
    fn fresh_metadata_allocates_no_text() {
        let metadata = Metadata::new(SharedStr::from_static("OrderPlaced"));
        for text in [&metadata.message_type, &metadata.source] {
            assert!(text.is_static(), "{text}");
        }
        let content_type = metadata.datacontenttype.expect("JSON");
        assert!(content_type.is_static());
        assert_eq!(std::mem::size_of::<SpecVersion>(), 0);
    }

    #[test]
    fn a_decoded_context_shares_the_texts_its_reader_holds() {
        let stream: std::sync::Arc<str> = "order-7".into();
        let metadata = Metadata::new("OrderPlaced")
            .with_subject("order-7")
            .with_dataschema("urn:schema");
        let json = serde_json::to_string(&metadata).expect("serializes");
        let known = KnownTexts {
            message_type: Some("OrderPlaced"),
            stream_id: Some(&stream),
            last_source: None,
        };
        let fields: MetadataFields<'_> = serde_json::from_str(&json).expect("reads");
        let decoded = fields.into_metadata(&known);
        assert_eq!(decoded, metadata);
        assert!(decoded.message_type.is_static());
        assert!(decoded.source.is_static());
        let subject = decoded.subject.expect("a subject");
        assert!(
            std::ptr::eq(subject.as_str(), &*stream),
            "the stream's id is shared"
        );
    }
}
