use orchestrix::prelude::*;

// An enum is one event type: every variant is stored under the enum's name.
#[derive(Event, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "account.Changed", version = 2)]
enum AccountChanged {
    Opened { owner: String },
    Closed,
}

fn main() {
    assert_eq!(AccountChanged::NAME, "account.Changed");
    assert_eq!(AccountChanged::VERSION, 2);
    let registry = orchestrix::registry::EventRegistry::global().expect("one type per name");
    assert!(registry.get("account.Changed").is_some());
    let _ = (AccountChanged::Opened { owner: "ann".into() }, AccountChanged::Closed);
}
