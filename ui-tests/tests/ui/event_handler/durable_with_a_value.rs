use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(durable = true)]
async fn credit(_event: &Deposited) {}

fn main() {}
