use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler(
    durable,
    idempotent,
    strict_order,
    group = "accounts",
    retry = exponential(base_ms = 10, max_attempts = 5, max_delay_ms = 1000, jitter = false)
)]
async fn credit(_event: &Deposited) {}

#[event_handler(retry = fixed(delay_ms = 5, max_attempts = 2))]
fn audit(_event: &Deposited) {}

fn main() {
    use orchestrix::registry::{HandlerFn, find_async_handler, find_sync_handler};
    let durable = find_async_handler(HandlerFn::of(&credit)).expect("registered").delivery;
    assert!(durable.is_durable() && durable.is_idempotent() && durable.is_strict_order());
    assert_eq!(durable.group(), Some("accounts"));
    let audit = find_sync_handler(HandlerFn::of(&audit)).expect("registered");
    assert_eq!(audit.delivery.retry().max_attempts(), 2);
}
