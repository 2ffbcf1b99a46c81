use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(nmae = "Deposited", version = 0)]
struct Deposited {
    amount: u64,
}

fn main() {}
