use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(nmae = "receipts", name = 5)]
async fn send_receipt(event: &Deposited) {
    let _ = event.amount;
}

fn main() {}
