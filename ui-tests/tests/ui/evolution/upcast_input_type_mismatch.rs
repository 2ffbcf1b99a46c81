use orchestrix::prelude::*;

#[derive(Deserialize)]
struct PlacedV1 {
    order: String,
}

#[derive(Deserialize)]
struct SomethingElse;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2, upcast(from = 1, shape = PlacedV1, with = v1_to_v2))]
struct Placed {
    order_id: String,
}

// Takes another type than the shape declared for version 1.
fn v1_to_v2(_old: SomethingElse) -> Placed {
    Placed { order_id: String::new() }
}

fn main() {}
