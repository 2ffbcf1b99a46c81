// A handler named like a module and a struct of the same scope: the macros
// take no name in the type namespace, so neither clashes.
use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Command, Debug, Serialize, Deserialize)]
struct Open {
    account_id: String,
}

#[derive(Event, Debug, Serialize, Deserialize)]
struct Opened;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account;

#[aggregate]
impl Account {
    #[apply]
    fn opened(&mut self, _event: &Opened) {}

    #[command_handler(aggregate_id = account_id)]
    fn reopen(&self, _command: &Reopen) -> Result<Opened, std::convert::Infallible> {
        Ok(Opened)
    }
}

#[derive(Command, Debug, Serialize, Deserialize)]
struct Reopen {
    account_id: String,
}

mod send_receipt {
    pub const SENT: &str = "sent";
}

#[allow(non_camel_case_types, dead_code)]
struct audit {
    entries: u32,
}

#[allow(non_camel_case_types, dead_code)]
enum open {}

#[event_handler]
async fn send_receipt(event: &Deposited) {
    let _ = (event.amount, send_receipt::SENT);
}

#[event_handler]
fn audit(_event: &Deposited) {}

#[command_handler(aggregate_id = account_id, create_if_missing)]
fn open(_account: &Account, _command: &Open) -> Result<Opened, std::convert::Infallible> {
    Ok(Opened)
}

fn main() {
    // The async bus runs both kinds; each is given by value.
    let bus = InMemoryAsyncMessageBus::builder()
        .handler(send_receipt)
        .handler(audit)
        .command_handler(open)
        // A handler written as an aggregate method is given by its path.
        .command_handler(Account::reopen)
        .event_store(std::sync::Arc::new(InMemoryAsyncEventStore::new()))
        .build()
        .expect("both are handlers");
    assert_eq!(bus.handler_count::<Deposited>(), 2);
    let _ = audit { entries: 0 }.entries;
}
