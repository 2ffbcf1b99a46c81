// A repository without snapshots loads and saves an aggregate that has no
// serde derives.
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
    let mut account = AggregateRoot::<Account>::new("acc-1");
    account.record(Deposited { amount: 7 });
    repo.save(&mut account).expect("saved");
    let loaded = repo.load::<Account>("acc-1").expect("loaded");
    assert_eq!(loaded.balance, 7);
}
