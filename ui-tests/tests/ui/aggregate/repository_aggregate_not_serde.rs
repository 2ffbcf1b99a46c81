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
    // Snapshots are what need serde: asking for them is the error.
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<Account>(SnapshotPolicy::every(10));
    let _ = repo.load::<Account>("acc-1");
}
