//! Custom extractors may declare several dependencies, and `build()` names
//! every missing one at once (its own binary: its handlers would change what
//! `register_handlers()` finds in `bus_dependencies`).

use std::sync::Mutex;

use orchestrix::bus::{
    Dep, DependencyKey, ExtractError, FromHandlerContext, HandlerContext, UnmetDependency,
};
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Refunded {
    cents: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    booked: Mutex<Vec<u64>>,
}

#[derive(Debug)]
struct Clock {
    now: u64,
}

#[derive(Debug)]
struct Mailer;

/// Built from two dependencies, both declared.
struct Books {
    ledger: Dep<Ledger>,
    clock: Dep<Clock>,
}

impl FromHandlerContext for Books {
    const REQUIRES: &'static [DependencyKey] =
        &[DependencyKey::of::<Ledger>(), DependencyKey::of::<Clock>()];

    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
        Ok(Books {
            ledger: Dep::from_context(context)?,
            clock: Dep::from_context(context)?,
        })
    }
}

#[event_handler]
fn book_refund(event: &Refunded, books: Books) {
    books
        .ledger
        .booked
        .lock()
        .expect("ledger")
        .push(event.cents + books.clock.now);
}

#[event_handler]
fn notify_refund(_event: &Refunded, _mailer: Dep<Mailer>, _books: Books) {}

fn unmet(handler: &str, dependency: &'static str) -> UnmetDependency {
    UnmetDependency {
        handler: handler.to_owned(),
        dependency,
    }
}

#[test]
fn every_missing_dependency_of_every_handler_is_named() {
    let error = InMemoryMessageBus::builder()
        .register_handlers()
        .build()
        .expect_err("nothing given");
    assert_eq!(
        error,
        BusBuildError::MissingDependencies {
            missing: vec![
                unmet(
                    "bus_dependencies_many::book_refund",
                    "bus_dependencies_many::Ledger"
                ),
                unmet(
                    "bus_dependencies_many::book_refund",
                    "bus_dependencies_many::Clock"
                ),
                unmet(
                    "bus_dependencies_many::notify_refund",
                    "bus_dependencies_many::Mailer"
                ),
                unmet(
                    "bus_dependencies_many::notify_refund",
                    "bus_dependencies_many::Ledger"
                ),
                unmet(
                    "bus_dependencies_many::notify_refund",
                    "bus_dependencies_many::Clock"
                ),
            ]
        }
    );
    let text = error.to_string();
    assert!(text.starts_with("5 dependencies are missing"), "{text}");
}

#[test]
fn one_missing_dependency_is_reported_alone() {
    let error = InMemoryMessageBus::builder()
        .dependency(Ledger::default())
        .handler(book_refund)
        .build()
        .expect_err("no clock");
    assert_eq!(
        error,
        BusBuildError::MissingDependency {
            handler: "bus_dependencies_many::book_refund".into(),
            dependency: "bus_dependencies_many::Clock",
        }
    );
}

#[test]
fn an_extractor_with_two_dependencies_gets_both() {
    let bus = InMemoryMessageBus::builder()
        .dependency(Ledger::default())
        .dependency(Clock { now: 1_000 })
        .dependency(Mailer)
        .register_handlers()
        .build()
        .expect("everything given");
    bus.publish(Refunded { cents: 5 }).expect("booked");
    let ledger = bus.dependencies().get::<Ledger>().expect("the ledger");
    assert_eq!(*ledger.booked.lock().expect("ledger"), [1_005]);
}
