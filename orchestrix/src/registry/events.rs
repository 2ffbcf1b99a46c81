//! The event-type registry: from a stored event's name back to its Rust type.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{DecodeError, RegistryError};
use crate::evolution::{UpcastError, Upcasted, UpcasterGap};
use crate::message::{AnyMessage, Event};

/// What a registered decoder gives: the event, shared, or why its JSON did
/// not fit the Rust type.
pub type DecodeResult = Result<Arc<dyn AnyMessage>, serde_json::Error>;

/// What `#[derive(Event)]` submits for each event type: its name, schema
/// version, Rust type and a decoder from JSON.
///
/// Built by [`EventRegistration::of`] in a `const` context, so the derive can
/// hand it to `inventory`.
#[derive(Clone, Copy)]
pub struct EventRegistration {
    /// The registered name (CloudEvents `type`).
    pub name: &'static str,
    /// The schema version the Rust type reads and writes.
    pub version: u32,
    /// `std::any::type_name` of the Rust type.
    pub rust_type: fn() -> &'static str,
    /// `TypeId` of the Rust type.
    pub type_id: fn() -> TypeId,
    /// Decodes JSON text into the Rust type, straight from the bytes.
    pub decode: fn(&[u8]) -> DecodeResult,
    /// Decodes a JSON value into the Rust type.
    pub decode_value: fn(serde_json::Value) -> DecodeResult,
    /// Former names rows of the type may be stored under.
    pub aliases: &'static [&'static str],
    /// The first schema version ever stored.
    pub since: u32,
    /// The versions an upcaster reads, ascending.
    pub upcasts_from: &'static [u32],
    /// Whether an upcaster may yield other event types.
    pub splits: bool,
    /// Upcasts a payload stored at an older version into current events.
    pub upcast: fn(u32, &[u8]) -> Result<Upcasted, UpcastError>,
}

impl EventRegistration {
    /// The registration of `E`.
    pub const fn of<E: Event>() -> Self {
        Self {
            name: E::NAME,
            version: E::VERSION,
            rust_type: std::any::type_name::<E>,
            type_id: TypeId::of::<E>,
            decode: decode_bytes::<E>,
            decode_value: decode_value::<E>,
            aliases: E::ALIASES,
            since: E::SINCE,
            upcasts_from: E::UPCASTS_FROM,
            splits: E::SPLITS,
            upcast: E::upcast,
        }
    }

    /// Decodes a payload stored as `stored_name` (the name or an alias) at
    /// schema `version`: at the current version straight from the bytes
    /// into the Rust type (one pass, no upcaster involved), at an older one
    /// through the declared upcasters.
    pub fn decode_stored(
        &self,
        stored_name: &str,
        version: u32,
        json: &[u8],
    ) -> Result<Upcasted, DecodeError> {
        if version == self.version {
            return (self.decode)(json).map(Upcasted::shared).map_err(|source| {
                DecodeError::Malformed {
                    event_type: stored_name.to_owned(),
                    rust_type: (self.rust_type)(),
                    source,
                }
            });
        }
        if version > self.version {
            return Err(DecodeError::NewerVersion {
                event_type: stored_name.to_owned(),
                stored: version,
                known: self.version,
                rust_type: (self.rust_type)(),
            });
        }
        if version < self.since || !self.upcasts_from.contains(&version) {
            return Err(DecodeError::VersionMismatch {
                event_type: stored_name.to_owned(),
                stored: version,
                registered: self.version,
                rust_type: (self.rust_type)(),
            });
        }
        (self.upcast)(version, json).map_err(|source| DecodeError::Upcast {
            event_type: stored_name.to_owned(),
            stored: version,
            registered: self.version,
            rust_type: (self.rust_type)(),
            source,
        })
    }

    /// The registered name or alias equal to `stored`, as the static text
    /// it is: a reader that got a row stored under `stored` shares it
    /// instead of copying it into every decoded context.
    pub fn static_name(&self, stored: &str) -> Option<&'static str> {
        if self.name == stored {
            return Some(self.name);
        }
        self.aliases.iter().copied().find(|alias| *alias == stored)
    }

    /// The versions from `since` up to the current one that no upcaster
    /// reads.
    fn gaps(&self) -> impl Iterator<Item = UpcasterGap> + '_ {
        (self.since..self.version)
            .filter(|version| !self.upcasts_from.contains(version))
            .map(|missing_from| UpcasterGap {
                event_type: self.name,
                rust_type: (self.rust_type)(),
                missing_from,
                current: self.version,
            })
    }
}

