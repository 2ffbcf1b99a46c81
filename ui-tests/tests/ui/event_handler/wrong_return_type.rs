use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn returns_a_number(event: &Deposited) -> u64 {
    event.amount
}

fn main() {}
