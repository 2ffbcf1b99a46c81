use orchestrix::prelude::*;

#[derive(Deserialize)]
struct PlacedV1 {
    order: String,
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2, upcast(from = 1, shape = PlacedV1))]
struct Placed {
    order_id: String,
}

fn main() {}