impl std::fmt::Debug for EventRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRegistration")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("rust_type", &(self.rust_type)())
            .finish()
    }
}

fn decode_bytes<E: Event>(json: &[u8]) -> DecodeResult {
    Ok(Arc::new(serde_json::from_slice::<E>(json)?))
}

fn decode_value<E: Event>(json: serde_json::Value) -> DecodeResult {
    Ok(Arc::new(serde_json::from_value::<E>(json)?))
}

inventory::collect!(EventRegistration);

/// Every event type the program knows, by name.
///
/// Filled once from the `#[derive(Event)]` registrations (collected at link
/// time through `inventory`), plus any added by hand with [`register`].
/// Two Rust types under one name make [`EventRegistry::global`] fail with
/// [`RegistryError::DuplicateEventName`], naming both types: call it (or
/// [`validate`]) at start-up to find out early.
///
/// Known limit: `inventory` only sees registrations in code that is linked
/// into the program. A type in a crate the binary never references may be
/// missing; [`register`] adds it by hand.
#[derive(Debug)]
pub struct EventRegistry {
    by_name: RwLock<HashMap<&'static str, EventRegistration>>,
}

static GLOBAL: OnceLock<Result<EventRegistry, RegistryError>> = OnceLock::new();

impl EventRegistry {
    /// The program's registry, built from the collected registrations on
    /// first use.
    pub fn global() -> Result<&'static EventRegistry, RegistryError> {
        GLOBAL
            .get_or_init(|| Self::from_registrations(inventory::iter::<EventRegistration>))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn from_registrations<'a>(
        registrations: impl IntoIterator<Item = &'a EventRegistration>,
    ) -> Result<Self, RegistryError> {
        let mut by_name: HashMap<&'static str, EventRegistration> = HashMap::new();
        let mut duplicates = Vec::new();
        let registrations: Vec<&EventRegistration> = registrations.into_iter().collect();
        for registration in &registrations {
            if let Some(existing) = by_name.get(registration.name) {
                if (existing.type_id)() != (registration.type_id)() {
                    duplicates.push(duplicate(existing, registration));
                }
                continue;
            }
            by_name.insert(registration.name, **registration);
        }
        // Aliases after every name, so an alias never shadows a current name.
        for registration in &registrations {
            if let Err(error) = insert_aliases(&mut by_name, registration) {
                duplicates.push(error);
            }
        }
        // Sorted so the error is the same on every run, whatever order the
        // linker gave the registrations.
        duplicates.sort();
        match duplicates.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(Self {
                by_name: RwLock::new(by_name),
            }),
        }
    }

    /// The registration under `name`.
    pub fn get(&self, name: &str) -> Option<EventRegistration> {
        self.read().get(name).copied()
    }

    /// The names of every registered event type, sorted (aliases are not
    /// listed).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self
            .read()
            .iter()
            .filter(|(name, registration)| **name == registration.name)
            .map(|(name, _)| *name)
            .collect();
        names.sort_unstable();
        names
    }

    /// Adds a registration; registering the same type again is a no-op.
    pub fn insert(&self, registration: EventRegistration) -> Result<(), RegistryError> {
        let mut by_name = self
            .by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = by_name.get(registration.name) {
            if (existing.type_id)() == (registration.type_id)() {
                return Ok(());
            }
            return Err(duplicate(existing, &registration));
        }
        by_name.insert(registration.name, registration);
        insert_aliases(&mut by_name, &registration)
    }

    /// Decodes the JSON payload of an event stored as `name` (its name or
    /// an alias) at schema `version`: at the current version straight into
    /// its Rust type, at an older one through its upcasters, into the
    /// current events it stands for (none, one, or several for a split).
    /// Every store decodes rows through this.
    pub fn decode_stored(
        &self,
        name: &str,
        version: u32,
        json: &[u8],
    ) -> Result<Upcasted, DecodeError> {
        self.lookup(name)?.decode_stored(name, version, json)
    }

    /// Every version of every event type that no upcaster reads, sorted by
    /// type and version; empty when every stored version can be read.
    pub fn upcaster_gaps(&self) -> Vec<UpcasterGap> {
        let mut gaps: Vec<UpcasterGap> = self
            .read()
            .iter()
            .filter(|(name, registration)| **name == registration.name)
            .flat_map(|(_, registration)| registration.gaps().collect::<Vec<_>>())
            .collect();
        gaps.sort();
        gaps
    }

    /// The stored names a reader of `wanted` must also fetch: the aliases
    /// of those types, and the names and aliases of types with a split
    /// upcaster (their rows may yield a wanted type).
    pub(crate) fn stored_names_for(&self, wanted: &[String]) -> Vec<&'static str> {
        let by_name = self.read();
        let mut extra = Vec::new();
        for (name, registration) in by_name.iter() {
            let canonical = *name == registration.name;
            let is_wanted = wanted.iter().any(|w| w == registration.name);
            if (!canonical && is_wanted) || (registration.splits && !is_wanted) {
                extra.push(*name);
            }
        }
        extra.sort_unstable();
        extra
    }

    /// Decodes the JSON payload of an event stored as `name` at schema
    /// `version` into its registered Rust type.
    pub fn decode(
        &self,
        name: &str,
        version: u32,
        json: &[u8],
    ) -> Result<Arc<dyn AnyMessage>, DecodeError> {
        let registration = self.lookup(name)?;
        registration
            .decode_stored(name, version, json)?
            .into_single()
            .map_err(|events| DecodeError::NotOneEvent {
                event_type: name.to_owned(),
                stored: version,
                count: events.len(),
            })
    }

    /// As [`decode`](Self::decode), from a JSON value (at the current
    /// version only).
    pub fn decode_value(
        &self,
        name: &str,
        version: u32,
        json: serde_json::Value,
    ) -> Result<Arc<dyn AnyMessage>, DecodeError> {
        let registration = self.checked(name, version)?;
        (registration.decode_value)(json).map_err(|source| DecodeError::Malformed {
            event_type: name.to_owned(),
            rust_type: (registration.rust_type)(),
            source,
        })
    }

    fn lookup(&self, name: &str) -> Result<EventRegistration, DecodeError> {
        self.get(name).ok_or_else(|| DecodeError::UnknownEventType {
            event_type: name.to_owned(),
        })
    }

    fn checked(&self, name: &str, version: u32) -> Result<EventRegistration, DecodeError> {
        let registration = self.lookup(name)?;
        if registration.version != version {
            return Err(DecodeError::VersionMismatch {
                event_type: name.to_owned(),
                stored: version,
                registered: registration.version,
                rust_type: (registration.rust_type)(),
            });
        }
        Ok(registration)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<&'static str, EventRegistration>> {
        self.by_name
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Adds `registration`'s aliases to the table; an alias naming another type
/// is refused.
fn insert_aliases(
    by_name: &mut HashMap<&'static str, EventRegistration>,
    registration: &EventRegistration,
) -> Result<(), RegistryError> {
    for alias in registration.aliases {
        match by_name.get(alias) {
            Some(existing) if (existing.type_id)() == (registration.type_id)() => {}
            Some(existing) => {
                return Err(RegistryError::AliasTaken {
                    alias,
                    alias_of: (registration.rust_type)(),
                    taken_by: (existing.rust_type)(),
                });
            }
            None => {
                by_name.insert(alias, *registration);
            }
        }
    }
    Ok(())
}

fn duplicate(existing: &EventRegistration, other: &EventRegistration) -> RegistryError {
    let mut types = [(existing.rust_type)(), (other.rust_type)()];
    types.sort_unstable();
    RegistryError::DuplicateEventName {
        name: existing.name,
        first_type: types[0],
        second_type: types[1],
    }
}

/// Registers `E` by hand, for types `inventory` cannot see (see
/// [`EventRegistry`]). Registering a type twice is fine; another type under
/// the same name is an error.
pub fn register<E: Event>() -> Result<(), RegistryError> {
    EventRegistry::global()?.insert(EventRegistration::of::<E>())
}

/// Checks the registrations once; call it at start-up so that two event
/// types under one name, two aggregate types under one aggregate name, or
/// an old schema version of an event that no upcaster reads stop the
/// program before any event is stored or read. Building a bus and opening
/// a database store call it.
///
/// Every missing upcaster is reported at once
/// ([`RegistryError::MissingUpcasters`], naming each type and version).
pub fn validate() -> Result<(), RegistryError> {
    let registry = EventRegistry::global()?;
    let gaps = registry.upcaster_gaps();
    if !gaps.is_empty() {
        return Err(RegistryError::MissingUpcasters { gaps });
    }
    super::check_aggregates([])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "registry-test.Thing")]
    struct Thing {
        size: u32,
    }

    mod other {
        use crate::prelude::*;

        #[derive(Event, Debug, Serialize, Deserialize)]
        #[event(name = "registry-test.Thing")]
        pub(super) struct Impostor;
    }

    #[test]
    fn two_types_under_one_name_name_both_types() {
        let registrations = [
            EventRegistration::of::<Thing>(),
            EventRegistration::of::<other::Impostor>(),
        ];
        let Err(error) = EventRegistry::from_registrations(&registrations) else {
            panic!("a duplicate name must be refused");
        };
        let text = error.to_string();
        assert!(text.contains("registry-test.Thing"), "{text}");
        assert!(text.contains("events::tests::Thing"), "{text}");
        assert!(text.contains("other::Impostor"), "{text}");
    }

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "registry-test.Renamed", version = 2, alias = "registry-test.Thing",
            upcast(from = 1, with = same))]
    struct Renamed {
        size: u32,
    }

    fn same(value: serde_json::Value) -> serde_json::Value {
        value
    }

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "registry-test.Split", version = 2, upcast(from = 1, split = nothing))]
    struct Split;

    fn nothing(_: serde_json::Value) -> Upcasted {
        Upcasted::none()
    }

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "registry-test.Gappy", version = 3)]
    struct Gappy;

    #[test]
    fn an_alias_decodes_through_the_upcasters_and_cannot_name_another_type() {
        let registry = EventRegistry::from_registrations(&[EventRegistration::of::<Renamed>()])
            .expect("one type");
        let message = registry
            .decode("registry-test.Thing", 1, br#"{"size":4}"#)
            .expect("the alias decodes at version 1");
        let renamed: &dyn std::any::Any = &*message;
        assert_eq!(renamed.downcast_ref::<Renamed>().map(|r| r.size), Some(4));
        assert_eq!(
            registry.names(),
            ["registry-test.Renamed"],
            "aliases are not names"
        );
        assert_eq!(
            registry.stored_names_for(&["registry-test.Renamed".to_owned()]),
            ["registry-test.Thing"]
        );

        let taken = EventRegistry::from_registrations(&[
            EventRegistration::of::<Thing>(),
            EventRegistration::of::<Renamed>(),
        ]);
        assert!(
            matches!(
                taken,
                Err(RegistryError::AliasTaken {
                    alias: "registry-test.Thing",
                    ..
                })
            ),
            "{taken:?}"
        );
    }

    #[test]
    fn a_split_is_refused_where_one_event_is_asked_for_and_widens_filters() {
        let registry = EventRegistry::from_registrations(&[EventRegistration::of::<Split>()])
            .expect("one type");
        let dropped = registry.decode_stored("registry-test.Split", 1, b"{}");
        assert!(matches!(dropped, Ok(events) if events.is_empty()));
        let one = registry.decode("registry-test.Split", 1, b"{}");
        assert!(matches!(
            one,
            Err(DecodeError::NotOneEvent { count: 0, .. })
        ));
        assert_eq!(
            registry.stored_names_for(&["other".to_owned()]),
            ["registry-test.Split"],
            "a reader of any type may get events split out of it"
        );
    }

    #[test]
    fn every_gap_is_listed_in_order() {
        let registry = EventRegistry::from_registrations(&[
            EventRegistration::of::<Gappy>(),
            EventRegistration::of::<Renamed>(),
        ])
        .expect("two types");
        let gaps: Vec<(&str, u32)> = registry
            .upcaster_gaps()
            .iter()
            .map(|gap| (gap.event_type, gap.missing_from))
            .collect();
        assert_eq!(
            gaps,
            [("registry-test.Gappy", 1), ("registry-test.Gappy", 2)]
        );
        let stored_v1 = registry.decode("registry-test.Gappy", 1, b"null");
        assert!(matches!(
            stored_v1,
            Err(DecodeError::VersionMismatch { stored: 1, .. })
        ));
    }

    #[test]
    fn decodes_by_name_and_checks_version() {
        let registry = EventRegistry::from_registrations(&[EventRegistration::of::<Thing>()])
            .expect("one type");
        let message = registry
            .decode("registry-test.Thing", 1, br#"{"size":3}"#)
            .expect("decodes");
        let thing: &dyn std::any::Any = &*message;
        assert_eq!(thing.downcast_ref::<Thing>().map(|t| t.size), Some(3));

        let newer = registry.decode("registry-test.Thing", 2, br#"{"size":3}"#);
        assert!(matches!(
            newer,
            Err(DecodeError::NewerVersion {
                stored: 2,
                known: 1,
                ..
            })
        ));

        let unknown = registry.decode("nope", 1, b"{}");
        assert!(matches!(unknown, Err(DecodeError::UnknownEventType { .. })));

        let malformed = registry.decode("registry-test.Thing", 1, br#"{"size":"big"}"#);
        assert!(matches!(malformed, Err(DecodeError::Malformed { .. })));
    }
}
