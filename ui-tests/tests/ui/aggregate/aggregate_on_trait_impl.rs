use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

trait Named {
    fn name(&self) -> &'static str;
}

#[aggregate]
impl Named for Account {
    fn name(&self) -> &'static str {
        "account"
    }
}

fn main() {}
