use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn by_value(event: Deposited) {
    let _ = event.amount;
}

fn main() {}
