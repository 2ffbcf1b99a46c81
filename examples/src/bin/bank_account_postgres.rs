//! The seed's BankAccount, event-sourced in PostgreSQL.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run -p orchestrix-examples --features postgres --bin bank_account_postgres
//! ```
//!
//! Opens an account, deposits and withdraws through the
//! `AggregateRepository` over `PostgreSQLEventStore`, shows that a stale
//! writer gets a `ConcurrencyError`, and reads the global stream. Without
//! `DATABASE_URL` it says so and exits.

use orchestrix::postgres::PostgresOptions;
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.AccountOpened")]
struct AccountOpened {
    owner: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.Deposited")]
struct Deposited {
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.Withdrawn")]
struct Withdrawn {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct BankAccount {
    owner: String,
    balance: u64,
}

#[aggregate]
impl BankAccount {
    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.owner = event.owner.clone();
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    // Applying a recorded fact cannot fail: a stored withdrawal is applied
    // even if the history would take the balance below zero.
    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!(
            "bank_account_postgres: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it"
        );
        return Ok(());
    };
    let options = PostgresOptions::builder(url)
        .pool_min_size(1)
        .pool_max_size(5)
        .schema("bank_example")
        .build()?;
    let store = PostgreSQLEventStore::connect_with(options).await?;
    store.initialize().await?;
    let repo = AggregateRepository::new(store.clone())
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(10));

    // A fresh account id per run, so the example can run repeatedly.
    let id = format!("ACC-{}", &uuid_suffix());
    let mut account = AggregateRoot::<BankAccount>::new(id.clone());
    account.record(AccountOpened {
        owner: "Ada".into(),
    });
    account.record(Deposited { amount: 500 });
    repo.save_async(&mut account).await?;

    let mut account = repo.load_async::<BankAccount>(&id).await?;
    account.record(Withdrawn { amount: 120 });
    repo.save_async(&mut account).await?;

    let account = repo.load_async::<BankAccount>(&id).await?;
    println!(
        "{id}: owner {}, balance {}, version {}",
        account.state().owner,
        account.state().balance,
        account.version()
    );

    // Two writers loaded version 3; the second to save loses.
    let mut first = repo.load_async::<BankAccount>(&id).await?;
    let mut second = repo.load_async::<BankAccount>(&id).await?;
    first.record(Deposited { amount: 1 });
    second.record(Deposited { amount: 2 });
    repo.save_async(&mut first).await?;
    match repo.save_async(&mut second).await {
        Err(error) => println!("stale writer refused: {error}"),
        Ok(_) => return Err("wrong outcome: the stale writer was accepted".into()),
    }

    let history = store.load(&id, 1).await?;
    for event in &history {
        println!(
            "  v{} @{} {}",
            event.version,
            event.position,
            event.event_type()
        );
    }
    Ok(())
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}
