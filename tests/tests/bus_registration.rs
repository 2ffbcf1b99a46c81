//! `#[event_handler]` fns are found through `inventory` without manual
//! subscription, get their dependencies and metadata, and are named by path.

use std::sync::Mutex;

use orchestrix::bus::Dep;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Deposited {
    account: String,
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Withdrawn {
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Audited;

/// A stand-in for a mail client: remembers what it sent.
#[derive(Debug, Default)]
struct Mailer {
    sent: Mutex<Vec<String>>,
}

impl Mailer {
    fn send(&self, text: String) {
        self.sent.lock().expect("outbox").push(text);
    }

    fn sent(&self) -> Vec<String> {
        let mut sent = self.sent.lock().expect("outbox").clone();
        sent.sort();
        sent
    }
}

#[derive(Debug, thiserror::Error)]
#[error("withdrawal of {0} refused")]
struct Refused(u64);

#[event_handler]
async fn send_receipt(event: &Deposited, mailer: Dep<Mailer>, metadata: Metadata) {
    tokio::task::yield_now().await;
    mailer.send(format!(
        "receipt {} {} subject={}",
        event.account,
        event.amount,
        metadata.subject.as_deref().unwrap_or("-")
    ));
}

#[event_handler(name = "fraud-check")]
async fn check_fraud(event: &Deposited, mailer: Dep<Mailer>) -> Result<(), std::io::Error> {
    if event.amount > 1_000 {
        mailer.send(format!("fraud alert {}", event.account));
    }
    Ok(())
}

#[event_handler]
async fn refuse_withdrawals(event: &Withdrawn) -> Result<(), Refused> {
    Err(Refused(event.amount))
}

#[event_handler]
fn audit_sync(_event: &Audited, mailer: Dep<Mailer>, metadata: Metadata) {
    mailer.send(format!("audit {}", metadata.message_type));
}

#[event_handler]
fn audit_sync_second(_event: &Audited, mailer: Dep<Mailer>) -> Result<(), Refused> {
    mailer.send("audit second".to_owned());
    Err(Refused(0))
}

fn async_bus() -> (InMemoryAsyncMessageBus, std::sync::Arc<Mailer>) {
    let mailer = std::sync::Arc::new(Mailer::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&mailer))
        .register_handlers()
        .build()
        .expect("every dependency is there");
    (bus, mailer)
}

#[tokio::test]
async fn registered_async_handlers_are_found_without_manual_subscription() {
    let (bus, mailer) = async_bus();
    assert_eq!(bus.handler_count::<Deposited>(), 2);
    assert_eq!(bus.handler_count::<Withdrawn>(), 1);

    let metadata = Metadata::new("Deposited").with_subject("ACC-1");
    let deposit = Deposited {
        account: "ACC-1".into(),
        amount: 5_000,
    };
    bus.publish_envelope(Envelope::with_metadata(deposit, metadata))
        .await
        .expect("both succeed");

    assert_eq!(
        mailer.sent(),
        ["fraud alert ACC-1", "receipt ACC-1 5000 subject=ACC-1"]
    );
}

#[tokio::test]
async fn a_registered_handler_is_named_by_its_path_or_its_given_name() {
    let (bus, _mailer) = async_bus();
    let error = bus
        .publish(Withdrawn { amount: 7 })
        .await
        .expect_err("refused");
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["bus_registration::refuse_withdrawals"]
    );
    assert_eq!(
        error.failures[0].error.to_string(),
        "withdrawal of 7 refused"
    );

    let names: Vec<_> = orchestrix::registry::async_handlers()
        .iter()
        .map(|r| r.name)
        .collect();
    assert!(names.contains(&"fraud-check"), "{names:?}");
    assert!(
        names.contains(&"bus_registration::send_receipt"),
        "{names:?}"
    );
}

#[test]
fn registered_sync_handlers_are_found_and_run_in_name_order() {
    let mailer = std::sync::Arc::new(Mailer::default());
    let bus = InMemoryMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&mailer))
        .register_plain_fn_handlers()
        .build()
        .expect("every dependency is there");
    let error = bus.publish(Audited).expect_err("the second fails");
    assert_eq!(
        error.failed_handlers().collect::<Vec<_>>(),
        ["bus_registration::audit_sync_second"]
    );
    assert_eq!(
        *mailer.sent.lock().expect("outbox"),
        ["audit Audited", "audit second"]
    );
    // Async handlers are not subscribed to the sync bus.
    assert_eq!(bus.handler_count::<Deposited>(), 0);
}

