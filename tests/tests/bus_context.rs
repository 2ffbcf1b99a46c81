//! What a handler's context carries through one publish: each handler's own
//! name (one context serves every handler of a publish), the bus's
//! dependencies as `Debug` shows them, and the failures a publish reports,
//! one per failed handler, in order.

use std::sync::{Arc, Mutex};

use orchestrix::bus::{
    Dep, Dependencies, DependencyKey, ExtractError, FromHandlerContext, HandlerContext,
};
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bus_context.Named")]
struct Named;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bus_context.Broken")]
struct Broken;

/// The name of the handler being called, as an extractor reads it from the
/// context.
struct CalledAs(String);

impl FromHandlerContext for CalledAs {
    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
        Ok(CalledAs(context.handler().to_owned()))
    }
}

/// The names the handlers were called under, in call order.
#[derive(Debug, Default)]
struct Calls(Mutex<Vec<String>>);

impl Calls {
    fn record(&self, called: CalledAs) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(called.0);
    }

    /// The names, in the order the handlers were called.
    fn in_call_order(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The names, sorted: for a publish whose handlers may run in any
    /// order.
    fn names(&self) -> Vec<String> {
        let mut names = self.in_call_order();
        names.sort();
        names
    }
}

#[event_handler(name = "context.async_first")]
async fn async_first(_event: &Named, called: CalledAs, calls: Dep<Calls>) {
    calls.record(called);
}

#[event_handler(name = "context.async_second")]
async fn async_second(_event: &Named, called: CalledAs, calls: Dep<Calls>) {
    calls.record(called);
}

#[event_handler(name = "context.plain_first")]
fn plain_first(_event: &Named, called: CalledAs, calls: Dep<Calls>) {
    calls.record(called);
}

#[event_handler(name = "context.plain_second")]
fn plain_second(_event: &Named, called: CalledAs, calls: Dep<Calls>) {
    calls.record(called);
}

#[event_handler(name = "context.fails_first")]
async fn fails_first(_event: &Broken) -> Result<(), String> {
    Err("first broke".into())
}

#[event_handler(name = "context.fails_second")]
fn fails_second(_event: &Broken) -> Result<(), String> {
    Err("second broke".into())
}

