//! Two different handler fns under one name for one event type are refused
//! when the bus is built, naming both fns. Its own test binary: the clashing
//! handlers make `register_handlers()` fail for every bus in the program.

use orchestrix::prelude::*;
use orchestrix::registry::{HandlerFn, SyncHandlerRegistration, find_sync_handler};

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Shipped;

mod warehouse {
    use super::Shipped;
    use orchestrix::prelude::*;

    #[event_handler(name = "audit")]
    pub async fn record_shipment(_event: &Shipped) {}
}

mod billing {
    use super::Shipped;
    use orchestrix::prelude::*;

    #[event_handler(name = "audit")]
    pub async fn record_invoice(_event: &Shipped) {}
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Counted;

fn check_duplicate(error: BusBuildError, event_type: &str, first: &str, second: &str) {
    match error {
        BusBuildError::DuplicateHandler {
            name,
            event_type: found_event,
            first: found_first,
            second: found_second,
            ..
        } => {
            assert_eq!(found_event, event_type);
            assert_eq!(
                (found_first, found_second),
                (first, second),
                "handler name `{name}`"
            );
        }
        other => panic!("expected DuplicateHandler, got {other:?}"),
    }
}

#[test]
fn two_handlers_with_one_custom_name_for_one_event_are_refused() {
    let error = InMemoryAsyncMessageBus::builder()
        .handler(warehouse::record_shipment)
        .handler(billing::record_invoice)
        .build()
        .expect_err("two different handlers named `audit` for `Shipped`");
    let message = error.to_string();
    assert!(message.contains("`audit`"), "{message}");
    assert!(message.contains("#[event_handler(name"), "{message}");
    check_duplicate(
        error,
        "Shipped",
        "bus_duplicate_handlers::billing::record_invoice",
        "bus_duplicate_handlers::warehouse::record_shipment",
    );
}

#[test]
fn register_handlers_refuses_the_clash_too() {
    let error = InMemoryAsyncMessageBus::builder()
        .register_handlers()
        .build()
        .expect_err("the registered handlers clash");
    assert!(matches!(
        error,
        BusBuildError::DuplicateHandler { ref name, .. } if name == "audit"
    ));
}

#[test]
fn same_named_fns_in_two_test_fns_are_two_handlers() {
    fn first_scope() -> SyncHandlerRegistration {
        #[event_handler]
        fn count(_event: &Counted) {}
        *find_sync_handler(HandlerFn::of(&count)).expect("registered")
    }
    fn second_scope() -> SyncHandlerRegistration {
        #[event_handler]
        fn count(_event: &Counted) {}
        *find_sync_handler(HandlerFn::of(&count)).expect("registered")
    }
    let (first, second) = (first_scope(), second_scope());
    // module_path!() ignores fn scopes: both get the same default name.
    assert_eq!(first.name, second.name);

    let error = InMemoryMessageBus::builder()
        .registration(first)
        .registration(second)
        .build()
        .expect_err("two different fns named `count`");
    check_duplicate(
        error,
        "Counted",
        "bus_duplicate_handlers::same_named_fns_in_two_test_fns_are_two_handlers::first_scope::count",
        "bus_duplicate_handlers::same_named_fns_in_two_test_fns_are_two_handlers::second_scope::count",
    );

    // The same fn twice is one handler.
    let bus = InMemoryMessageBus::builder()
        .registration(first)
        .registration(first)
        .build()
        .expect("one handler");
    assert_eq!(bus.handler_count::<Counted>(), 1);
}
