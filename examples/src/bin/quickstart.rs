//! The quickstart: a command and the events it leads to, published through
//! both buses, on the in-memory default.
//!
//! `cargo run -p orchestrix-examples --bin quickstart`
//!
//! * `#[event_handler]` `async fn`s are found by `register_handlers()` and run
//!   concurrently on `InMemoryAsyncMessageBus`; plain `fn`s run in order on
//!   `InMemoryMessageBus`.
//! * Handlers ask for shared dependencies as `Dep<T>` parameters and read
//!   the message's metadata as a `Metadata` parameter.
//! * A command handler is a closure subscribed by hand.
//!
//! `RUST_LOG=info` shows the `publish` and `handler` tracing spans.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orchestrix::bus::Dep;
use orchestrix::prelude::*;

#[derive(Command, Clone, Debug, Serialize, Deserialize)]
struct OpenAccount {
    account_id: String,
    owner: String,
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
    // `RUST_LOG=info` shows the bus's spans: publish (message type and id)
    // and handler (its name).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let sync_bus = InMemoryMessageBus::builder().register_handlers().build()?;
    let async_bus = InMemoryAsyncMessageBus::builder()
        .dependency(Mailer::default())
        .dependency(Balances::default())
        .register_handlers()
        .build()?;

    // A command handler, subscribed by hand on each bus.
    sync_bus.subscribe("open_account", |command: &Envelope<OpenAccount>| {
        println!(
            "  [sync]  open_account: opening {} for {}",
            command.message().account_id,
            command.message().owner
        );
    });
    async_bus.subscribe(
        "open_account",
        |command: Envelope<OpenAccount>| async move {
            println!(
                "  [async] open_account: opening {} for {}",
                command.message().account_id,
                command.message().owner
            );
        },
    );

    let command = Envelope::new(OpenAccount {
        account_id: "ACC-001".into(),
        owner: "Ada".into(),
    });
    // The events the command leads to share its correlation id and name it
    // as their cause.
    let opened = Envelope::with_metadata(
        AccountOpened {
            account_id: "ACC-001".into(),
            owner: "Ada".into(),
        },
        Metadata::new(AccountOpened::NAME).caused_by(command.metadata()),
    );
    // As an aggregate's uncommitted events will be: type-erased.
    let deposits: Vec<AnyEnvelope> = [500, 25_000]
        .into_iter()
        .map(|amount| {
            Envelope::with_metadata(
                MoneyDeposited {
                    account_id: "ACC-001".into(),
                    amount,
                },
                Metadata::new(MoneyDeposited::NAME).caused_by(command.metadata()),
            )
            .into_any()
        })
        .collect();

    println!("== sync bus (InMemoryMessageBus): handlers run in order");
    println!("publish command {}", OpenAccount::NAME);
    sync_bus.publish_envelope(command.clone())?;
    println!("publish event {}", AccountOpened::NAME);
    sync_bus.publish_envelope(opened.clone())?;
    for deposit in &deposits {
        println!("publish event {} (type-erased)", deposit.message_name());
        sync_bus.publish_envelope(deposit.clone())?;
    }

    println!();
    println!("== async bus (InMemoryAsyncMessageBus): handlers of a message run concurrently");
    println!("publish command {}", OpenAccount::NAME);
    async_bus.publish_envelope(command).await?;
    println!(
        "publish event {} (two handlers, each waits 20 ms)",
        AccountOpened::NAME
    );
    let started = std::time::Instant::now();
    async_bus.publish_envelope(opened).await?;
    println!("  both done in {:?}", started.elapsed());
    for (deposit, needs_review) in deposits.into_iter().zip([false, true]) {
        println!("publish event {} (type-erased)", deposit.message_name());
        match async_bus.publish_envelope(deposit).await {
            Ok(()) if !needs_review => {}
            // Every handler ran; the error names the one that failed.
            Err(error) if needs_review => println!("  -> HandlerError: {error}"),
            outcome => {
                return Err(format!(
                    "wrong outcome: the deposit {} review, but publishing gave {outcome:?}",
                    if needs_review { "needs a" } else { "needs no" }
                )
                .into());
            }
        }
    }

    if let Some(mailer) = async_bus.dependencies().get::<Mailer>() {
        println!();
        println!("mail outbox: {:?}", mailer.outbox.lock().expect("outbox"));
    }
    Ok(())
}
