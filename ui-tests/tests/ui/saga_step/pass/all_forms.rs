use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[saga_step(compensate = release_inventory, retry = exponential(base_ms = 10, max_attempts = 5), timeout_ms = 500)]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    Ok(Reservation { id: order.id.clone() })
}

async fn release_inventory(_order: &OrderData, _reservation: Option<Reservation>) -> Result<(), StepFailure> {
    Ok(())
}

#[saga_step(name = "charge", compensate = refund, retry = linear(base_ms = 5, max_attempts = 2))]
pub fn charge_payment(_order: &OrderData, context: &StepContext) -> Result<String, std::io::Error> {
    Ok(context.idempotency_key())
}

fn refund(_order: &OrderData, _charge: Option<String>, _context: &StepContext) -> Result<(), String> {
    Ok(())
}

#[saga_step(retry = none)]
fn ship(_order: &OrderData) -> Result<(), StepFailure> {
    Ok(())
}

fn main() {
    let steps: Vec<SagaStep<OrderData>> = vec![reserve_inventory_step(), charge_payment_step(), ship_step()];
    let _ = steps;
}
