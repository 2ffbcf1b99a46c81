use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2, upcast(from = 0, with = v0_to_v1))]
struct Placed {
    order_id: String,
}

fn v0_to_v1(v0: serde_json::Value) -> serde_json::Value {
    v0
}

fn main() {}
