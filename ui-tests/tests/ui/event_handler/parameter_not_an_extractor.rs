use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn takes_a_number(_event: &Deposited, count: u32) {
    let _ = count;
}

fn main() {}
