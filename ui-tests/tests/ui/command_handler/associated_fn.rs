use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
struct Deposit {
    account_id: String,
    amount: u64,
}

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account;

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, _event: &Deposited) {}
}

struct Handlers;

impl Handlers {
    // Not a method of the aggregate, and not a free fn.
    #[command_handler(aggregate_id = account_id)]
    fn deposit(_account: &Account, command: &Deposit) -> Result<Deposited, std::convert::Infallible> {
        Ok(Deposited { amount: command.amount })
    }
}

fn main() {}
