//! `InMemoryMessageBus`: registration order, the error rule, routing by type.

use std::collections::HashMap;
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
    const THREADS: usize = 4;
    const PUBLISHES: usize = 200;
    let bus = Arc::new(InMemoryMessageBus::new());
    // How many handlers ran for each message, keyed by "thread-index".
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let bus = Arc::clone(&bus);
            scope.spawn(move || {
                for index in 0..PUBLISHES {
                    bus.publish(OrderCreated {
                        order_id: format!("{thread}-{index}"),
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
                bus.subscribe(
                    format!("h{index}"),
                    move |event: &Envelope<OrderCreated>| {
                        *calls
                            .lock()
                            .expect("calls")
                            .entry(event.message().order_id.clone())
                            .or_default() += 1;
                    },
                );
            }
        });
    });
    assert_eq!(bus.handler_count::<OrderCreated>(), 10);
    // Each publish runs the handlers subscribed before it started, and a
    // handler once seen is never lost: per thread, the count per message
    // never goes down and never exceeds 10.
    let counts = calls.lock().expect("calls").clone();
    for thread in 0..THREADS {
        let per_message: Vec<usize> = (0..PUBLISHES)
            .map(|index| {
                counts
                    .get(&format!("{thread}-{index}"))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        assert!(
            per_message.windows(2).all(|pair| pair[0] <= pair[1]),
            "thread {thread}: {per_message:?}"
        );
        assert!(per_message.iter().all(|&count| count <= 10));
    }
    bus.publish(OrderCreated {
        order_id: "last".into(),
    })
    .expect("handled");
    assert_eq!(calls.lock().expect("calls").get("last"), Some(&10));
}
