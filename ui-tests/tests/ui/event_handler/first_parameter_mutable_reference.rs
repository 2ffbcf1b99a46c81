use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn mutable(event: &mut Deposited) {
    event.amount += 1;
}

fn main() {}
