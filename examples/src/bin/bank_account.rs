//! The seed's `BankAccount`, event-sourced: the same domain saved and
//! loaded with the blocking repository and with the async one, side by
//! side.
//!
//! `cargo run -p orchestrix-examples --bin bank_account`

use std::error::Error;

use orchestrix::aggregate::RepositoryError;
use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};

// ---- the domain, written once ----

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.AccountOpened")]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.Deposited")]
pub struct Deposited {
    pub amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bank.Withdrawn")]
pub struct Withdrawn {
    pub amount: u64,
}

/// The account's state: changed only by its events.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct BankAccount {
    owner: String,
    balance: u64,
    open: bool,
}

#[aggregate]
impl BankAccount {
    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.owner.clone_from(&event.owner);
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    // Applying a recorded fact cannot fail: the withdrawal happened, so it
    // is applied even if a stored history would take the balance below 0.
    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount);
    }

    // The domain methods: read the state, check the rules, return the
    // events. `AggregateRoot::execute` records them.

    pub fn open(&self, owner: &str) -> Result<AccountOpened, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen(self.owner.clone()));
        }
        Ok(AccountOpened {
            owner: owner.to_owned(),
        })
    }

    pub fn deposit(&self, amount: u64) -> Result<Deposited, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok(Deposited { amount })
    }

    pub fn withdraw(&self, amount: u64) -> Result<Withdrawn, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        if self.balance < amount {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                asked: amount,
            });
        }
        Ok(Withdrawn { amount })
    }
}

/// What the domain refuses.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("the account is already open, owned by {0}")]
    AlreadyOpen(String),
    #[error("the account is not open")]
    NotOpen,
    #[error("the account holds {balance}, cannot withdraw {asked}")]
    InsufficientFunds { balance: u64, asked: u64 },
}

// ---- blocking ----

fn blocking() -> Result<(), Box<dyn Error>> {
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(2));

    let mut account = AggregateRoot::<BankAccount>::new("ACC-001");
    account.execute(|account| account.open("Ada"))?;
    account.execute(|account| account.deposit(500))?;
    repo.save(&mut account)?;

    let mut account = repo.load::<BankAccount>("ACC-001")?;
    account.execute(|account| account.withdraw(200))?;
    repo.save(&mut account)?;
    match account.execute(|account| account.withdraw(1_000)) {
        Err(refused) => println!("[sync]  refused: {refused}"),
        Ok(_) => return Err("wrong outcome: an overdraft was accepted".into()),
    }

    let account = repo.load::<BankAccount>("ACC-001")?;
    println!(
        "[sync]  {} has {} at version {}",
        account.owner,
        account.balance,
        account.version()
    );
    if (account.balance, account.version()) != (300, 3) {
        return Err(format!(
            "wrong outcome: expected 300 at version 3, got {} at version {}",
            account.balance,
            account.version()
        )
        .into());
    }
    let before = repo.load_at::<BankAccount>("ACC-001", 2)?;
    println!("[sync]  at version 2 the balance was {}", before.balance);
    if before.balance != 500 {
        return Err(format!(
            "wrong outcome: at version 2 expected 500, got {}",
            before.balance
        )
        .into());
    }
    Ok(())
}

// ---- async ----

async fn nonblocking() -> Result<(), Box<dyn Error>> {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());

    let mut account = AggregateRoot::<BankAccount>::new("ACC-001");
    account.execute(|account| account.open("Grace"))?;
    account.execute(|account| account.deposit(500))?;
    repo.save_async(&mut account).await?;

    // Two copies of one account: the second save is refused, not lost.
    let mut first = repo.load_async::<BankAccount>("ACC-001").await?;
    let mut second = repo.load_async::<BankAccount>("ACC-001").await?;
    first.execute(|account| account.withdraw(400))?;
    second.execute(|account| account.withdraw(400))?;
    repo.save_async(&mut first).await?;
    match repo.save_async(&mut second).await {
        Err(RepositoryError::Concurrency(conflict)) => println!("[async] {conflict}"),
        other => return Err(format!("wrong outcome: the stale save gave {other:?}").into()),
    }

    let account = repo.load_async::<BankAccount>("ACC-001").await?;
    println!(
        "[async] {} has {} at version {}",
        account.owner,
        account.balance,
        account.version()
    );
    if account.balance != 100 {
        return Err(format!("wrong outcome: expected 100, got {}", account.balance).into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The blocking repository is for blocking contexts: run it off the
    // async workers.
    tokio::task::spawn_blocking(|| blocking().map_err(|e| e.to_string())).await??;
    nonblocking().await
}
