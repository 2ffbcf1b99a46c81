use orchestrix::evolution::Upcasted;
use orchestrix::prelude::*;

#[derive(Deserialize)]
struct PlacedV1 {
    order: String,
}

#[derive(Deserialize, Serialize)]
struct PlacedV3 {
    order_id: String,
    cents: u64,
}

// Typed (1 -> 2, to JSON), JSON (2 -> 3, to a typed shape), typed and
// fallible (3 -> 4), a former name.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(
    name = "shop.OrderPlaced",
    version = 4,
    alias = "shop.OrderCreated",
    alias = "shop.OrderTaken",
    upcast(from = 1, shape = PlacedV1, with = v1_to_v2),
    upcast(from = 2, with = v2_to_v3),
    upcast(from = 3, shape = PlacedV3, with = v3_to_v4),
)]
struct Placed {
    order_id: String,
    total: u64,
}

fn v1_to_v2(old: PlacedV1) -> serde_json::Value {
    serde_json::json!({ "order_id": old.order })
}

fn v2_to_v3(mut v2: serde_json::Value) -> serde_json::Value {
    v2["cents"] = 0.into();
    v2
}

fn v3_to_v4(old: PlacedV3) -> Result<Placed, std::io::Error> {
    Ok(Placed { order_id: old.order_id, total: old.cents })
}

// A split from the oldest version; versions below `since` never stored.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 3, since = 2, upcast(from = 2, split = split_v2))]
struct Opened {
    owner: String,
}

fn split_v2(old: serde_json::Value) -> Upcasted {
    let owner = old["owner"].as_str().unwrap_or_default().to_owned();
    Upcasted::one(Opened { owner }).and(Placed { order_id: String::new(), total: 0 })
}

// No upcaster in the attribute: the start-up check reports the gap.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2)]
struct Shipped;

fn main() {}
