use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
#[command(version = 2, upcast(from = 1, with = v1_to_v2))]
struct PlaceOrder {
    order_id: String,
}

fn v1_to_v2(v1: serde_json::Value) -> serde_json::Value {
    v1
}

fn main() {}
