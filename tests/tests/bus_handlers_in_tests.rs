//! A handler declared inside a fn body (a test) is registered for every bus
//! of the binary that uses `register_handlers()`; a test that wants only its
//! own handlers names them.

use std::sync::atomic::{AtomicU32, Ordering};

use orchestrix::bus::Dep;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.in_tests.Pinged")]
struct Pinged;

/// The event of the tests below, so their handlers do not count as
/// `Pinged` handlers above.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.in_tests.Tocked")]
struct Tocked;

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
        .handler(counted_elsewhere)
        .build()
        .expect("builds");
    bus.publish(Pinged).await.expect("handled");
    let calls = bus.dependencies().get::<Calls>().expect("calls");
    assert_eq!(calls.other_test.load(Ordering::SeqCst), 1);
}

#[test]
fn a_bus_given_handlers_by_value_has_only_those() {
    #[event_handler]
    fn audited(_event: &Tocked) {}

    // The blocking bus: only `audited`, though the binary registers an
    // `async fn` handler of `Tocked` too (which `register_handlers()` would
    // make it refuse).
    let bus = InMemoryMessageBus::builder()
        .handler(audited)
        .build()
        .expect("builds");
    assert_eq!(bus.handler_count::<Tocked>(), 1);
}

#[test]
fn a_fn_without_event_handler_given_to_handler_is_a_typed_build_error() {
    fn not_marked(_event: &Tocked) {}

    let error = InMemoryAsyncMessageBus::builder()
        .handler(not_marked)
        .build()
        .expect_err("not an #[event_handler]");
    match &error {
        BusBuildError::NotAHandler {
            given,
            method,
            attribute,
        } => {
            assert!(given.ends_with("::not_marked"), "{given}");
            assert_eq!((*method, *attribute), ("handler", "event_handler"));
        }
        other => panic!("expected NotAHandler, got {other:?}"),
    }
    assert!(error.to_string().contains("#[event_handler]"), "{error}");

    // A closure has no registration either.
    let error = InMemoryMessageBus::builder()
        .handler(|_event: &Tocked| {})
        .build()
        .expect_err("a closure");
    assert!(
        matches!(error, BusBuildError::NotAHandler { .. }),
        "{error:?}"
    );

    // Nor is an event handler a command handler.
    #[event_handler]
    fn audited_too(_event: &Tocked) {}
    let error = InMemoryMessageBus::builder()
        .command_handler(audited_too)
        .build()
        .expect_err("an event handler is no command handler");
    assert!(
        matches!(
            error,
            BusBuildError::NotAHandler {
                attribute: "command_handler",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_async_handler_given_to_the_blocking_bus_is_refused_by_name() {
    #[event_handler]
    async fn async_only(_event: &Tocked) {}

    let error = InMemoryMessageBus::builder()
        .handler(async_only)
        .build()
        .expect_err("the blocking bus cannot run it");
    match error {
        BusBuildError::HandlersNotRun { handlers, .. } => {
            assert_eq!(handlers.len(), 1);
            assert!(handlers[0].ends_with("::async_only"), "{handlers:?}");
        }
        other => panic!("expected HandlersNotRun, got {other:?}"),
    }
}
