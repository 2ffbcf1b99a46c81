use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[saga_step(compensation = release_inventory)]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

async fn release_inventory(_order: &OrderData, _reservation: Option<Reservation>) -> Result<(), StepFailure> {
    Ok(())
}

fn main() {}
