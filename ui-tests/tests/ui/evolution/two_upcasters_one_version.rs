use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(
    version = 2,
    upcast(from = 1, with = first),
    upcast(from = 1, with = second)
)]
struct Placed {
    order_id: String,
}

fn first(v1: serde_json::Value) -> serde_json::Value {
    v1
}

fn second(v1: serde_json::Value) -> serde_json::Value {
    v1
}

fn main() {}
