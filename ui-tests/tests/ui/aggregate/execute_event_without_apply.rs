use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Withdrawn {
    amount: u64,
}

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    fn withdraw(&self) -> Result<(Deposited, Withdrawn), String> {
        Ok((Deposited { amount: 0 }, Withdrawn { amount: 5 }))
    }
}

fn withdraw(account: &mut AggregateRoot<Account>) -> Result<(), String> {
    account.execute(|account| account.withdraw())
}

fn main() {}
