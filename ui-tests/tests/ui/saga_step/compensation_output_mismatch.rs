use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[saga_step(compensate = release_inventory)]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

// Takes a `String` where the step's output is `Option<Reservation>`.
async fn release_inventory(_order: &OrderData, _reservation: Option<String>) -> Result<(), StepFailure> {
    Ok(())
}

fn main() {}
