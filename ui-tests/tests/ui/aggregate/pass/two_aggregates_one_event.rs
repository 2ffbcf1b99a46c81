use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Ledger {
    total: u64,
}

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

#[aggregate]
impl Ledger {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.total += event.amount;
    }
}

fn main() {}
