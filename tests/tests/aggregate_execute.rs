//! `AggregateRoot::execute`: decisions are `&self` methods on the state that
//! return events; what they return is recorded, nothing on an error.

mod support;

use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;
use support::*;

fn opened_with(balance: u64) -> AggregateRoot<BankAccount> {
    let mut account = AggregateRoot::<BankAccount>::new(account_id("execute"));
    open(&mut account, "Ada");
    deposit(&mut account, balance).expect("open account");
    account
}

#[test]
fn a_successful_decision_records_and_applies_its_event() {
    let mut account = opened_with(300);
    account
        .execute(|account| account.withdraw(200))
        .expect("enough funds");
    assert_eq!(account.balance, 100);
    assert_eq!(account.uncommitted_events().len(), 3);
    assert_eq!(
        account.uncommitted_events()[2].downcast_ref::<Withdrawn>(),
        Some(&Withdrawn { amount: 200 })
    );
}

#[test]
fn a_failing_decision_records_nothing_and_returns_its_error() {
    let mut account = opened_with(50);
    let before = account.uncommitted_events().len();

    let refused = account.execute(|account| account.withdraw(80));

    assert_eq!(
        refused,
        Err(BankError::InsufficientFunds {
            balance: 50,
            asked: 80
        })
    );
    assert_eq!(account.uncommitted_events().len(), before);
    assert_eq!(account.balance, 50);
    assert_eq!(account.pending_version(), 2);
}

#[test]
fn a_failing_decision_leaves_the_stored_stream_unchanged() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let mut account = opened_with(10);
    repo.save(&mut account).expect("save");

    let mut loaded = repo.load::<BankAccount>(account.id()).expect("load");
    assert!(loaded.execute(|account| account.withdraw(11)).is_err());
    let outcome = repo.save(&mut loaded).expect("nothing to save");

    assert_eq!(outcome.new_version, 2);
    assert!(outcome.positions.is_empty());
    assert_eq!(
        repo.load::<BankAccount>(account.id())
            .expect("load")
            .version(),
        2
    );
}

#[test]
fn option_tuple_and_vec_decisions_record_every_event_in_order() {
    let mut account = AggregateRoot::<BankAccount>::new(account_id("many"));
    account
        .execute(|account| {
            Ok::<_, BankError>((
                account.open("Ada"),
                Deposited { amount: 10 },
                None::<Withdrawn>,
            ))
        })
        .expect("infallible");
    account
        .execute(|_| Ok::<_, BankError>(Some(Withdrawn { amount: 4 })))
        .expect("infallible");
    account
        .execute(|_| Ok::<_, BankError>(vec![Deposited { amount: 1 }, Deposited { amount: 2 }]))
        .expect("infallible");
    account
        .execute(|_| Ok::<_, BankError>(None::<Deposited>))
        .expect("infallible");

    let types: Vec<&str> = account
        .uncommitted_events()
        .iter()
        .map(|event| event.message_name())
        .collect();
    assert_eq!(
        types,
        [
            "tests.bank.AccountOpened",
            "tests.bank.Deposited",
            "tests.bank.Withdrawn",
            "tests.bank.Deposited",
            "tests.bank.Deposited",
        ]
    );
    assert_eq!(account.balance, 9);
}

#[test]
fn an_error_part_way_through_a_sequence_of_decisions_keeps_the_earlier_ones() {
    let mut account = opened_with(5);
    let result = account
        .execute(|account| account.withdraw(5))
        .and_then(|()| account.execute(|account| account.withdraw(1)));
    assert!(matches!(
        result,
        Err(BankError::InsufficientFunds { balance: 0, .. })
    ));
    assert_eq!(account.uncommitted_events().len(), 3);
}
