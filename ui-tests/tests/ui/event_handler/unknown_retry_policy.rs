use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(durable, retry = forever)]
async fn credit(_event: &Deposited) {}

fn main() {}
