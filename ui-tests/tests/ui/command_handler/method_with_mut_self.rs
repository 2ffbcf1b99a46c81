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

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }

    #[command_handler(aggregate_id = account_id)]
    fn deposit(&mut self, command: &Deposit) -> Result<Deposited, Refused> {
        Ok(Deposited { amount: command.amount })
    }
}

fn main() {}
