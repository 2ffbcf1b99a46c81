//! A handler declared inside a fn body (a test) is registered for every bus
//! of the binary that uses `register_handlers()`; a test that wants only its
//! own handlers names them.

use std::sync::atomic::{AtomicU32, Ordering};

use orchestrix::bus::Dep;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.in_tests.Pinged")]
struct Pinged;

#[derive(Default)]
struct Calls {
    other_test: AtomicU32,
}

#[tokio::test]
async fn a_handler_declared_in_another_test_is_subscribed_by_register_handlers() {
    // Declared in the body of `only_named_handlers_run_when_the_test_names_them`,
    // yet `register_handlers()` here subscribes it.
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Calls::default())
        .register_handlers()
        .build()
        .expect("builds");
    assert_eq!(bus.handler_count::<Pinged>(), 1);
    bus.publish(Pinged).await.expect("handled");
    let calls = bus.dependencies().get::<Calls>().expect("calls");
    assert_eq!(calls.other_test.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn only_named_handlers_run_when_the_test_names_them() {
    #[event_handler]
    async fn counted_elsewhere(_event: &Pinged, calls: Dep<Calls>) {
        calls.other_test.fetch_add(1, Ordering::SeqCst);
    }

    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Calls::default())
        .build()
        .expect("builds");
    // No `register_handlers()`: nothing from elsewhere in the binary.
    assert_eq!(bus.handler_count::<Pinged>(), 0);

    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Calls::default())
        .handler::<counted_elsewhere>()
        .build()
        .expect("builds");
    bus.publish(Pinged).await.expect("handled");
    let calls = bus.dependencies().get::<Calls>().expect("calls");
    assert_eq!(calls.other_test.load(Ordering::SeqCst), 1);
}
