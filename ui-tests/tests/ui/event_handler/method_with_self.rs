use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

struct Handlers;

impl Handlers {
    #[event_handler]
    async fn on_deposit(&self, event: &Deposited) {
        let _ = event.amount;
    }
}

fn main() {}
