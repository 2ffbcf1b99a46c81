use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
fn returns_a_result_with_a_value(event: &Deposited) -> Result<u64, std::io::Error> {
    Ok(event.amount)
}

fn main() {}
