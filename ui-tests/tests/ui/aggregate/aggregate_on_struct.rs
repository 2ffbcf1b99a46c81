use orchestrix::prelude::*;

#[aggregate]
#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

fn main() {}
