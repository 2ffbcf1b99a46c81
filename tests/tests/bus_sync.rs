//! `InMemoryMessageBus`: registration order, the error rule, routing by type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use orchestrix::prelude::*;

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
struct CreateOrder {
    order_id: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderCreated {
    order_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("inventory is empty")]
struct OutOfStock;

type Log = Arc<Mutex<Vec<String>>>;

fn logging(bus: &InMemoryMessageBus, log: &Log, name: &'static str) {
    let log = Arc::clone(log);
    bus.subscribe(name, move |command: &Envelope<CreateOrder>| {
        log.lock()
            .expect("log")
            .push(format!("{name} {}", command.message().order_id));
    });
}

#[test]
fn handlers_run_in_registration_order() {
    let bus = InMemoryMessageBus::new();
    let log = Log::default();
    for name in ["validate", "reserve", "confirm"] {
        logging(&bus, &log, name);
    }
    bus.publish(CreateOrder {
        order_id: "ORD-1".into(),
    })
    .expect("all succeed");
    assert_eq!(
        *log.lock().expect("log"),
        ["validate ORD-1", "reserve ORD-1", "confirm ORD-1"]
    );
}

#[test]
fn every_handler_runs_when_one_fails_and_the_error_names_it_with_its_source() {
    let bus = InMemoryMessageBus::new();
    let log = Log::default();
    logging(&bus, &log, "before");
    bus.subscribe("reserve", |_: &Envelope<CreateOrder>| {
        Err::<(), _>(OutOfStock)
    });
    bus.subscribe(
        "explodes",
        |_: &Envelope<CreateOrder>| -> Result<(), OutOfStock> { panic!("bad state") },
    );
    logging(&bus, &log, "after");

    let error = bus
        .publish(CreateOrder {
            order_id: "ORD-2".into(),
        })
        .expect_err("two fail");

    assert_eq!(*log.lock().expect("log"), ["before ORD-2", "after ORD-2"]);
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["reserve", "explodes"]
    );
    assert!(
        error.failures[0]
            .error
            .downcast_ref::<OutOfStock>()
            .is_some(),
        "the source is kept"
    );
    assert!(error.failures[1].error.to_string().contains("bad state"));
    assert_eq!(error.message_type, "CreateOrder");
}

#[test]
fn type_erased_envelopes_reach_the_handlers_of_their_concrete_type() {
    let bus = InMemoryMessageBus::new();
    let log = Log::default();
    logging(&bus, &log, "command");
    let events = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&events);
    bus.subscribe("event", move |_: &Envelope<OrderCreated>| {
        counter.fetch_add(1, Ordering::SeqCst);
    });

    let erased: AnyEnvelope = Envelope::new(OrderCreated {
        order_id: "E".into(),
    })
    .into();
    let as_trait: &dyn MessageBus = &bus;
    as_trait.publish_envelope(erased).expect("handled");
    MessageBusExt::publish(
        as_trait,
        CreateOrder {
            order_id: "C".into(),
        },
    )
    .expect("handled");

    assert_eq!(events.load(Ordering::SeqCst), 1);
    assert_eq!(*log.lock().expect("log"), ["command C"]);
}

#[test]
fn publishing_a_message_without_handlers_is_ok() {
    let bus = InMemoryMessageBus::new();
    bus.publish(OrderCreated {
        order_id: "none".into(),
    })
    .expect("no handler is fine");
}

#[test]
fn a_handler_can_publish_on_the_same_bus() {
    let bus = Arc::new(InMemoryMessageBus::new());
    let created = Arc::new(AtomicUsize::new(0));
    let inner = Arc::downgrade(&bus);
    bus.subscribe(
        "create",
        move |command: &Envelope<CreateOrder>| -> Result<(), HandlerError> {
            let Some(bus) = inner.upgrade() else {
                return Ok(());
            };
            let event = Envelope::with_metadata(
                OrderCreated {
                    order_id: command.message().order_id.clone(),
                },
                Metadata::new("OrderCreated").caused_by(command.metadata()),
            );
            bus.publish_envelope(event)
        },
    );
    let counter = Arc::clone(&created);
    bus.subscribe("count", move |_: &Envelope<OrderCreated>| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    bus.publish(CreateOrder {
        order_id: "nested".into(),
    })
    .expect("handled");
    assert_eq!(created.load(Ordering::SeqCst), 1);
}

#[test]
fn subscribing_while_other_threads_publish_is_safe() {
    let bus = Arc::new(InMemoryMessageBus::new());
    let calls = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let bus = Arc::clone(&bus);
            scope.spawn(move || {
                for index in 0..200 {
                    bus.publish(OrderCreated {
                        order_id: index.to_string(),
                    })
                    .expect("no handler fails");
                }
            });
        }
        let bus = Arc::clone(&bus);
        let calls = Arc::clone(&calls);
        scope.spawn(move || {
            for index in 0..10 {
                let calls = Arc::clone(&calls);
                bus.subscribe(format!("h{index}"), move |_: &Envelope<OrderCreated>| {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
    });
    assert_eq!(bus.handler_count::<OrderCreated>(), 10);
    let before = calls.load(Ordering::SeqCst);
    assert!(before <= 4 * 200 * 10);
    bus.publish(OrderCreated {
        order_id: "last".into(),
    })
    .expect("handled");
    assert_eq!(calls.load(Ordering::SeqCst), before + 10);
}
