use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[saga_step(timeout_ms = "500ms")]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

fn main() {}
