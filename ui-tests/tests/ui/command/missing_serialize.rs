use orchestrix::prelude::*;

#[derive(Command, Debug, Deserialize)]
struct Deposit {
    amount: u64,
}

fn main() {}
