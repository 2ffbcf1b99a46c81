//! Handler dependencies: a missing `Dep<T>` is a clear error naming the
//! handler and the type, at build time and at dispatch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use orchestrix::bus::{Dep, ExtractError, FromHandlerContext, HandlerContext, UnmetDependency};
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Paid {
    cents: u64,
}

/// A dependency handlers ask for by trait.
trait Ledger: Send + Sync {
    fn book(&self, cents: u64);
}

#[derive(Debug, Default)]
struct MemoryLedger(AtomicU64);

impl Ledger for MemoryLedger {
    fn book(&self, cents: u64) {
        self.0.fetch_add(cents, Ordering::SeqCst);
    }
}

#[event_handler]
async fn book_payment(event: &Paid, ledger: Dep<dyn Ledger>) {
    ledger.book(event.cents);
}

#[event_handler]
fn book_payment_now(event: &Paid, ledger: Dep<dyn Ledger>) {
    ledger.book(event.cents);
}

#[test]
fn building_a_bus_without_a_handlers_dependency_names_the_handler_and_the_type() {
    let error = InMemoryAsyncMessageBus::builder()
        .register_handlers()
        .build()
        .expect_err("the ledger is missing");
    // The async bus runs both handlers (the plain fn inline), so both are named.
    assert_eq!(
        error,
        BusBuildError::MissingDependencies {
            missing: vec![
                UnmetDependency {
                    handler: "bus_dependencies::book_payment".into(),
                    dependency: "dyn bus_dependencies::Ledger",
                },
                UnmetDependency {
                    handler: "bus_dependencies::book_payment_now".into(),
                    dependency: "dyn bus_dependencies::Ledger",
                },
            ],
        }
    );
    let text = error.to_string();
    assert!(
        text.contains("book_payment") && text.contains("dyn bus_dependencies::Ledger"),
        "{text}"
    );

    let error = InMemoryMessageBus::builder()
        .handler(book_payment_now)
        .build()
        .expect_err("the ledger is missing");
    assert!(error.to_string().contains("book_payment_now"), "{error}");
}

#[tokio::test]
async fn trait_object_dependencies_reach_the_handlers() {
    let ledger = Arc::new(MemoryLedger::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc::<dyn Ledger>(ledger.clone())
        .register_handlers()
        .build()
        .expect("the ledger is there");
    bus.publish(Paid { cents: 250 }).await.expect("booked");

    // Both handlers ran on the async bus: 2 x 250.
    assert_eq!(ledger.0.load(Ordering::SeqCst), 500);

    // The blocking bus runs only plain fns; this program has an async one,
    // so its handlers are named one by one.
    let sync_bus = InMemoryMessageBus::builder()
        .dependency_arc::<dyn Ledger>(ledger.clone())
        .handler(book_payment_now)
        .build()
        .expect("the ledger is there");
    sync_bus.publish(Paid { cents: 50 }).expect("booked");

    assert_eq!(ledger.0.load(Ordering::SeqCst), 550);
}

#[test]
fn subscribing_a_registration_to_a_bus_without_its_dependency_is_refused() {
    let bus = InMemoryAsyncMessageBus::new();
    let registration = *orchestrix::registry::find_async_handler(
        orchestrix::registry::HandlerFn::of(&book_payment),
    )
    .expect("registered");
    let error = bus
        .subscribe_registration(&registration)
        .expect_err("no ledger");
    assert!(matches!(error, BusBuildError::MissingDependency { .. }));
    assert_eq!(bus.handler_count::<Paid>(), 0);
}

#[test]
fn a_missing_dependency_at_dispatch_is_an_error_naming_the_handler_and_the_type() {
    let envelope = Envelope::new(Paid { cents: 1 }).into_any();
    let no_dependencies = orchestrix::bus::Dependencies::new();
    let context = HandlerContext::new(&envelope, &no_dependencies, "billing::charge");
    let Err(error) = <Dep<MemoryLedger> as FromHandlerContext>::from_context(&context) else {
        panic!("no ledger was registered");
    };
    assert_eq!(
        error,
        ExtractError::MissingDependency {
            handler: "billing::charge".into(),
            dependency: "bus_dependencies::MemoryLedger",
        }
    );
}

#[tokio::test]
async fn a_missing_dependency_at_dispatch_is_reported_as_that_handlers_failure() {
    /// An extractor that looks a dependency up without declaring it, so the
    /// build-time check cannot see it.
    struct Undeclared(#[allow(dead_code)] Dep<MemoryLedger>);

    impl FromHandlerContext for Undeclared {
        fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
            Dep::from_context(context).map(Undeclared)
        }
    }

    async fn sneaky(_event: &Paid, _ledger: Undeclared) {}

    fn call<'a>(context: &HandlerContext<'a>) -> orchestrix::bus::HandlerFuture<'a> {
        let extracted = context
            .typed_envelope::<Paid>()
            .and_then(|envelope| Ok((envelope, Undeclared::from_context(context)?)));
        orchestrix::bus::HandlerFuture::new(async move {
            let (envelope, ledger) = extracted?;
            sneaky(envelope.message(), ledger).await;
            Ok(())
        })
    }
    struct Sneaky;
    let registration = orchestrix::registry::AsyncHandlerRegistration::new::<Paid>(
        "sneaky",
        &[],
        call,
        std::any::TypeId::of::<Sneaky>,
        std::any::type_name::<Sneaky>,
    );
    let bus = InMemoryAsyncMessageBus::new();
    bus.subscribe_registration(&registration)
        .expect("nothing declared");
    let error = bus
        .publish(Paid { cents: 1 })
        .await
        .expect_err("the extractor fails");
    assert_eq!(error.failed_handlers().collect::<Vec<_>>(), ["sneaky"]);
    let cause = error.failures[0]
        .error
        .downcast_ref::<ExtractError>()
        .expect("an ExtractError");
    assert!(matches!(
        cause,
        ExtractError::MissingDependency {
            dependency: "bus_dependencies::MemoryLedger",
            ..
        }
    ));
}
