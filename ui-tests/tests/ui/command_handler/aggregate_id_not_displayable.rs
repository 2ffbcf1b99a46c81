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
struct Close { account: Vec<u8> }

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
}

#[command_handler(aggregate_id = account)]
fn close(_account: &Account, _command: &Close) -> Result<(), Refused> {
    Ok(())
}

fn main() {}
