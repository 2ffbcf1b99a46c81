use orchestrix::prelude::*;

#[derive(Deserialize)]
struct PlacedV1 {
    order: String,
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2, upcast(from = 1, shape = PlacedV1, with = v1_to_v2))]
struct Placed {
    order_id: String,
}

// Returns version 1 again instead of version 2 (the event itself).
fn v1_to_v2(old: PlacedV1) -> PlacedV1 {
    old
}

fn main() {}
