//! `InMemoryAsyncMessageBus`: concurrency, the error rule, routing by type.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::bus::HandlerContext;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderCreated {
    order_id: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderCancelled {
    order_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail server down for {order_id}")]
struct MailDown {
    order_id: String,
}

fn order(id: &str) -> OrderCreated {
    OrderCreated {
        order_id: id.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn five_handlers_awaiting_a_50ms_timer_finish_together() {
    let bus = InMemoryAsyncMessageBus::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for index in 0..5 {
        let log = Arc::clone(&log);
        bus.subscribe(
            format!("sleeper-{index}"),
            move |_: Envelope<OrderCreated>| {
                let log = Arc::clone(&log);
                async move {
                    log.lock().expect("log").push(format!("start {index}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    log.lock().expect("log").push(format!("end {index}"));
                }
            },
        );
    }

    let started = tokio::time::Instant::now();
    bus.publish(order("ORD-1")).await.expect("no handler fails");
    let elapsed = started.elapsed();

    // The clock is paused: it only moves when every task waits on a timer,
    // so the virtual elapsed time is exact. Sequential would be 250 ms.
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(100),
        "handlers ran one after another: {elapsed:?}"
    );
    let log = log.lock().expect("log");
    assert_eq!(log.len(), 10);
    assert!(
        log[..5].iter().all(|entry| entry.starts_with("start")),
        "every handler starts before any ends: {log:?}"
    );
}

#[tokio::test]
async fn a_failing_handler_does_not_stop_the_others_and_is_named_with_its_source() {
    let bus = InMemoryAsyncMessageBus::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&finished);
    bus.subscribe("first", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    bus.subscribe("send_email", |event: Envelope<OrderCreated>| async move {
        Err(MailDown {
            order_id: event.message().order_id.clone(),
        })
    });
    let counter = Arc::clone(&finished);
    bus.subscribe("slow_but_fine", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<(), MailDown>(())
        }
    });

    let error = bus
        .publish(order("ORD-7"))
        .await
        .expect_err("one handler fails");

    assert_eq!(
        finished.load(Ordering::SeqCst),
        2,
        "the other handlers ran to their end"
    );
    assert_eq!(error.failed_handlers().collect::<Vec<_>>(), ["send_email"]);
    assert_eq!(error.message_type, "OrderCreated");
    let source = error.failures[0]
        .error
        .downcast_ref::<MailDown>()
        .expect("the handler's own error is kept");
    assert_eq!(source.order_id, "ORD-7");
    let text = error.to_string();
    assert!(
        text.contains("send_email") && text.contains("mail server down for ORD-7"),
        "{text}"
    );
}

#[tokio::test]
async fn every_failure_is_named_in_subscription_order() {
    let bus = InMemoryAsyncMessageBus::new();
    for name in ["a", "b", "c"] {
        bus.subscribe(name, move |_: Envelope<OrderCreated>| async move {
            if name == "b" {
                Ok(())
            } else {
                Err(format!("{name} broke"))
            }
        });
    }
    let error = bus.publish(order("ORD-2")).await.expect_err("two fail");
    assert_eq!(error.failed_handlers().collect::<Vec<_>>(), ["a", "c"]);
    assert_eq!(error.failures[1].error.to_string(), "c broke");
}

#[tokio::test]
async fn a_panicking_handler_is_reported_as_its_failure_and_the_others_finish() {
    let bus = InMemoryAsyncMessageBus::new();
    let finished = Arc::new(AtomicUsize::new(0));
    bus.subscribe("panics", |_: Envelope<OrderCreated>| async move {
        tokio::task::yield_now().await;
        if true {
            panic!("boom");
        }
    });
    let counter = Arc::clone(&finished);
    bus.subscribe("fine", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    let error = bus
        .publish(order("ORD-3"))
        .await
        .expect_err("the panic is a failure");
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(error.failed_handlers().collect::<Vec<_>>(), ["panics"]);
    let panicked = error.failures[0]
        .error
        .downcast_ref::<orchestrix::bus::HandlerPanicked>()
        .expect("a HandlerPanicked");
    assert_eq!(panicked.message, "boom");
}

#[tokio::test]
async fn type_erased_envelopes_reach_the_handlers_of_their_concrete_type() {
    let bus = InMemoryAsyncMessageBus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    bus.subscribe("created", move |event: Envelope<OrderCreated>| {
        let log = Arc::clone(&log);
        async move {
            log.lock()
                .expect("log")
                .push(format!("created {}", event.message().order_id))
        }
    });
    let log = Arc::clone(&seen);
    bus.subscribe("cancelled", move |event: Envelope<OrderCancelled>| {
        let log = Arc::clone(&log);
        async move {
            log.lock()
                .expect("log")
                .push(format!("cancelled {}", event.message().order_id))
        }
    });

    let uncommitted: Vec<AnyEnvelope> = vec![
        Envelope::new(order("A")).into_any(),
        Envelope::new(OrderCancelled {
            order_id: "B".into(),
        })
        .into_any(),
    ];
    for envelope in uncommitted {
        bus.publish_envelope(envelope).await.expect("handled");
    }
    // Through the object-safe trait too.
    let as_trait: &dyn AsyncMessageBus = &bus;
    as_trait
        .publish_envelope(Envelope::new(order("C")).into_any())
        .await
        .expect("handled");

    assert_eq!(
        *seen.lock().expect("log"),
        ["created A", "cancelled B", "created C"]
    );
}

#[tokio::test]
async fn publishing_a_message_without_handlers_is_ok() {
    let bus = InMemoryAsyncMessageBus::new();
    bus.publish(order("nobody listens"))
        .await
        .expect("no handler is fine");
    assert_eq!(bus.handler_count::<OrderCreated>(), 0);
}

#[tokio::test]
async fn handlers_read_the_messages_metadata() {
    let bus = InMemoryAsyncMessageBus::new();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    bus.subscribe("reads_metadata", move |event: Envelope<OrderCreated>| {
        let slot = Arc::clone(&slot);
        async move {
            let metadata = event.metadata();
            *slot.lock().expect("slot") =
                Some((metadata.id, metadata.subject.clone(), metadata.causation_id));
        }
    });
    let cause = Metadata::new("PlaceOrder");
    let metadata = Metadata::new("OrderCreated")
        .with_subject("order-9")
        .caused_by(&cause);
    let id = metadata.id;
    bus.publish_envelope(Envelope::with_metadata(order("9"), metadata))
        .await
        .expect("handled");
    assert_eq!(
        *seen.lock().expect("slot"),
        Some((id, Some("order-9".into()), Some(cause.id)))
    );
}

#[test]
fn the_buses_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<InMemoryAsyncMessageBus>();
    send_sync::<InMemoryMessageBus>();
}

/// What the concurrent test's built handler records and waits on.
#[derive(Default)]
struct HandoverProbe {
    /// How many times each message reached the built handler, by order id.
    calls: Mutex<HashMap<String, usize>>,
    /// The built handler is inside the publish of "0-0".
    entered: tokio::sync::Notify,
    /// The first late subscription is done: "0-0"'s handler may end.
    subscribed: tokio::sync::Notify,
}

/// The handler the concurrent test's bus is built with. It holds the
/// publish of "0-0" open until the first late subscription is done.
#[event_handler]
async fn counts_every_order(event: &OrderCreated, probe: Dep<HandoverProbe>) {
    *probe
        .calls
        .lock()
        .expect("built calls")
        .entry(event.order_id.clone())
        .or_default() += 1;
    if event.order_id == "0-0" {
        probe.entered.notify_one();
        probe.subscribed.notified().await;
    }
}

/// Publishes race subscriptions to a bus that was built with a handler.
/// The first late subscription (the handover from the built routes to the
/// locked table) happens while a publish that took the built routes is in
/// flight, and while other publishers run. The built handler runs exactly
/// once per publish throughout, and no subscription is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_while_other_tasks_publish_is_safe() {
    const PUBLISHERS: usize = 8;
    const MESSAGES: usize = 50;
    const HANDLERS: usize = 20;

    let bus = Arc::new(
        InMemoryAsyncMessageBus::builder()
            .dependency(HandoverProbe::default())
            .handler(counts_every_order)
            .build()
            .expect("bus"),
    );
    let probe = bus.dependencies().get::<HandoverProbe>().expect("probe");
    let calls: Arc<Vec<AtomicUsize>> =
        Arc::new((0..HANDLERS).map(|_| AtomicUsize::new(0)).collect());

    // The first handler is subscribed while "0-0" is being published.
    // Then publishers publish half their messages, and wait for half of
    // the handlers; the other half is subscribed while they publish the
    // rest.
    let first_halves_published = Arc::new(tokio::sync::Barrier::new(PUBLISHERS + 1));
    let half_subscribed = Arc::new(tokio::sync::Barrier::new(PUBLISHERS + 1));
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let bus = Arc::clone(&bus);
        let first_halves_published = Arc::clone(&first_halves_published);
        let half_subscribed = Arc::clone(&half_subscribed);
        tasks.push(tokio::spawn(async move {
            for message in 0..MESSAGES {
                if message == MESSAGES / 2 {
                    first_halves_published.wait().await;
                    half_subscribed.wait().await;
                }
                bus.publish(order(&format!("{publisher}-{message}")))
                    .await
                    .expect("no handler fails");
                tokio::task::yield_now().await;
            }
        }));
    }
    let subscriber = {
        let bus = Arc::clone(&bus);
        let calls = Arc::clone(&calls);
        let probe = Arc::clone(&probe);
        tokio::spawn(async move {
            probe.entered.notified().await;
            for index in 0..HANDLERS {
                if index == 1 {
                    probe.subscribed.notify_one();
                    first_halves_published.wait().await;
                }
                if index == HANDLERS / 2 {
                    half_subscribed.wait().await;
                }
                let calls = Arc::clone(&calls);
                bus.subscribe(format!("h{index}"), move |_: Envelope<OrderCreated>| {
                    let calls = Arc::clone(&calls);
                    async move {
                        calls[index].fetch_add(1, Ordering::SeqCst);
                    }
                });
                tokio::task::yield_now().await;
            }
        })
    };
    for task in tasks {
        task.await.expect("publisher finished");
    }
    subscriber.await.expect("subscriber finished");

    assert_eq!(bus.handler_count::<OrderCreated>(), 1 + HANDLERS);
    // The built handler ran exactly once per publish, before, during and
    // after the handover.
    let built = probe.calls.lock().expect("built calls").clone();
    assert_eq!(built.len(), PUBLISHERS * MESSAGES, "{built:?}");
    assert!(built.values().all(|&count| count == 1), "{built:?}");
    // A handler subscribed earlier saw at least as many messages as a later one.
    let counts: Vec<usize> = calls
        .iter()
        .map(|count| count.load(Ordering::SeqCst))
        .collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] >= pair[1]),
        "{counts:?}"
    );
    // The first handler missed "0-0" (whose publish had already taken the
    // built routes) and saw every second-half message. The rest of the
    // first half of the handlers saw every second-half message; the second
    // half missed every first-half one.
    let half = PUBLISHERS * MESSAGES / 2;
    assert!(
        (half..PUBLISHERS * MESSAGES).contains(&counts[0]),
        "{counts:?}"
    );
    assert!(
        counts[1..HANDLERS / 2].iter().all(|&count| count == half),
        "{counts:?}"
    );
    assert!(
        counts[HANDLERS / 2..].iter().all(|&count| count <= half),
        "{counts:?}"
    );

    bus.publish(order("last")).await.expect("no handler fails");
    let after: Vec<usize> = calls
        .iter()
        .map(|count| count.load(Ordering::SeqCst))
        .collect();
    assert!(
        after
            .iter()
            .zip(&counts)
            .all(|(after, before)| after == &(before + 1)),
        "{after:?}"
    );
    assert_eq!(
        probe.calls.lock().expect("built calls").get("last"),
        Some(&1)
    );
}

