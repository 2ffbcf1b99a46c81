//! Replaying stored events never panics the caller: an `#[apply]` method
//! that panics fails the load with `RepositoryError::Apply`, naming the
//! stream, version and event type; the bank domain's withdrawal uses
//! saturating arithmetic, so an odd history still loads.

mod support;

use orchestrix::aggregate::RepositoryError;
use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use support::*;

/// An aggregate whose `#[apply]` method panics on a deposit of 13.
#[derive(Default, Debug, Serialize, Deserialize)]
struct Superstitious {
    balance: u64,
}

#[aggregate]
impl Superstitious {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        assert!(event.amount != 13, "unlucky amount {}", event.amount);
        self.balance += event.amount;
    }
}

fn assert_apply_error(error: RepositoryError, id: &str) {
    match error {
        RepositoryError::Apply {
            aggregate_type,
            stream_id,
            version,
            event_type,
            message,
        } => {
            assert_eq!(aggregate_type, "Superstitious");
            assert_eq!(stream_id, id);
            assert_eq!(version, 2);
            assert_eq!(event_type, "tests.bank.Deposited");
            assert_eq!(message, "unlucky amount 13");
        }
        other => panic!("expected RepositoryError::Apply, got {other:?}"),
    }
}

#[test]
fn a_panicking_apply_is_a_typed_error_with_the_blocking_repository() {
    let store = InMemoryEventStore::new();
    let id = account_id("panic-sync");
    store
        .save(
            &id,
            &[
                envelope(Deposited { amount: 1 }),
                envelope(Deposited { amount: 13 }),
                envelope(Deposited { amount: 2 }),
            ],
            Some(0),
        )
        .expect("append");
    let repo = AggregateRepository::new(store);

    let error = repo
        .load::<Superstitious>(&id)
        .expect_err("the replay panics");
    assert!(error.to_string().contains("at version 2 of stream"));
    assert_apply_error(error, &id);

    // Time travel to before the bad event still works.
    let before = repo
        .load_at::<Superstitious>(&id, 1)
        .expect("version 1 is fine");
    assert_eq!(before.balance, 1);
}

#[tokio::test]
async fn a_panicking_apply_is_a_typed_error_with_the_async_repository() {
    let store = InMemoryAsyncEventStore::new();
    let id = account_id("panic-async");
    store
        .save(
            &id,
            &[
                envelope(Deposited { amount: 1 }),
                envelope(Deposited { amount: 13 }),
            ],
            Some(0),
        )
        .await
        .expect("append");
    let repo = AggregateRepository::new(store);

    let error = repo
        .load_async::<Superstitious>(&id)
        .await
        .expect_err("the replay panics");
    assert_apply_error(error, &id);
}

#[test]
fn an_overdrawing_history_replays_without_panicking() {
    let store = InMemoryEventStore::new();
    let id = account_id("overdrawn");
    store
        .save(
            &id,
            &[
                envelope(AccountOpened {
                    owner: "Ada".into(),
                }),
                envelope(Deposited { amount: 5 }),
                envelope(Withdrawn { amount: 8 }),
            ],
            Some(0),
        )
        .expect("append");
    let repo = AggregateRepository::new(store);

    let account = repo
        .load::<BankAccount>(&id)
        .expect("a recorded fact applies");
    assert_eq!((account.balance, account.version()), (0, 3));
}

/// How many times `CountsPastAPanic`'s `#[apply]` method ran.
static APPLIED_AROUND_A_PANIC: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts every call of its `#[apply]` method (in a static: the state of a
/// root that failed is dropped), and panics on a deposit of 13.
#[derive(Default, Debug, Serialize, Deserialize)]
struct CountsPastAPanic;

#[aggregate]
impl CountsPastAPanic {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        APPLIED_AROUND_A_PANIC.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(event.amount != 13, "unlucky amount {}", event.amount);
    }
}

/// A panic stops the replay: nothing is applied after it, on top of the
/// half-applied state.
#[test]
fn nothing_is_applied_after_a_panicking_apply() {
    let store = InMemoryEventStore::new();
    let id = account_id("panic-stops");
    store
        .save(
            &id,
            &[
                envelope(Deposited { amount: 1 }),
                envelope(Deposited { amount: 13 }),
                envelope(Deposited { amount: 2 }),
                envelope(Deposited { amount: 3 }),
            ],
            Some(0),
        )
        .expect("append");
    let repo = AggregateRepository::new(store);
    let error = repo
        .load::<CountsPastAPanic>(&id)
        .expect_err("the replay panics");
    assert!(
        matches!(error, RepositoryError::Apply { version: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        APPLIED_AROUND_A_PANIC.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "versions 1 and 2 only"
    );
}
