use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

// Only a durable handler has processed ids kept for it.
#[event_handler(idempotent)]
async fn credit(_event: &Deposited) {}

fn main() {}
