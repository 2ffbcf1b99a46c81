use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "shop.OrderPlaced", alias = "shop.OrderPlaced")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
