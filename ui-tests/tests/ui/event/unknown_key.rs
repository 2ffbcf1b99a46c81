use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(nmae = "Deposited")]
struct Deposited {
    amount: u64,
}

fn main() {}
