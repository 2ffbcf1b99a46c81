use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(name = "a", name = "b")]
async fn named_twice(_event: &Deposited) {}

fn main() {}
