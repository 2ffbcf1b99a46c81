use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

struct Ledger;

impl Ledger {
    // No `self`: reads like a free fn, but it is an associated one.
    #[event_handler]
    async fn on_deposit(event: &Deposited) {
        let _ = event.amount;
    }
}

fn main() {}
