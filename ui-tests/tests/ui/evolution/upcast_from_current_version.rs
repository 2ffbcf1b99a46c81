use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 2, upcast(from = 1, with = up), upcast(from = 2, with = up))]
struct Placed {
    order_id: String,
}

fn up(old: serde_json::Value) -> serde_json::Value {
    old
}

fn main() {}
