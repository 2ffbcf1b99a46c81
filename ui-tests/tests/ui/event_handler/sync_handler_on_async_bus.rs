use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
fn plain(_event: &Deposited) {}

fn main() {
    let _ = InMemoryAsyncMessageBus::builder().handler::<plain>().build();
}
