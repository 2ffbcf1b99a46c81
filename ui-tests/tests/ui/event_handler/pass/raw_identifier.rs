use orchestrix::prelude::*;
use orchestrix::registry::{HandlerFn, find_sync_handler};

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

// A raw identifier is named without its `r#`.
#[event_handler]
fn r#match(event: &Deposited) {
    let _ = event.amount;
}

fn main() {
    let name = find_sync_handler(HandlerFn::of(&r#match)).expect("registered").name;
    // The module path is trybuild's crate name; the fn's part has no `r#`.
    assert!(name.ends_with("::match"), "{name}");
    assert!(!name.contains("r#"), "{name}");
}
