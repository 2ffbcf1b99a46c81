//! `#[command_handler]`: the generated pipeline (load, decide, save, publish)
//! on both buses: new vs must-exist aggregates, causation and correlation
//! stamped from the command, a domain error saving nothing, conflicts
//! retried when the handler allows, and the bus build checks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use orchestrix::bus::{BusBuildError, Dep};
use orchestrix::command::CommandError;
use orchestrix::prelude::*;
use orchestrix::store::{AsyncEventStore, InMemoryAsyncEventStore, InMemoryEventStore};

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
#[command(name = "tests.cmd.Open")]
struct Open {
    account_id: String,
    owner: String,
}

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
#[command(name = "tests.cmd.Deposit")]
struct Deposit {
    account_id: String,
    amount: u64,
}

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
#[command(name = "tests.cmd.Withdraw")]
struct Withdraw {
    account_id: String,
    amount: u64,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.cmd.Opened")]
struct Opened {
    owner: String,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.cmd.Deposited")]
struct Deposited {
    amount: u64,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.cmd.Withdrawn")]
struct Withdrawn {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum BankError {
    #[error("insufficient funds: balance {balance}")]
    InsufficientFunds { balance: u64 },
    #[error("account already open")]
    AlreadyOpen,
}

#[aggregate(name = "tests.cmd.Account")]
impl Account {
    #[apply]
    fn opened(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
    }
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount);
    }

    /// A method handler: the aggregate must exist; conflicts retried twice.
    #[command_handler(aggregate_id = account_id, retry_on_conflict = 2)]
    fn deposit(&self, command: &Deposit) -> Result<Deposited, BankError> {
        Ok(Deposited {
            amount: command.amount,
        })
    }
}

/// A free-fn handler that starts the aggregate.
#[command_handler(aggregate_id = account_id, create_if_missing)]
fn open(account: &Account, command: &Open) -> Result<Opened, BankError> {
    if !account.owner.is_empty() {
        return Err(BankError::AlreadyOpen);
    }
    Ok(Opened {
        owner: command.owner.clone(),
    })
}

/// No retry: a conflict is given back.
#[command_handler(aggregate_id = account_id)]
fn withdraw(account: &Account, command: &Withdraw) -> Result<Withdrawn, BankError> {
    if account.balance < command.amount {
        return Err(BankError::InsufficientFunds {
            balance: account.balance,
        });
    }
    Ok(Withdrawn {
        amount: command.amount,
    })
}

/// What the event handlers saw.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<(String, Metadata)>>,
}

#[event_handler]
async fn saw_opened(event: &Opened, seen: Dep<Seen>, metadata: Metadata) {
    seen.events
        .lock()
        .expect("seen")
        .push((event.owner.clone(), metadata));
}

#[event_handler]
fn saw_deposited(event: &Deposited, seen: Dep<Seen>, metadata: Metadata) {
    seen.events
        .lock()
        .expect("seen")
        .push((format!("deposited {}", event.amount), metadata));
}

/// A store that, on the next `interfere` saves, first appends a competing
/// deposit to the stream: another writer winning the race.
struct RacingStore {
    inner: InMemoryAsyncEventStore,
    interfere: AtomicU32,
}

#[orchestrix::async_trait]
impl AsyncEventStore for RacingStore {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        if self
            .interfere
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let rival: AnyEnvelope = Envelope::new(Deposited { amount: 1 }).into();
            self.inner
                .save(aggregate_id, &[rival], expected_version)
                .await?;
        }
        self.inner
            .save(aggregate_id, events, expected_version)
            .await
    }
    async fn load(&self, id: &str, from: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.load(id, from).await
    }
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, limit).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(id).await
    }
}

fn racing(interfere: u32) -> Arc<RacingStore> {
    Arc::new(RacingStore {
        inner: InMemoryAsyncEventStore::new(),
        interfere: AtomicU32::new(interfere),
    })
}

async fn async_bus(store: Arc<dyn AsyncEventStore>) -> (InMemoryAsyncMessageBus, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .event_store(store)
        .dependency_arc(Arc::clone(&seen))
        .command_handler(open)
        .command_handler(withdraw)
        .register_handlers()
        .build()
        .expect("the bus builds");
    (bus, seen)
}

