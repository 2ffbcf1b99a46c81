use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
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

async fn load_from_a_blocking_store() {
    let repo = AggregateRepository::new(orchestrix::store::InMemoryEventStore::new());
    let _ = repo.load_async::<Account>("acc-1").await;
}

fn main() {}
