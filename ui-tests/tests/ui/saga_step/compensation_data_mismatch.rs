use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

struct OtherData;

#[saga_step(compensate = release_inventory)]
fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

// Takes another saga's data.
fn release_inventory(_data: &OtherData, _reservation: Option<Reservation>) -> Result<(), StepFailure> {
    Ok(())
}

fn main() {}
