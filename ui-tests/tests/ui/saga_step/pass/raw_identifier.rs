use orchestrix::prelude::*;

#[derive(Serialize, Deserialize)]
struct OrderData {
    id: String,
}

// A raw identifier is named without its `r#`.
#[saga_step]
fn r#move(_order: &OrderData) -> Result<(), StepFailure> {
    Ok(())
}

fn main() {
    let step: SagaStep<OrderData> = move_step();
    assert_eq!(step.name(), "move");
}