#[tokio::test]
async fn every_handler_of_an_async_publish_is_called_under_its_own_name() {
    let calls = Arc::new(Calls::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(Arc::clone(&calls))
        .handler(async_first)
        .handler(plain_first)
        .handler(async_second)
        .handler(plain_second)
        .build()
        .expect("bus");
    bus.publish(Named).await.expect("publish");
    assert_eq!(
        calls.names(),
        [
            "context.async_first",
            "context.async_second",
            "context.plain_first",
            "context.plain_second"
        ]
    );
}

#[test]
fn every_handler_of_a_blocking_publish_is_called_under_its_own_name() {
    let calls = Arc::new(Calls::default());
    let bus = InMemoryMessageBus::builder()
        .dependency_arc(Arc::clone(&calls))
        .handler(plain_first)
        .handler(plain_second)
        .build()
        .expect("bus");
    bus.publish(Named).expect("publish");
    assert_eq!(
        calls.names(),
        ["context.plain_first", "context.plain_second"]
    );
}

/// A bus publishes to the handlers it was built with without a lock; a
/// handler subscribed afterwards runs after them, and they keep running.
#[test]
fn a_handler_subscribed_to_a_built_blocking_bus_runs_after_its_built_handlers() {
    let calls = Arc::new(Calls::default());
    let bus = InMemoryMessageBus::builder()
        .dependency_arc(Arc::clone(&calls))
        .handler(plain_first)
        .build()
        .expect("bus");
    bus.publish(Named).expect("publish");
    let second =
        orchestrix::registry::find_sync_handler(orchestrix::registry::HandlerFn::of(&plain_second))
            .expect("registered");
    bus.subscribe_registration(second)
        .expect("its dependency is there");
    assert_eq!(bus.handler_count::<Named>(), 2);
    bus.publish(Named).expect("publish");
    assert_eq!(
        calls.in_call_order(),
        [
            "context.plain_first",
            "context.plain_first",
            "context.plain_second"
        ]
    );
}

/// As above, on the async bus.
#[tokio::test]
async fn a_handler_subscribed_to_a_built_async_bus_runs_after_its_built_handlers() {
    let calls = Arc::new(Calls::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(Arc::clone(&calls))
        .handler(async_first)
        .build()
        .expect("bus");
    bus.publish(Named).await.expect("publish");
    let second = orchestrix::registry::find_async_handler(orchestrix::registry::HandlerFn::of(
        &async_second,
    ))
    .expect("registered");
    bus.subscribe_registration(second)
        .expect("its dependency is there");
    assert_eq!(bus.handler_count::<Named>(), 2);
    bus.publish(Named).await.expect("publish");
    assert_eq!(
        calls.in_call_order(),
        [
            "context.async_first",
            "context.async_first",
            "context.async_second"
        ]
    );
}

#[tokio::test]
async fn a_publish_whose_handlers_fail_names_each_failure_in_order() {
    let bus = InMemoryAsyncMessageBus::builder()
        .handler(fails_first)
        .handler(fails_second)
        .build()
        .expect("bus");
    let envelope = Envelope::new(Broken);
    let id = envelope.metadata().id;
    let error = bus
        .publish_envelope(envelope)
        .await
        .expect_err("both handlers failed");
    assert_eq!(
        error.to_string(),
        format!(
            "2 handler(s) failed for message `bus_context.Broken` ({id}): \
             `context.fails_first`: first broke; `context.fails_second`: second broke"
        )
    );
}

#[test]
fn dependencies_show_their_type_names_in_order() {
    #[derive(Debug)]
    struct Mailer;
    let mut dependencies = Dependencies::new();
    assert_eq!(format!("{dependencies:?}"), "{}");
    dependencies.insert(Mailer);
    dependencies.insert(7_u32);
    assert_eq!(
        format!("{dependencies:?}"),
        "{\"bus_context::dependencies_show_their_type_names_in_order::Mailer\", \"u32\"}"
    );
}

#[test]
fn a_bus_missing_several_dependencies_names_each_in_its_message() {
    let error = InMemoryAsyncMessageBus::builder()
        .handler(async_first)
        .handler(plain_first)
        .build()
        .expect_err("no Calls dependency");
    assert_eq!(
        error.to_string(),
        "2 dependencies are missing: handler `context.async_first` needs `bus_context::Calls`; \
         handler `context.plain_first` needs `bus_context::Calls`; add each with \
         `.dependency(...)` on the bus builder before `.build()`"
    );
}

#[test]
fn a_dependency_and_its_key_show_what_they_name() {
    assert_eq!(format!("{:?}", Dep::new(Arc::new(42_u32))), "Dep(42)");
    assert_eq!(
        format!("{:?}", DependencyKey::of::<Calls>()),
        "DependencyKey(\"bus_context::Calls\")"
    );
}

#[test]
fn a_bus_and_its_builder_show_their_dependencies_and_handlers() {
    let builder = InMemoryAsyncMessageBus::builder()
        .dependency(7_u32)
        .handler(fails_first);
    assert_eq!(
        format!("{builder:?}"),
        "BusBuilder { dependencies: {\"u32\"}, handlers: [\"context.fails_first\"] }"
    );
    let bus = builder.build().expect("bus");
    assert_eq!(
        format!("{bus:?}"),
        "InMemoryAsyncMessageBus { dependencies: {\"u32\"}, .. }"
    );
}

#[test]
fn a_registration_subscribed_to_a_running_blocking_bus_is_called_and_one_without_its_dependency_refused()
 {
    let registration =
        *orchestrix::registry::find_sync_handler(orchestrix::registry::HandlerFn::of(&plain_first))
            .expect("registered");
    let calls = Arc::new(Calls::default());
    let bus = InMemoryMessageBus::builder()
        .dependency_arc(Arc::clone(&calls))
        .build()
        .expect("bus");
    bus.subscribe_registration(&registration)
        .expect("its dependency is there");
    assert_eq!(bus.handler_count::<Named>(), 1);
    bus.publish(Named).expect("publish");
    assert_eq!(calls.names(), ["context.plain_first"]);

    let bare = InMemoryMessageBus::new();
    let error = bare
        .subscribe_registration(&registration)
        .expect_err("no Calls");
    assert!(
        matches!(error, BusBuildError::MissingDependency { .. }),
        "{error:?}"
    );
    assert_eq!(bare.handler_count::<Named>(), 0);
}

#[test]
fn a_blocking_bus_shows_its_dependencies() {
    let bus = InMemoryMessageBus::builder()
        .dependency(7_u32)
        .build()
        .expect("bus");
    assert_eq!(
        format!("{bus:?}"),
        "InMemoryMessageBus { dependencies: {\"u32\"}, .. }"
    );
}
