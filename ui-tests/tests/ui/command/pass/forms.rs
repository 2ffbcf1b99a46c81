use orchestrix::message::MessageKind;
use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
struct OpenAccount {
    owner: String,
}

#[derive(Command, Debug, Serialize, Deserialize)]
#[command(name = "account.Close", version = 2)]
enum CloseAccount {
    Now,
    At { day: u32 },
}

fn main() {
    assert_eq!((OpenAccount::NAME, OpenAccount::VERSION), ("OpenAccount", 1));
    assert_eq!((CloseAccount::NAME, CloseAccount::VERSION), ("account.Close", 2));
    assert_eq!(OpenAccount::KIND, MessageKind::Command);
    // Commands are not event types: the event registry does not know them.
    let registry = orchestrix::registry::EventRegistry::global().expect("consistent");
    assert!(registry.get("account.Close").is_none());
    let _ = (CloseAccount::Now, CloseAccount::At { day: 1 });
}
