use orchestrix::prelude::*;

#[derive(Event, Debug, Deserialize)]
struct Deposited {
    amount: u64,
}

fn main() {}
