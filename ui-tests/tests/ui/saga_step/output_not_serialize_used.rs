use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

struct Reservation {
    id: String,
}

#[saga_step]
async fn reserve(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

fn main() {
    let _ = reserve_step();
}
