use orchestrix::prelude::*;
use orchestrix::registry::SyncHandlerFn;

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
    let name = <r#match as SyncHandlerFn>::REGISTRATION.name;
    // The module path is trybuild's crate name; the fn's part has no `r#`.
    assert!(name.ends_with("::match"), "{name}");
    assert!(!name.contains("r#"), "{name}");
}