fn deposit(amount: u64) -> Deposit {
    Deposit {
        account_id: "acc-1".into(),
        amount,
    }
}

fn assert_conflict(outcome: &Result<CommandOutcome, CommandError>) {
    assert!(
        matches!(
            outcome,
            Err(CommandError::Repository(RepositoryError::Concurrency(_)))
        ),
        "{outcome:?}"
    );
}

/// What the event handlers saw, by description.
fn seen_names(seen: &Seen) -> Vec<String> {
    seen.events
        .lock()
        .expect("seen")
        .iter()
        .map(|(name, _)| name.clone())
        .collect()
}

fn open_command() -> Open {
    Open {
        account_id: "acc-1".into(),
        owner: "Ada".into(),
    }
}

#[tokio::test]
async fn a_new_aggregate_is_created_saved_and_its_events_published_as_caused_by_the_command() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (bus, seen) = async_bus(store.clone()).await;
    let command = Envelope::new(open_command());

    let outcome = bus.send_envelope(command.clone()).await.expect("opened");
    assert_eq!(outcome.aggregate_id, "acc-1");
    assert_eq!((outcome.saved.new_version, outcome.attempts), (1, 1));

    let stored = store.load("acc-1", 0).await.expect("loads");
    assert_eq!(stored.len(), 1);
    let metadata = stored[0].metadata();
    assert_eq!(metadata.causation_id, Some(command.metadata().id));
    assert_eq!(metadata.correlation_id, command.metadata().correlation_id);
    assert_eq!(metadata.subject.as_deref(), Some("acc-1"));

    let seen = seen.events.lock().expect("seen").clone();
    assert_eq!(seen.len(), 1, "the event was published once");
    assert_eq!(seen[0].0, "Ada");
    assert_eq!(seen[0].1.causation_id, Some(command.metadata().id));
    assert_eq!(
        seen[0].1.id, metadata.id,
        "the stored event is the published one"
    );
}

#[tokio::test]
async fn a_handler_without_create_if_missing_refuses_a_missing_aggregate() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (bus, seen) = async_bus(store.clone()).await;
    let refused = bus
        .send(Deposit {
            account_id: "nobody".into(),
            amount: 5,
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Repository(RepositoryError::NotFound { ref aggregate_id, .. })) if aggregate_id == "nobody"
        ),
        "{refused:?}"
    );
    assert!(store.load("nobody", 0).await.expect("loads").is_empty());
    assert!(seen.events.lock().expect("seen").is_empty());
}

#[tokio::test]
async fn a_domain_error_saves_and_publishes_nothing() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (bus, seen) = async_bus(store.clone()).await;
    bus.send(open_command()).await.expect("opened");

    let refused = bus
        .send(Withdraw {
            account_id: "acc-1".into(),
            amount: 10,
        })
        .await;
    let Err(CommandError::Domain(error)) = refused else {
        panic!("expected a domain error, got {refused:?}");
    };
    assert_eq!(
        error.downcast_ref::<BankError>(),
        Some(&BankError::InsufficientFunds { balance: 0 })
    );
    assert_eq!(store.load("acc-1", 0).await.expect("loads").len(), 1);
    assert_eq!(seen.events.lock().expect("seen").len(), 1, "only Opened");

    let again = bus.send(open_command()).await;
    assert!(matches!(again, Err(CommandError::Domain(_))), "{again:?}");
}

#[tokio::test]
async fn a_conflict_runs_the_whole_command_again_when_the_handler_allows() {
    let store = racing(0);
    let (bus, seen) = async_bus(store.clone()).await;
    bus.send(open_command()).await.expect("opened");

    // The next two saves each lose a race; the handler allows two retries.
    store.interfere.store(2, Ordering::SeqCst);
    let outcome = bus
        .send(deposit(100))
        .await
        .expect("the third attempt wins");
    assert_eq!(outcome.attempts, 3);
    // Opened, two rival deposits, then ours, decided on the reloaded state.
    assert_eq!(outcome.saved.new_version, 4);
    let account = AggregateRepository::shared(store.clone() as Arc<dyn AsyncEventStore>)
        .load_async::<Account>("acc-1")
        .await
        .expect("loads");
    assert_eq!(account.balance, 102);
    let published = seen_names(&seen);
    assert_eq!(
        published,
        ["Ada", "deposited 100"],
        "only the saved attempt is published"
    );

    // Three lost races are one too many.
    store.interfere.store(3, Ordering::SeqCst);
    let conflict = bus.send(deposit(100)).await;
    assert_conflict(&conflict);
}

