//! The command-handler helper: save, then publish, with causation and
//! correlation ids stamped from the command.

mod support;

use std::sync::Mutex;

use orchestrix::aggregate::CommandError;
use orchestrix::bus::FailedHandler;
use orchestrix::message::AnyEnvelope;
use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use support::*;

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
#[command(name = "tests.bank.Deposit")]
struct Deposit {
    account: String,
    amount: u64,
}

/// A bus that records what it was given, and fails for one event type.
#[derive(Default)]
struct RecordingBus {
    published: Mutex<Vec<AnyEnvelope>>,
    fail_on: Option<&'static str>,
}

impl RecordingBus {
    fn failing_on(event_type: &'static str) -> Self {
        Self {
            published: Mutex::default(),
            fail_on: Some(event_type),
        }
    }

    fn record(&self, envelope: AnyEnvelope) -> Result<(), HandlerError> {
        let name = envelope.message_name();
        let id = envelope.metadata().id;
        self.published.lock().expect("lock").push(envelope);
        if self.fail_on == Some(name) {
            return Err(HandlerError {
                message_type: name.to_owned(),
                message_id: id,
                failures: vec![FailedHandler {
                    handler: "tests::failing_handler".into(),
                    error: "boom".into(),
                }],
            });
        }
        Ok(())
    }

    fn published(&self) -> Vec<AnyEnvelope> {
        self.published.lock().expect("lock").clone()
    }
}

impl MessageBus for RecordingBus {
    fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError> {
        self.record(envelope)
    }
}

#[async_trait::async_trait]
impl AsyncMessageBus for RecordingBus {
    async fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError> {
        self.record(envelope)
    }
}

/// The seed's command handler, in Rust: load or create, decide, save, publish.
async fn handle_deposit(
    repo: &AggregateRepository<InMemoryAsyncEventStore>,
    bus: &RecordingBus,
    command: &Envelope<Deposit>,
) -> Result<AppendOutcome, CommandError> {
    let Deposit { account, amount } = command.message();
    let mut root = match repo.load_async::<BankAccount>(account).await {
        Ok(root) => root,
        Err(RepositoryError::NotFound { .. }) => {
            let mut root = AggregateRoot::new(account.clone());
            open(&mut root, "walk-in");
            root
        }
        Err(other) => return Err(other.into()),
    };
    deposit(&mut root, *amount).map_err(|e| CommandError::Domain(e.into()))?;
    repo.save_and_publish_async(&mut root, bus, command.metadata())
        .await
}

#[tokio::test]
async fn events_are_saved_then_published_with_causation_and_correlation() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let bus = RecordingBus::default();
    let id = account_id("command");
    let command = Envelope::new(Deposit {
        account: id.clone(),
        amount: 40,
    });

    let outcome = handle_deposit(&repo, &bus, &command)
        .await
        .expect("handled");
    assert_eq!(outcome.new_version, 2);

    let stored = repo.store().load(&id, 0).await.expect("load");
    let published = bus.published();
    assert_eq!(
        published
            .iter()
            .map(AnyEnvelope::message_name)
            .collect::<Vec<_>>(),
        ["tests.bank.AccountOpened", "tests.bank.Deposited"]
    );
    assert_eq!(
        stored.len(),
        published.len(),
        "every stored event is published"
    );
    for (stored, published) in stored.iter().zip(&published) {
        assert_eq!(
            stored.metadata(),
            published.metadata(),
            "the published event is the stored one"
        );
        assert_eq!(stored.metadata().causation_id, Some(command.metadata().id));
        assert_eq!(
            stored.metadata().correlation_id,
            command.metadata().correlation_id
        );
        assert_eq!(stored.metadata().subject.as_deref(), Some(id.as_str()));
    }

    let account = repo.load_async::<BankAccount>(&id).await.expect("load");
    assert!(account.uncommitted_events().is_empty());
    assert_eq!(account.balance, 40);
}

#[tokio::test]
async fn a_command_inherits_the_correlation_of_its_own_cause() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let bus = RecordingBus::default();
    let id = account_id("correlation");
    let upstream = orchestrix::message::Metadata::new("tests.Upstream");
    let command = Envelope::with_metadata(
        Deposit {
            account: id.clone(),
            amount: 1,
        },
        orchestrix::message::Metadata::new("tests.bank.Deposit").caused_by(&upstream),
    );
    handle_deposit(&repo, &bus, &command)
        .await
        .expect("handled");
    let published = bus.published();
    assert_eq!(
        published
            .iter()
            .map(AnyEnvelope::message_name)
            .collect::<Vec<_>>(),
        ["tests.bank.AccountOpened", "tests.bank.Deposited"]
    );
    for event in published {
        assert_eq!(event.metadata().correlation_id, upstream.correlation_id);
        assert_eq!(event.metadata().causation_id, Some(command.metadata().id));
    }
}

#[test]
fn a_conflict_publishes_nothing() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let bus = RecordingBus::default();
    let id = account_id("conflict");
    let mut first = AggregateRoot::<BankAccount>::new(&id);
    let mut second = AggregateRoot::<BankAccount>::new(&id);
    open(&mut first, "Ada");
    open(&mut second, "Eve");
    let command = orchestrix::message::Metadata::new("tests.Open");
    repo.save_and_publish(&mut first, &bus, &command)
        .expect("first wins");
    let error = repo
        .save_and_publish(&mut second, &bus, &command)
        .expect_err("second loses");
    assert!(
        matches!(
            error,
            CommandError::Repository(RepositoryError::Concurrency(_))
        ),
        "{error:?}"
    );
    assert_eq!(
        bus.published().len(),
        1,
        "only the saved event was published"
    );
}

#[test]
fn a_failing_handler_is_reported_after_every_event_was_published() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let bus = RecordingBus::failing_on("tests.bank.AccountOpened");
    let id = account_id("publish-failure");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    deposit(&mut account, 5).expect("open");
    let command = orchestrix::message::Metadata::new("tests.Open");

    let error = repo
        .save_and_publish(&mut account, &bus, &command)
        .expect_err("a handler failed");
    let CommandError::Publish {
        aggregate_id,
        saved,
        failures,
    } = &error
    else {
        panic!("expected a publish error, got {error:?}");
    };
    assert_eq!((aggregate_id.as_str(), saved.new_version), (id.as_str(), 2));
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].failed_handlers().collect::<Vec<_>>(),
        ["tests::failing_handler"]
    );
    assert!(
        error.to_string().contains("tests::failing_handler"),
        "{error}"
    );
    assert_eq!(
        bus.published().len(),
        2,
        "the later event was still published"
    );
    assert_eq!(
        repo.load::<BankAccount>(&id).expect("saved").balance,
        5,
        "the events stay saved"
    );
    assert!(account.uncommitted_events().is_empty());
}