#[tokio::test]
async fn a_handler_can_be_subscribed_by_name_and_is_kept_once() {
    let mailer = std::sync::Arc::new(Mailer::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&mailer))
        .handler(send_receipt)
        .handler(send_receipt)
        .build()
        .expect("every dependency is there");
    assert_eq!(bus.handler_count::<Deposited>(), 1);
    assert_eq!(bus.handler_count::<Withdrawn>(), 0);
    bus.publish(Deposited {
        account: "ACC-2".into(),
        amount: 5_000,
    })
    .await
    .expect("send_receipt succeeds");
    assert_eq!(
        mailer.sent(),
        ["receipt ACC-2 5000 subject=-"],
        "the named handler ran, once; the unnamed fraud check was not subscribed"
    );

    let sync_mailer = std::sync::Arc::new(Mailer::default());
    let sync_bus = InMemoryMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&sync_mailer))
        .handler(audit_sync)
        .handler(audit_sync)
        .build()
        .expect("every dependency is there");
    assert_eq!(sync_bus.handler_count::<Audited>(), 1);
    sync_bus.publish(Audited).expect("audit_sync succeeds");
    assert_eq!(
        sync_mailer.sent(),
        [format!(
            "audit {}",
            <Audited as orchestrix::message::Message>::NAME
        )],
        "audit_sync ran once; audit_sync_second was not subscribed"
    );
}

#[tokio::test]
async fn a_handler_fn_stays_callable_directly() {
    let mailer = std::sync::Arc::new(Mailer::default());
    let deposit = Deposited {
        account: "ACC-9".into(),
        amount: 1,
    };
    send_receipt(
        &deposit,
        Dep::new(std::sync::Arc::clone(&mailer)),
        Metadata::new("Deposited"),
    )
    .await;
    assert_eq!(mailer.sent(), ["receipt ACC-9 1 subject=-"]);
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Pinged;

/// Handlers generated by a `macro_rules!` (whose spans have their own
/// hygiene) work like hand-written ones.
macro_rules! ping_handlers {
    ($($name:ident),*) => {$(
        #[event_handler]
        async fn $name(_event: &Pinged, mailer: Dep<Mailer>) {
            mailer.send(format!("ping {}", stringify!($name)));
        }
    )*};
}

ping_handlers!(ping_one, ping_two);

#[tokio::test]
async fn handlers_generated_by_a_declarative_macro_are_registered() {
    let (bus, mailer) = async_bus();
    bus.publish(Pinged).await.expect("both succeed");
    assert_eq!(mailer.sent(), ["ping ping_one", "ping ping_two"]);
}

#[tokio::test]
async fn handlers_registered_in_another_crate_are_found() {
    use orchestrix_tests::bus_support::{CrossCrateEvent, SEEN_ASYNC, SEEN_SYNC};

    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Mailer::default())
        .register_handlers()
        .build()
        .expect("every dependency is there");
    // The async bus runs both the async and the plain fn handler.
    assert_eq!(bus.handler_count::<CrossCrateEvent>(), 2);
    bus.publish(CrossCrateEvent { value: 3 })
        .await
        .expect("handled");
    assert_eq!(SEEN_ASYNC.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(SEEN_SYNC.load(std::sync::atomic::Ordering::SeqCst), 3);

    let sync_bus = InMemoryMessageBus::builder()
        .dependency(Mailer::default())
        .register_plain_fn_handlers()
        .build()
        .expect("every dependency is there");
    sync_bus
        .publish(CrossCrateEvent { value: 4 })
        .expect("handled");
    assert_eq!(SEEN_SYNC.load(std::sync::atomic::Ordering::SeqCst), 7);
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct NamedA;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct NamedB;

#[event_handler(name = "shared-name")]
async fn shared_name_a(_event: &NamedA, mailer: Dep<Mailer>) {
    mailer.send("a".to_owned());
}

#[event_handler(name = "shared-name")]
async fn shared_name_b(_event: &NamedB, mailer: Dep<Mailer>) {
    mailer.send("b".to_owned());
}

#[tokio::test]
async fn handlers_sharing_a_name_for_different_events_are_both_kept() {
    let (bus, mailer) = async_bus();
    assert_eq!(bus.handler_count::<NamedA>(), 1);
    assert_eq!(bus.handler_count::<NamedB>(), 1);
    bus.publish(NamedA).await.expect("handled");
    bus.publish(NamedB).await.expect("handled");
    assert_eq!(mailer.sent(), ["a", "b"]);
}

#[tokio::test]
async fn a_handler_both_registered_and_named_runs_once() {
    let mailer = std::sync::Arc::new(Mailer::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&mailer))
        .register_handlers()
        .handler(send_receipt)
        .build()
        .expect("every dependency is there");
    assert_eq!(bus.handler_count::<Deposited>(), 2);
    bus.publish(Deposited {
        account: "ACC-2".into(),
        amount: 10,
    })
    .await
    .expect("both succeed");
    assert_eq!(mailer.sent(), ["receipt ACC-2 10 subject=-"]);

    let sync_mailer = std::sync::Arc::new(Mailer::default());
    let sync_bus = InMemoryMessageBus::builder()
        .dependency_arc(std::sync::Arc::clone(&sync_mailer))
        .handler(audit_sync)
        .register_plain_fn_handlers()
        .build()
        .expect("every dependency is there");
    assert_eq!(sync_bus.handler_count::<Audited>(), 2);
    let error = sync_bus
        .publish(Audited)
        .expect_err("audit_sync_second fails");
    assert_eq!(error.failures.len(), 1);
    assert_eq!(sync_mailer.sent(), ["audit Audited", "audit second"]);
}
