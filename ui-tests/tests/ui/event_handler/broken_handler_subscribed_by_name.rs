use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

// The handler's mistake is the only error: subscribing it with `.handler(...)` below
// adds none.
#[event_handler]
async fn send_receipt(event: Deposited) {
    let _ = event.amount;
}

fn subscribe() -> Result<InMemoryAsyncMessageBus, BusBuildError> {
    InMemoryAsyncMessageBus::builder()
        .handler(send_receipt)
        .build()
}

fn main() {
    let _ = subscribe;
}
