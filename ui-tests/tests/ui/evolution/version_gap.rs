use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 3, upcast(from = 2, with = v2_to_v3))]
struct Placed {
    order_id: String,
}

fn v2_to_v3(v2: serde_json::Value) -> serde_json::Value {
    v2
}

fn main() {}
