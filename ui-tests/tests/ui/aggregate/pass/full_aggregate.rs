use orchestrix::aggregate::Aggregate as _;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Opened {
    owner: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: u64,
}

#[orchestrix::prelude::aggregate(name = "bank.Account", ignore_unknown_events)]
impl Account {
    /// Doc comments and other attributes stay.
    #[orchestrix::prelude::apply]
    fn opened(&mut self, event: &Opened) {
        self.owner.clone_from(&event.owner);
    }

    #[apply]
    fn deposited(&mut self, event: &self::Deposited) {
        self.balance += event.amount;
    }

    /// A plain method next to the #[apply] ones.
    fn balance(&self) -> u64 {
        self.balance
    }
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Empty;

#[aggregate]
impl Empty {}

fn main() {
    let mut account = AggregateRoot::<Account>::new("acc-1");
    account.record(Opened {
        owner: "Ada".into(),
    });
    account.record(Deposited { amount: 5 });
    assert_eq!(account.balance(), 5);
    assert_eq!(Account::AGGREGATE_TYPE, "bank.Account");
    assert!(Empty::EVENT_TYPES.is_empty());
    let repo = AggregateRepository::new(orchestrix::store::InMemoryEventStore::new());
    repo.save(&mut account).expect("save");
}
