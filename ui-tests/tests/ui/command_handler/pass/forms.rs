use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
struct Deposit { account_id: String, amount: u64 }

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited { amount: u64 }

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account { balance: u64 }

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

#[derive(Command, Debug, Serialize, Deserialize)]
struct Open(uuid_like::Id);

mod uuid_like {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    pub struct Id(pub u64);
    impl std::fmt::Display for Id {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "acc-{}", self.0) }
    }
}

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }

    /// A method: the state is `&self`.
    #[command_handler(aggregate_id = account_id, create_if_missing, retry_on_conflict = 3)]
    fn deposit(&self, command: &Deposit) -> Result<(Deposited, Option<Deposited>), Refused> {
        Ok((Deposited { amount: command.amount }, None))
    }
}

/// A free fn, on a tuple struct's field, with a custom name; no events is fine.
#[command_handler(aggregate_id = 0, name = "open-account")]
fn open(_account: &Account, _command: &Open) -> Result<(), std::convert::Infallible> {
    Ok(())
}

fn main() {
    let _bus = InMemoryAsyncMessageBus::builder()
        .event_store(std::sync::Arc::new(InMemoryAsyncEventStore::new()))
        .command_handler(open)
        .command_handler(Account::deposit)
        .register_handlers()
        .build()
        .expect("both are command handlers");
}
