//! An event kept inside other JSON (a saga step's output, a read model)
//! with its name and schema version, so it is upcast when read back.

use std::any::Any;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::message::Event;
use crate::registry::EventRegistry;

/// An event serialized with its name and schema version
/// (`{"type": ..., "version": ..., "payload": ...}`) and read back through
/// the event registry, so the upcasters and aliases of its type apply.
///
/// A saga step whose output holds an event keeps it as JSON in the saga
/// state for as long as the saga lives; returning `VersionedEvent<E>`
/// instead of `E` lets a later program, at a newer version of `E`, still
/// hand that output to the compensation.
///
/// ```standalone_crate
/// use orchestrix::evolution::VersionedEvent;
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Debug, PartialEq, Serialize, Deserialize)]
/// #[event(name = "shop.Reserved")]
/// struct Reserved { sku: String }
///
/// let kept = serde_json::to_value(VersionedEvent::new(Reserved { sku: "A".into() }))?;
/// assert_eq!(kept, serde_json::json!({
///     "type": "shop.Reserved", "version": 1, "payload": { "sku": "A" }
/// }));
/// let back: VersionedEvent<Reserved> = serde_json::from_value(kept)?;
/// assert_eq!(back.event().sku, "A");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedEvent<E>(Arc<E>);

impl<E: Event> VersionedEvent<E> {
    /// Wraps `event`.
    pub fn new(event: E) -> Self {
        Self(Arc::new(event))
    }

    /// The event.
    pub fn event(&self) -> &E {
        &self.0
    }

    /// The shared event.
    pub fn into_arc(self) -> Arc<E> {
        self.0
    }
}

#[derive(Serialize)]
struct WireOut<'a, E> {
    #[serde(rename = "type")]
    event_type: &'static str,
    version: u32,
    payload: &'a E,
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(rename = "type")]
    event_type: String,
    version: u32,
    payload: Box<serde_json::value::RawValue>,
}

impl<E: Event> Serialize for VersionedEvent<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireOut {
            event_type: E::NAME,
            version: E::VERSION,
            payload: &*self.0,
        }
        .serialize(serializer)
    }
}

impl<'de, E: Event> Deserialize<'de> for VersionedEvent<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireIn::deserialize(deserializer)?;
        let registry = EventRegistry::global().map_err(D::Error::custom)?;
        let message = registry
            .decode(
                &wire.event_type,
                wire.version,
                wire.payload.get().as_bytes(),
            )
            .map_err(D::Error::custom)?;
        let message: Arc<dyn Any + Send + Sync> = message;
        message.downcast::<E>().map(Self).map_err(|_| {
            D::Error::custom(format!(
                "stored event `{}` is not a `{}`",
                wire.event_type,
                std::any::type_name::<E>()
            ))
        })
    }
}
