//! The start-up check: every old schema version of every event type must be
//! read by an upcaster (or lie before the event's `since`); `validate()`
//! reports every gap at once, naming type and version. (Its own test
//! binary: these types would stop every other test's start-up.)

use orchestrix::error::RegistryError;
use orchestrix::evolution::UpcasterGap;
use orchestrix::prelude::*;

/// At version 3 with no upcaster: versions 1 and 2 cannot be read.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "evo-gap.Shipped", version = 3)]
struct Shipped {
    parcel: String,
}

/// At version 2, first stored at version 2: nothing to upcast.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "evo-gap.Packed", version = 2, since = 2)]
struct Packed;

/// At version 2 with no upcaster: version 1 cannot be read.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "evo-gap.Billed", version = 2)]
struct Billed;

#[test]
fn validate_reports_every_missing_upcaster_naming_type_and_version() {
    let Err(RegistryError::MissingUpcasters { gaps }) = orchestrix::registry::validate() else {
        panic!("the missing upcasters must be reported");
    };
    let found: Vec<(&str, u32, u32)> = gaps
        .iter()
        .map(|gap: &UpcasterGap| (gap.event_type, gap.missing_from, gap.current))
        .collect();
    assert_eq!(
        found,
        [
            ("evo-gap.Billed", 1, 2),
            ("evo-gap.Shipped", 1, 3),
            ("evo-gap.Shipped", 2, 3),
        ],
        "every gap, sorted; `since = 2` covers Packed"
    );
    assert!(gaps[0].rust_type.ends_with("Billed"));
    let text = RegistryError::MissingUpcasters { gaps }.to_string();
    assert!(
        text.contains("`evo-gap.Shipped`") && text.contains("no upcaster from version 2"),
        "{text}"
    );
    // The types themselves are fine to use: only reading old rows fails.
    let _ = (
        Shipped {
            parcel: String::new(),
        },
        Packed,
        Billed,
    );
}

#[test]
fn a_bus_does_not_build_while_an_upcaster_is_missing() {
    let built = orchestrix::bus::InMemoryMessageBus::builder().build();
    assert!(
        matches!(
            built,
            Err(orchestrix::bus::BusBuildError::Registry(
                RegistryError::MissingUpcasters { .. }
            ))
        ),
        "{built:?}"
    );
}
