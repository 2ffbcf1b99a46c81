use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(retries = 3)]
async fn retried(_event: &Deposited) {}

fn main() {}
