//! Two instances of a generic aggregate share its name: the command handlers
//! that use them reveal both when the bus is built, which is refused naming
//! both instances.

use std::sync::Arc;

use orchestrix::bus::BusBuildError;
use orchestrix::error::RegistryError;
use orchestrix::prelude::*;

#[derive(Default, Debug, Serialize, Deserialize)]
struct Ledger<T> {
    entries: Vec<T>,
}

#[aggregate]
impl<T: Default + Send + Sync + 'static> Ledger<T> {}

#[derive(Command, Debug, Serialize, Deserialize)]
struct Post {
    ledger: String,
}

#[derive(Command, Debug, Serialize, Deserialize)]
struct PostText {
    ledger: String,
}

#[command_handler(aggregate_id = ledger)]
fn post(_ledger: &Ledger<u64>, _command: &Post) -> Result<(), std::convert::Infallible> {
    Ok(())
}

#[command_handler(aggregate_id = ledger)]
fn post_text(
    _ledger: &Ledger<String>,
    _command: &PostText,
) -> Result<(), std::convert::Infallible> {
    Ok(())
}

#[test]
fn two_instances_of_a_generic_aggregate_used_by_command_handlers_stop_the_bus() {
    let error = InMemoryAsyncMessageBus::builder()
        .event_store(Arc::new(InMemoryAsyncEventStore::new()))
        .register_handlers()
        .build()
        .expect_err("Ledger<u64> and Ledger<String> are both `Ledger`");
    let BusBuildError::Registry(RegistryError::DuplicateAggregateType {
        name,
        first_type,
        second_type,
    }) = &error
    else {
        panic!("unexpected error {error}");
    };
    assert_eq!(*name, "Ledger");
    let mut both = [*first_type, *second_type];
    both.sort_unstable();
    assert_eq!(
        both,
        [
            "aggregate_duplicate_generic::Ledger<alloc::string::String>",
            "aggregate_duplicate_generic::Ledger<u64>"
        ]
    );

    // One of them alone is fine.
    InMemoryAsyncMessageBus::builder()
        .event_store(Arc::new(InMemoryAsyncEventStore::new()))
        .command_handler(post)
        .build()
        .expect("one Ledger instance");
}
