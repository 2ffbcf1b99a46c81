use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug)]
struct Account {
    balance: u64,
}

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let _ = repo.load::<Account>("acc-1");
}