#[tokio::test]
async fn publish_works_on_a_shared_trait_object() {
    let bus = InMemoryAsyncMessageBus::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    bus.subscribe("count", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let shared: Arc<dyn AsyncMessageBus> = Arc::new(bus);
    AsyncMessageBusExt::publish(&*shared, order("dyn"))
        .await
        .expect("handled");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Sets its flag when dropped: tells whether a handler's future was
/// dropped before it finished.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_a_publish_cancels_its_handlers_in_flight() {
    let bus = InMemoryAsyncMessageBus::new();
    let (started, dropped, finished) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (s, d, f) = (
        Arc::clone(&started),
        Arc::clone(&dropped),
        Arc::clone(&finished),
    );
    let gate = Arc::new(tokio::sync::Notify::new());
    let waiting = Arc::clone(&gate);
    bus.subscribe("waits", move |_event: Envelope<OrderCreated>| {
        let (s, d, f, waiting) = (
            Arc::clone(&s),
            Arc::clone(&d),
            Arc::clone(&f),
            Arc::clone(&waiting),
        );
        async move {
            let _flag = DropFlag(d);
            s.fetch_add(1, Ordering::SeqCst);
            waiting.notified().await;
            f.fetch_add(1, Ordering::SeqCst);
        }
    });

    let mut publish = Box::pin(bus.publish(order("ORD-9")));
    assert!(futures::poll!(publish.as_mut()).is_pending());
    assert_eq!(started.load(Ordering::SeqCst), 1);
    drop(publish);
    // The handler was dropped at its `.await`, not left running elsewhere.
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    gate.notify_waiters();
    tokio::task::yield_now().await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

/// What the handlers of the many-handler cancellation test share: how
/// many started, were dropped, finished, and the gate they wait at.
#[derive(Default)]
struct CancelProbe {
    started: AtomicUsize,
    dropped: AtomicUsize,
    finished: AtomicUsize,
    gate: tokio::sync::Notify,
}

/// Counts a drop in its probe.
struct ProbeDrop<'p>(&'p CancelProbe);

impl Drop for ProbeDrop<'_> {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits at the probe's gate, the event borrowed across the wait.
async fn wait_at_gate(event: &OrderCreated, probe: &CancelProbe) {
    let _flag = ProbeDrop(probe);
    probe.started.fetch_add(1, Ordering::SeqCst);
    probe.gate.notified().await;
    std::hint::black_box(&event.order_id);
    probe.finished.fetch_add(1, Ordering::SeqCst);
}

/// A generated handler that borrows the published event across an await.
#[event_handler]
async fn waits_borrowing_the_event(event: &OrderCreated, probe: Dep<CancelProbe>) {
    wait_at_gate(event, &probe).await;
}

/// Cancelling reaches every handler: a generated one borrowing the event,
/// and closures past the eighth (in slots of their own on the heap).
#[tokio::test]
async fn dropping_a_publish_cancels_eleven_handlers_in_flight_inline_or_not() {
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(CancelProbe::default())
        .handler(waits_borrowing_the_event)
        .build()
        .expect("bus");
    let probe = bus.dependencies().get::<CancelProbe>().expect("probe");
    for index in 0..10 {
        let probe = Arc::clone(&probe);
        bus.subscribe(
            format!("waits-{index}"),
            move |event: Envelope<OrderCreated>| {
                let probe = Arc::clone(&probe);
                async move { wait_at_gate(event.message(), &probe).await }
            },
        );
    }
    assert_eq!(bus.handler_count::<OrderCreated>(), 11);

    let mut publish = Box::pin(bus.publish(order("ORD-11")));
    assert!(futures::poll!(publish.as_mut()).is_pending());
    assert_eq!(probe.started.load(Ordering::SeqCst), 11);
    drop(publish);
    // Every handler was dropped at its `.await`, none left running.
    assert_eq!(probe.dropped.load(Ordering::SeqCst), 11);
    probe.gate.notify_waiters();
    tokio::task::yield_now().await;
    assert_eq!(probe.finished.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failures_are_named_in_subscription_order_whatever_order_they_end_in() {
    let bus = InMemoryAsyncMessageBus::new();
    // The first handler fails last: after the others have ended.
    bus.subscribe("slow", |_: Envelope<OrderCreated>| async move {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        Err("slow broke")
    });
    bus.subscribe("fine", |_: Envelope<OrderCreated>| async move {
        tokio::task::yield_now().await;
    });
    bus.subscribe("fast", |_: Envelope<OrderCreated>| async move {
        Err("fast broke")
    });
    let error = bus.publish(order("ORD-4")).await.expect_err("two fail");
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["slow", "fast"]
    );
    assert_eq!(error.failures[0].error.to_string(), "slow broke");
}

#[tokio::test]
async fn a_handler_panicking_in_its_call_or_at_its_first_poll_is_isolated() {
    let bus = InMemoryAsyncMessageBus::new();
    let finished = Arc::new(AtomicUsize::new(0));
    // Panics before it returns its future.
    bus.subscribe("panics_in_call", |_: Envelope<OrderCreated>| {
        if true {
            panic!("in the call");
        }
        async {}
    });
    // Panics the first time it is polled, before any `.await`.
    bus.subscribe("panics_at_once", |_: Envelope<OrderCreated>| async move {
        if true {
            panic!("at once");
        }
    });
    let counter = Arc::clone(&finished);
    bus.subscribe("fine", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            tokio::task::yield_now().await;
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    let error = bus
        .publish(order("ORD-5"))
        .await
        .expect_err("the panics are failures");
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the other handler ran");
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["panics_in_call", "panics_at_once"]
    );
    let messages: Vec<_> = error
        .failures
        .iter()
        .map(|failure| {
            failure
                .error
                .downcast_ref::<orchestrix::bus::HandlerPanicked>()
                .expect("a HandlerPanicked")
                .message
                .clone()
        })
        .collect();
    assert_eq!(messages, ["in the call", "at once"]);
}

/// More handlers than a publish keeps inline (8): the ones past them run
/// as concurrently, and failures and panics are named in subscription
/// order wherever the handler sits.
#[tokio::test]
async fn handlers_past_the_eighth_run_concurrently_and_fail_in_subscription_order() {
    let bus = InMemoryAsyncMessageBus::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for index in 0..11 {
        let log = Arc::clone(&log);
        bus.subscribe(format!("h{index}"), move |_: Envelope<OrderCreated>| {
            let log = Arc::clone(&log);
            async move {
                log.lock().expect("log").push(format!("start {index}"));
                tokio::task::yield_now().await;
                log.lock().expect("log").push(format!("end {index}"));
                match index {
                    9 => panic!("nine"),
                    2 | 10 => Err(format!("broke {index}")),
                    _ => Ok(()),
                }
            }
        });
    }
    let error = bus.publish(order("ORD-11")).await.expect_err("three fail");
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["h2", "h9", "h10"]
    );
    assert_eq!(error.failures[2].error.to_string(), "broke 10");
    let log = log.lock().expect("log");
    assert_eq!(log.len(), 22);
    assert!(
        log[..11].iter().all(|entry| entry.starts_with("start")),
        "every handler starts before any ends: {log:?}"
    );
}

/// A handler whose future is too large to be kept inline is boxed, and
/// runs beside small ones as any other.
#[tokio::test]
async fn a_handler_with_a_large_future_runs_beside_small_ones() {
    let bus = InMemoryAsyncMessageBus::new();
    let sum = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sum);
    bus.subscribe("large", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            // Held across the `.await`: part of the future.
            let buffer = [1u8; 4 * orchestrix::bus::INLINE_FUTURE_BYTES];
            tokio::task::yield_now().await;
            let total: usize = std::hint::black_box(&buffer)
                .iter()
                .map(|&b| usize::from(b))
                .sum();
            counter.fetch_add(total, Ordering::SeqCst);
        }
    });
    let counter = Arc::clone(&sum);
    bus.subscribe("small", move |_: Envelope<OrderCreated>| {
        let counter = Arc::clone(&counter);
        async move {
            tokio::task::yield_now().await;
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    bus.publish(order("ORD-12")).await.expect("both succeed");
    assert_eq!(
        sum.load(Ordering::SeqCst),
        4 * orchestrix::bus::INLINE_FUTURE_BYTES + 1
    );
}

type Log = Mutex<Vec<&'static str>>;

/// A plain fn handler, registered by hand: records that it ran.
fn plain_records(context: &HandlerContext<'_>) -> Result<(), orchestrix::error::BoxError> {
    let log = context.dependencies().get::<Log>().ok_or("no log")?;
    log.lock().expect("log").push("plain fn ran");
    Ok(())
}

/// An async handler, registered by hand: records when its body runs.
fn async_records<'a>(context: &HandlerContext<'a>) -> orchestrix::bus::HandlerFuture<'a> {
    let log = context.dependencies().get::<Log>();
    orchestrix::bus::HandlerFuture::new(async move {
        let log = log.ok_or("no log")?;
        log.lock().expect("log").push("async handler entered");
        Ok(())
    })
}

