use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(version = 1, version = 2)]
struct Deposited {
    amount: u64,
}

fn main() {}
