use orchestrix::prelude::*;

#[derive(Event, Command, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

fn main() {}
