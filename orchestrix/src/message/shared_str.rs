//! [`SharedStr`]: a string that is cheap to clone and often not allocated.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::metadata::{DEFAULT_SOURCE, JSON_CONTENT_TYPE};

/// An immutable string that is either a `&'static str` or shared behind an
/// `Arc<str>`: what the text fields of [`Metadata`](super::Metadata) hold.
///
/// Most of those texts repeat from message to message (the registered type
/// name, the default source, the JSON content type, a stream's id as the
/// subject): a `SharedStr` lets every message point at one copy instead of
/// allocating its own, and cloning one never copies the text. It reads as a
/// `&str` (it derefs to `str`), compares with `str`, `&str` and `String`,
/// prints and serializes as the plain text.
///
/// ```
/// use orchestrix::message::SharedStr;
///
/// let name = SharedStr::from_static("OrderPlaced"); // never allocates
/// let subject = SharedStr::from(format!("order-{}", 7)); // one allocation, shared by clones
/// assert_eq!(name, "OrderPlaced");
/// assert!(subject.starts_with("order-"));
/// assert_eq!(subject.to_string(), "order-7");
/// assert_eq!(serde_json::to_string(&name).unwrap(), "\"OrderPlaced\"");
/// ```
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Texts that many messages carry, recognized wherever a `SharedStr` is
/// made from borrowed text, so they are never allocated.
const KNOWN: [&str; 2] = [DEFAULT_SOURCE, JSON_CONTENT_TYPE];

impl SharedStr {
    /// A `SharedStr` of a static text: no allocation, ever.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Repr::Static(text))
    }

    /// Whether the text is a static one (made by
    /// [`from_static`](Self::from_static), or recognized as one of the
    /// texts many messages carry): no allocation holds it.
    pub fn is_static(&self) -> bool {
        matches!(self.0, Repr::Static(_))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Shared(text) => text,
        }
    }

    /// A copy of `text`, or a static text equal to it when `text` is one
    /// of the texts many messages carry (the default source, the JSON
    /// content type).
    fn copied(text: &str) -> Self {
        match KNOWN.iter().find(|known| **known == text) {
            Some(known) => Self::from_static(known),
            None => Self(Repr::Shared(Arc::from(text))),
        }
    }
}

impl Default for SharedStr {
    fn default() -> Self {
        Self::from_static("")
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self::copied(text)
    }
}

impl From<&String> for SharedStr {
    fn from(text: &String) -> Self {
        Self::copied(text)
    }
}

impl From<String> for SharedStr {
    /// The text moves into an `Arc<str>` (a copy either way: the `Arc`
    /// needs its counts in front of the text), or becomes a static text
    /// when it is one of the texts many messages carry.
    fn from(text: String) -> Self {
        Self::copied(&text)
    }
}

impl From<Box<str>> for SharedStr {
    fn from(text: Box<str>) -> Self {
        Self(Repr::Shared(Arc::from(text)))
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> Self {
        Self(Repr::Shared(text))
    }
}

impl From<&Arc<str>> for SharedStr {
    fn from(text: &Arc<str>) -> Self {
        Self(Repr::Shared(Arc::clone(text)))
    }
}

impl From<Cow<'_, str>> for SharedStr {
    fn from(text: Cow<'_, str>) -> Self {
        match text {
            Cow::Borrowed(text) => Self::copied(text),
            Cow::Owned(text) => Self::from(text),
        }
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.as_str().to_owned()
    }
}

impl From<SharedStr> for Arc<str> {
    fn from(text: SharedStr) -> Self {
        match text.0 {
            Repr::Static(text) => Arc::from(text),
            Repr::Shared(text) => text,
        }
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SharedStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_with_text {
    ($($text:ty),*) => {$(
        impl PartialEq<$text> for SharedStr {
            fn eq(&self, other: &$text) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }

        impl PartialEq<SharedStr> for $text {
            fn eq(&self, other: &SharedStr) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with_text!(str, &str, String);

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Reads the text as the deserializer has it, copying it once (never into
/// a `String` first).
struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = SharedStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SharedStr, E> {
        Ok(SharedStr::copied(text))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<SharedStr, E> {
        Ok(SharedStr::copied(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_known_texts_are_not_allocated() {
        assert!(matches!(SharedStr::from_static("a").0, Repr::Static(_)));
        assert!(matches!(
            SharedStr::from(String::from(DEFAULT_SOURCE).as_str()).0,
            Repr::Static(_)
        ));
        assert!(matches!(
            SharedStr::from("application/json").0,
            Repr::Static(_)
        ));
        assert!(matches!(SharedStr::from("other").0, Repr::Shared(_)));
    }

    #[test]
    fn clones_share_one_copy() {
        let text = SharedStr::from("order-7".to_owned());
        let clone = text.clone();
        assert!(std::ptr::eq(text.as_str(), clone.as_str()));
    }

    #[test]
    fn compares_hashes_and_orders_as_its_text() {
        use std::collections::HashSet;
        let shared = SharedStr::from("b".to_owned());
        let fixed = SharedStr::from_static("b");
        assert_eq!(shared, fixed);
        assert_eq!(shared, "b");
        assert_eq!("b", shared);
        assert_eq!(shared, String::from("b"));
        assert!(SharedStr::from_static("a") < shared);
        let set: HashSet<SharedStr> = [shared, fixed].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains("b"));
    }

    #[test]
    fn serializes_as_plain_text() {
        let text = SharedStr::from("with \"quotes\"");
        let json = serde_json::to_string(&text).expect("serializes");
        assert_eq!(json, r#""with \"quotes\"""#);
        let back: SharedStr = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, text);
        let value: SharedStr =
            serde_json::from_value(serde_json::json!("urn:orchestrix")).expect("from a value");
        assert!(matches!(value.0, Repr::Static(_)));
    }
}
