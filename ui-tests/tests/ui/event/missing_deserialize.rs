use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize)]
struct Deposited {
    amount: u64,
}

fn main() {}
