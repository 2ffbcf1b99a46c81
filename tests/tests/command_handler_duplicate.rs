//! Two `#[command_handler]`s of one command: the bus refuses to build,
//! naming both (a command has one handler). In a file of its own, since
//! every `register_handlers()` of this binary meets both.

use std::sync::Arc;

use orchestrix::bus::BusBuildError;
use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
#[command(name = "tests.dup.Withdraw")]
struct Withdraw {
    account_id: String,
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.dup.Withdrawn")]
struct Withdrawn {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[aggregate(name = "tests.dup.Account")]
impl Account {
    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount);
    }
}

#[command_handler(aggregate_id = account_id)]
fn withdraw(_account: &Account, command: &Withdraw) -> Result<Withdrawn, std::convert::Infallible> {
    Ok(Withdrawn {
        amount: command.amount,
    })
}

#[command_handler(aggregate_id = account_id)]
fn withdraw_again(
    _account: &Account,
    command: &Withdraw,
) -> Result<Withdrawn, std::convert::Infallible> {
    Ok(Withdrawn {
        amount: command.amount,
    })
}

fn assert_names_both(error: &BusBuildError) {
    let BusBuildError::DuplicateCommandHandler {
        command,
        first,
        second,
    } = error
    else {
        panic!("unexpected error {error}");
    };
    assert_eq!(*command, "tests.dup.Withdraw");
    assert!(
        first.ends_with("::withdraw") && second.ends_with("::withdraw_again"),
        "{error}"
    );
}

#[test]
fn two_handlers_of_one_command_subscribed_by_name_are_refused_naming_both() {
    let error = InMemoryMessageBus::builder()
        .event_store(Arc::new(InMemoryEventStore::new()))
        .command_handler(withdraw)
        .command_handler(withdraw_again)
        .build()
        .expect_err("two handlers of Withdraw");
    assert_names_both(&error);
}

#[test]
fn two_registered_handlers_of_one_command_are_refused_and_one_given_twice_is_kept_once() {
    let error = InMemoryMessageBus::builder()
        .event_store(Arc::new(InMemoryEventStore::new()))
        .register_handlers()
        .build()
        .expect_err("two handlers of Withdraw");
    assert_names_both(&error);

    InMemoryMessageBus::builder()
        .event_store(Arc::new(InMemoryEventStore::new()))
        .command_handler(withdraw)
        .command_handler(withdraw)
        .build()
        .expect("the same handler twice is one handler");
}
