use orchestrix::prelude::*;

#[derive(Event, Debug)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn on_deposit(event: &Deposited) {
    let _ = event.amount;
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

fn main() {}
