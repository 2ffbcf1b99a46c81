use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "bank.Withdrawn")]
struct Withdrawn {
    amount: u64,
}

#[derive(Event, Debug, Serialize, Deserialize)]
// `since`: no older version was ever stored, so none needs an upcaster
// (`registry::validate()` checks it).
#[event(version = 3, since = 3)]
struct Closed;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "bank.Frozen", version = 2, since = 2)]
struct Frozen {
    reason: String,
}

// Options may also be split over two attributes.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "bank.Renamed")]
#[event(version = 7, since = 7)]
struct Renamed;

fn main() {
    assert_eq!((Deposited::NAME, Deposited::VERSION), ("Deposited", 1));
    assert_eq!((Withdrawn::NAME, Withdrawn::VERSION), ("bank.Withdrawn", 1));
    assert_eq!((Closed::NAME, Closed::VERSION), ("Closed", 3));
    assert_eq!((Frozen::NAME, Frozen::VERSION), ("bank.Frozen", 2));
    assert_eq!((Renamed::NAME, Renamed::VERSION), ("bank.Renamed", 7));
    assert!(orchestrix::registry::validate().is_ok());
}