#[tokio::test]
async fn without_retries_a_conflict_is_given_back_at_once() {
    let store = racing(0);
    let (bus, _seen) = async_bus(store.clone()).await;
    bus.send(open_command()).await.expect("opened");
    bus.send(deposit(5)).await.expect("deposited");
    store.interfere.store(1, Ordering::SeqCst);
    let conflict = bus
        .send(Withdraw {
            account_id: "acc-1".into(),
            amount: 1,
        })
        .await;
    assert_conflict(&conflict);
    assert_eq!(
        store.interfere.load(Ordering::SeqCst),
        0,
        "one attempt only"
    );
}

#[test]
fn the_blocking_bus_runs_the_same_handlers() {
    let store = Arc::new(InMemoryEventStore::new());
    let bus = InMemoryMessageBus::builder()
        .event_store(store.clone())
        .command_handler(open)
        .command_handler(withdraw)
        .build()
        .expect("the bus builds");
    let command = Envelope::new(open_command());
    let outcome = bus.send_envelope(command.clone()).expect("opened");
    assert_eq!((outcome.saved.new_version, outcome.attempts), (1, 1));
    let stored = store.load("acc-1", 0).expect("loads");
    assert_eq!(
        stored[0].metadata().causation_id,
        Some(command.metadata().id)
    );

    let refused = bus.send(Withdraw {
        account_id: "acc-1".into(),
        amount: 1,
    });
    assert!(
        matches!(refused, Err(CommandError::Domain(_))),
        "{refused:?}"
    );
    assert_eq!(store.load("acc-1", 0).expect("loads").len(), 1);

    // The deposit handler was not subscribed to this bus.
    let unhandled = bus.send(deposit(1));
    assert!(
        matches!(
            unhandled,
            Err(CommandError::NoHandler {
                command: "tests.cmd.Deposit"
            })
        ),
        "{unhandled:?}"
    );
}

#[test]
fn a_bus_with_command_handlers_but_no_event_store_is_refused() {
    let error = InMemoryAsyncMessageBus::builder()
        .command_handler(open)
        .build()
        .expect_err("no event store");
    assert!(
        matches!(&error, BusBuildError::NoEventStore { handlers, .. } if handlers.len() == 1 && handlers[0].ends_with("::open")),
        "{error}"
    );
    assert!(error.to_string().contains(".event_store(store)"), "{error}");
}

#[test]
fn the_blocking_bus_refuses_to_leave_registered_async_handlers_unrun() {
    let error = InMemoryMessageBus::builder()
        .dependency(Seen::default())
        .event_store(Arc::new(InMemoryEventStore::new()))
        .register_handlers()
        .build()
        .expect_err("saw_opened is an async fn");
    let BusBuildError::HandlersNotRun { handlers, .. } = &error else {
        panic!("unexpected error {error}");
    };
    assert_eq!(handlers.len(), 1, "{error}");
    assert!(handlers[0].ends_with("::saw_opened"), "{error}");
    assert!(
        error.to_string().contains("InMemoryAsyncMessageBus"),
        "{error}"
    );
}

#[tokio::test]
async fn the_async_bus_runs_plain_fn_handlers_too() {
    // `register_handlers()` took `saw_deposited`, a plain fn: the deposit
    // (a method handler, also from `register_handlers()`) reaches it.
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (bus, seen) = async_bus(store).await;
    bus.send(open_command()).await.expect("opened");
    bus.send(deposit(7)).await.expect("deposited");
    let seen = seen_names(&seen);
    assert_eq!(seen, ["Ada", "deposited 7"]);

    // Subscribed by name, without `register_handlers()`, it runs as well.
    let seen = Arc::new(Seen::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(Arc::clone(&seen))
        .handler(saw_deposited)
        .build()
        .expect("builds");
    bus.publish(Deposited { amount: 3 })
        .await
        .expect("published");
    assert_eq!(seen.events.lock().expect("seen").len(), 1);
}
