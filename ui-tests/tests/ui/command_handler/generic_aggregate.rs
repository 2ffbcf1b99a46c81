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

#[derive(Default, Debug, Serialize, Deserialize)]
struct Ledger<T> { entries: Vec<T> }

#[aggregate]
impl<T: Default + Send + Sync + 'static> Ledger<T> {
    #[command_handler(aggregate_id = account_id)]
    fn deposit(&self, command: &Deposit) -> Result<(), Refused> {
        let _ = command;
        Ok(())
    }
}

fn main() {}