#[tokio::test]
async fn the_async_bus_runs_plain_fn_handlers_before_it_polls_the_async_ones() {
    struct Plain;
    struct Async;
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Log::default())
        // The async handler comes first: its future is made first, but
        // its body runs only once the publish polls it, after every plain
        // fn handler ran.
        .registration(orchestrix::registry::AsyncHandlerRegistration::new::<
            OrderCreated,
        >(
            "async",
            &[],
            async_records,
            std::any::TypeId::of::<Async>,
            std::any::type_name::<Async>,
        ))
        .registration(orchestrix::registry::SyncHandlerRegistration::new::<
            OrderCreated,
        >(
            "plain",
            &[],
            plain_records,
            std::any::TypeId::of::<Plain>,
            std::any::type_name::<Plain>,
        ))
        .build()
        .expect("no dependency declared");
    bus.publish(order("ORD-6")).await.expect("both succeed");
    let log = bus.dependencies().get::<Log>().expect("log");
    assert_eq!(
        *log.lock().expect("log"),
        ["plain fn ran", "async handler entered"]
    );
}

#[test]
fn a_handler_future_names_its_type_when_debug_printed() {
    // Its future is opaque: the output names the type and hides the rest.
    let future = orchestrix::bus::HandlerFuture::ready(Ok(()));
    assert_eq!(format!("{future:?}"), "HandlerFuture { .. }");
}
