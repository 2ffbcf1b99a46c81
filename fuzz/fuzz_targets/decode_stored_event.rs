//! Decoding an event from the bytes a store keeps: the type name, the
//! schema version, the payload and the metadata JSON, as the PostgreSQL
//! store reads them from a row. Nothing may panic or overflow the stack,
//! and an event that decodes must survive the store's round trip: it
//! passes the write-time limits and decodes again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrix::limits;
use orchestrix::message::Metadata;
use orchestrix::prelude::*;
use orchestrix::registry::EventRegistry;

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "fuzz.Deposited", version = 2)]
struct Deposited {
    account: String,
    amount: u64,
    note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Item {
        sku: String,
        quantity: u32,
        price: f64,
    },
    Discount {
        percent: u8,
    },
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "fuzz.OrderPlaced")]
struct OrderPlaced {
    id: String,
    lines: Vec<Line>,
    tags: std::collections::BTreeMap<String, i64>,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "fuzz.Anything")]
struct Anything {
    value: serde_json::Value,
}

const NAMES: [&str; 4] = [
    "fuzz.Deposited",
    "fuzz.OrderPlaced",
    "fuzz.Anything",
    "fuzz.Unknown",
];

fuzz_target!(|data: &[u8]| {
    let [selector, version, rest @ ..] = data else {
        return;
    };
    let name = NAMES[usize::from(*selector) % NAMES.len()];
    let version = u32::from(*version % 3);
    let (payload, metadata) = match rest.iter().position(|&b| b == 0xff) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(registry) = EventRegistry::global() else {
        panic!("the fuzz crate registers each name once");
    };
    let _ = serde_json::from_slice::<Metadata>(metadata);
    let _ = limits::check_json_text(payload, String::new);
    let Ok(message) = registry.decode(name, version, payload) else {
        return;
    };
    // What decoded must be storable again and read back equal.
    let encoded = message.to_json_bytes().expect("a decoded event serializes");
    if message.check_json(&String::new).is_err() {
        // Deeper than the write-time limit (it was written by something
        // else): refused on write, which is the documented rule.
        return;
    }
    let again = registry
        .decode(name, version, &encoded)
        .expect("what the store writes, it reads back");
    assert_eq!(format!("{message:?}"), format!("{again:?}"));
});
