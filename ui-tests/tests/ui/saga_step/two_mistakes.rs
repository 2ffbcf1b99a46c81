use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

#[saga_step(timeout = "soon", retries = 3)]
async fn reserve(order: &OrderData) -> Result<String, StepFailure> {
    Ok(order.id.clone())
}

fn main() {}
