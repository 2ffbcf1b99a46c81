use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

struct Inventory;

impl Inventory {
    #[saga_step]
    async fn reserve(order: &OrderData) -> Result<Reservation, StepFailure> {
        Ok(Reservation { id: order.id.clone() })
    }
}

fn main() {}
