//! The quickstart: a command and the events it leads to, published through
//! both buses, on the in-memory default.
//!
//! `cargo run -p orchestrix-examples --bin quickstart`
//!
//! * A `#[command_handler]` decides; the bus's `send` loads the aggregate,
//!   saves its events and publishes them as caused by the command.
//! * `#[event_handler]` `async fn`s are found by `register_handlers()` and run
//!   concurrently on `InMemoryAsyncMessageBus`, which also runs plain `fn`s
//!   inline; plain `fn`s run in order on `InMemoryMessageBus`.
//! * Handlers ask for shared dependencies as `Dep<T>` parameters and read
//!   the message's metadata as a `Metadata` parameter.
//!
//! `RUST_LOG=info` shows the `publish` and `handler` tracing spans.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::bus::Dep;
use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
struct OpenAccount {
    account_id: String,
    owner: String,
}

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
struct Deposit {
    account_id: String,
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct AccountOpened {
    account_id: String,
    owner: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.MoneyDeposited", version = 1)]
struct MoneyDeposited {
    account_id: String,
    amount: u64,
}

/// Stands in for a mail client.
#[derive(Debug, Default)]
struct Mailer {
    outbox: Mutex<Vec<String>>,
}

/// Stands in for a read model of balances.
#[derive(Debug, Default)]
struct Balances {
    total: AtomicU64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    open: bool,
}

#[derive(Debug, thiserror::Error)]
enum AccountError {
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("the account is not open")]
    NotOpen,
}

// ---- the aggregate and its command handlers: decide, the rest is generated ----

#[aggregate]
impl Account {
    #[apply]
    fn opened(&mut self, _event: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, _event: &MoneyDeposited) {}

    #[command_handler(aggregate_id = account_id, create_if_missing)]
    fn open(&self, command: &OpenAccount) -> Result<AccountOpened, AccountError> {
        if self.open {
            return Err(AccountError::AlreadyOpen);
        }
        Ok(AccountOpened {
            account_id: command.account_id.clone(),
            owner: command.owner.clone(),
        })
    }

    #[command_handler(aggregate_id = account_id, retry_on_conflict = 3)]
    fn deposit(&self, command: &Deposit) -> Result<MoneyDeposited, AccountError> {
        if !self.open {
            return Err(AccountError::NotOpen);
        }
        Ok(MoneyDeposited {
            account_id: command.account_id.clone(),
            amount: command.amount,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("deposit of {amount} on {account_id} needs a manual review")]
struct NeedsReview {
    account_id: String,
    amount: u64,
}

// ---- async handlers: all handlers of one event run concurrently ----

#[event_handler]
async fn send_welcome_mail(event: &AccountOpened, mailer: Dep<Mailer>, metadata: Metadata) {
    tokio::time::sleep(Duration::from_millis(20)).await; // talking to the mail server
    let mail = format!("Welcome, {}!", event.owner);
    println!(
        "  [async] send_welcome_mail: mailed {:?} (correlation {}, caused by {:?})",
        mail,
        metadata.correlation_id,
        metadata.causation_id.map(|id| id.to_string())
    );
    mailer.outbox.lock().expect("outbox").push(mail);
}

#[event_handler]
async fn create_balance(event: &AccountOpened, balances: Dep<Balances>) {
    tokio::time::sleep(Duration::from_millis(20)).await; // writing to the read model
    println!(
        "  [async] create_balance: account {} starts at {}",
        event.account_id,
        balances.total.load(Ordering::SeqCst)
    );
}

#[event_handler]
async fn add_to_balance(event: &MoneyDeposited, balances: Dep<Balances>) {
    let total = balances.total.fetch_add(event.amount, Ordering::SeqCst) + event.amount;
    println!(
        "  [async] add_to_balance: +{} on {}, total {total}",
        event.amount, event.account_id
    );
}

#[event_handler]
async fn review_large_deposits(event: &MoneyDeposited) -> Result<(), NeedsReview> {
    if event.amount > 10_000 {
        println!(
            "  [async] review_large_deposits: {} is too large, failing",
            event.amount
        );
        return Err(NeedsReview {
            account_id: event.account_id.clone(),
            amount: event.amount,
        });
    }
    println!("  [async] review_large_deposits: {} is fine", event.amount);
    Ok(())
}

// ---- sync handlers: run one after another, in name order ----

#[event_handler]
fn audit_account_opened(event: &AccountOpened, metadata: Metadata) {
    println!(
        "  [sync]  audit_account_opened: {} opened by {} (event id {})",
        event.account_id, event.owner, metadata.id
    );
}

#[event_handler]
fn audit_deposit(event: &MoneyDeposited) {
    println!(
        "  [sync]  audit_deposit: {} deposited on {}",
        event.amount, event.account_id
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // `RUST_LOG=info` shows the bus's spans: command, publish (message type
    // and id) and handler (its name).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let async_bus = InMemoryAsyncMessageBus::builder()
        .event_store(Arc::new(InMemoryAsyncEventStore::new()))
        .dependency(Mailer::default())
        .dependency(Balances::default())
        .register_handlers()
        .build()?;
    // The blocking bus runs the plain fns only; the async ones are the async bus's.
    let sync_bus = InMemoryMessageBus::builder()
        .event_store(Arc::new(InMemoryEventStore::new()))
        .register_plain_fn_handlers()
        .build()?;

    let open = || OpenAccount {
        account_id: "ACC-001".into(),
        owner: "Ada".into(),
    };
    let deposits = [500, 25_000].map(|amount| Deposit {
        account_id: "ACC-001".into(),
        amount,
    });

    println!("== sync bus (InMemoryMessageBus): handlers run in order");
    sync_bus.send(open())?;
    for deposit in deposits.clone() {
        sync_bus.send(deposit)?;
    }

    println!();
    println!("== async bus (InMemoryAsyncMessageBus): handlers of a message run concurrently");
    let started = std::time::Instant::now();
    async_bus.send(open()).await?;
    println!(
        "  opened in {:?} (two handlers, each waits 20 ms)",
        started.elapsed()
    );
    for (deposit, needs_review) in deposits.into_iter().zip([false, true]) {
        match async_bus.send(deposit).await {
            Ok(outcome) if !needs_review => {
                println!("  -> saved at version {}", outcome.saved.new_version)
            }
            // Saved, but a handler failed; every handler ran.
            Err(error) if needs_review => println!("  -> {error}"),
            outcome => {
                return Err(format!(
                    "wrong outcome: the deposit {} review, but sending it gave {outcome:?}",
                    if needs_review { "needs a" } else { "needs no" }
                )
                .into());
            }
        }
    }
    match async_bus.send(open()).await {
        Err(error) => println!("  -> refused: {error}"),
        Ok(outcome) => {
            return Err(format!("wrong outcome: opening twice was accepted: {outcome:?}").into());
        }
    }

    if let Some(mailer) = async_bus.dependencies().get::<Mailer>() {
        println!();
        println!("mail outbox: {:?}", mailer.outbox.lock().expect("outbox"));
    }
    Ok(())
}
