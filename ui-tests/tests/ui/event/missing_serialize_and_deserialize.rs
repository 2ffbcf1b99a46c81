use orchestrix::prelude::*;

#[derive(Event, Debug)]
struct Deposited {
    amount: u64,
}

fn main() {}
