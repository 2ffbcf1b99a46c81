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

/// What the concurrent test's built handler records and waits on.
struct HandoverProbe {
    /// How many times each message reached the built handler, by order id.
    calls: Mutex<HashMap<String, usize>>,
    /// The built handler is inside the publish of `HELD_OPEN`.
    entered: std::sync::Barrier,
    /// The first late subscription is done: `HELD_OPEN`'s handler may end.
    subscribed: std::sync::Barrier,
}

/// The message whose publish the built handler holds open across the
/// first late subscription: thread 0's first second-half message.
const HELD_OPEN: &str = "0-100";

/// The handler the concurrent test's bus is built with.
#[event_handler]
fn counts_every_order(event: &OrderCreated, probe: Dep<HandoverProbe>) {
    *probe
        .calls
        .lock()
        .expect("built calls")
        .entry(event.order_id.clone())
        .or_default() += 1;
    if event.order_id == HELD_OPEN {
        probe.entered.wait();
        probe.subscribed.wait();
    }
}

/// Publishes race subscriptions to a bus that was built with a handler.
/// The first late subscription (the handover from the built routes to the
/// locked table) happens while a publish that took the built routes is in
/// flight, and while other threads publish. The built handler runs exactly
/// once per publish throughout, and no racing subscription is lost.
#[test]
fn subscribing_while_other_threads_publish_is_safe() {
    const THREADS: usize = 4;
    const PUBLISHES: usize = 200;
    const SUBSCRIBERS: usize = 2;
    const LATE: usize = 10;
    let bus = Arc::new(
        InMemoryMessageBus::builder()
            .dependency(HandoverProbe {
                calls: Mutex::default(),
                entered: std::sync::Barrier::new(1 + SUBSCRIBERS),
                subscribed: std::sync::Barrier::new(1 + SUBSCRIBERS),
            })
            .handler(counts_every_order)
            .build()
            .expect("bus"),
    );
    let probe = bus.dependencies().get::<HandoverProbe>().expect("probe");
    // How many late handlers ran for each message, keyed by "thread-index".
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    // Publishers publish half their messages before anything is subscribed
    // late. Subscriber 0 subscribes its first handler while `HELD_OPEN` is
    // being published; then both subscribers race the other publishes.
    let first_halves_published = std::sync::Barrier::new(THREADS + SUBSCRIBERS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let bus = Arc::clone(&bus);
            let first_halves_published = &first_halves_published;
            scope.spawn(move || {
                for index in 0..PUBLISHES {
                    if index == PUBLISHES / 2 {
                        first_halves_published.wait();
                    }
                    bus.publish(OrderCreated {
                        order_id: format!("{thread}-{index}"),
                    })
                    .expect("no handler fails");
                }
            });
        }
        for subscriber in 0..SUBSCRIBERS {
            let bus = Arc::clone(&bus);
            let calls = Arc::clone(&calls);
            let probe = Arc::clone(&probe);
            let first_halves_published = &first_halves_published;
            scope.spawn(move || {
                first_halves_published.wait();
                probe.entered.wait();
                for index in 0..LATE / SUBSCRIBERS {
                    if index == usize::from(subscriber == 0) {
                        probe.subscribed.wait();
                    }
                    let calls = Arc::clone(&calls);
                    bus.subscribe(
                        format!("h{subscriber}-{index}"),
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
        }
    });
    // No racing subscription was lost.
    assert_eq!(bus.handler_count::<OrderCreated>(), 1 + LATE);
    // The built handler ran exactly once per publish, before, during and
    // after the handover.
    let built = probe.calls.lock().expect("built calls").clone();
    assert_eq!(built.len(), THREADS * PUBLISHES, "{built:?}");
    assert!(built.values().all(|&count| count == 1), "{built:?}");
    // Each publish runs the handlers subscribed before it started, and a
    // handler once seen is never lost: per thread, the count per message
    // is 0 for the first half, never goes down and never exceeds LATE.
    // `HELD_OPEN` took the built routes before the first late subscription
    // and ran none of the late handlers; thread 0's next message, published
    // after it, ran the first one at least.
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
            per_message[..PUBLISHES / 2].iter().all(|&count| count == 0),
            "thread {thread}: {per_message:?}"
        );
        assert!(
            per_message.windows(2).all(|pair| pair[0] <= pair[1]),
            "thread {thread}: {per_message:?}"
        );
        assert!(per_message.iter().all(|&count| count <= LATE));
    }
    assert_eq!(counts.get(HELD_OPEN), None);
    assert!(counts.get("0-101").is_some_and(|&count| count >= 1));
    bus.publish(OrderCreated {
        order_id: "last".into(),
    })
    .expect("handled");
    assert_eq!(calls.lock().expect("calls").get("last"), Some(&LATE));
    assert_eq!(
        probe.calls.lock().expect("built calls").get("last"),
        Some(&1)
    );
}
