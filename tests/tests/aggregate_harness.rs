//! The given/when/then harness for aggregates.

mod support;

use orchestrix::aggregate::testing::AggregateTest;
use support::*;

#[test]
fn given_past_events_when_a_command_then_new_events() {
    AggregateTest::<BankAccount>::with_id("acc-7")
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .given(Deposited { amount: 50 })
        .when(|account| withdraw(account, 20))
        .then_expect_events(&[&Withdrawn { amount: 20 }])
        .then_state(|account| assert_eq!(account.balance, 30));
}

#[test]
fn several_events_of_several_types_are_compared_in_order() {
    let outcome = AggregateTest::<BankAccount>::new()
        .when(|account| {
            open(account, "Ada");
            deposit(account, 3)
        })
        .then_expect_events(&[
            &AccountOpened {
                owner: "Ada".into(),
            },
            &Deposited { amount: 3 },
        ]);
    let root = outcome.into_root();
    assert_eq!(root.version(), 0);
    assert_eq!(root.pending_version(), 2);
}

#[test]
fn given_events_as_envelopes() {
    AggregateTest::<BankAccount>::new()
        .given_events([
            envelope(AccountOpened {
                owner: "Ada".into(),
            }),
            envelope(Deposited { amount: 5 }),
        ])
        .when(|account| deposit(account, 1))
        .then_state(|account| assert_eq!(account.balance, 6))
        .then_expect_events(&[&Deposited { amount: 1 }]);
}

#[test]
fn then_expect_error() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .when(|account| withdraw(account, 1))
        .then_expect_error(BankError::InsufficientFunds {
            balance: 0,
            asked: 1,
        });

    AggregateTest::<BankAccount>::new()
        .when(|account| deposit(account, 1))
        .then_error_matches(|error| matches!(error, BankError::Closed));
}

#[test]
fn then_expect_no_events() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .when(|_account| Ok::<(), BankError>(()))
        .then_expect_no_events();
}

#[test]
#[should_panic(expected = "recorded events differ")]
fn a_different_event_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .when(|account| deposit(account, 5))
        .then_expect_events(&[&Deposited { amount: 6 }]);
}

#[test]
#[should_panic(expected = "recorded events differ")]
fn a_different_event_type_with_the_same_fields_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .given(Deposited { amount: 10 })
        .when(|account| withdraw(account, 5))
        .then_expect_events(&[&Deposited { amount: 5 }]);
}

#[test]
#[should_panic(expected = "expected events, but the call failed")]
fn an_error_where_events_were_expected_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .when(|account| deposit(account, 5))
        .then_expect_events(&[&Deposited { amount: 5 }]);
}

#[test]
#[should_panic(expected = "but the call succeeded")]
fn success_where_an_error_was_expected_fails_the_test() {
    AggregateTest::<BankAccount>::new()
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .when(|account| deposit(account, 5))
        .then_expect_error(BankError::Closed);
}

#[test]
#[should_panic(expected = "has no #[apply] method for event `tests.bank.AuditNoted`")]
fn given_an_event_the_aggregate_cannot_apply_fails_the_setup() {
    let _ = AggregateTest::<BankAccount>::new()
        .given_events([envelope(AuditNoted { note: "x".into() })]);
}

#[test]
#[should_panic(
    expected = "a failed call must record nothing, but it recorded: [tests.bank.AccountOpened {\"owner\":\"Ada\"}]"
)]
fn a_failed_call_that_recorded_events_fails_the_test_naming_them() {
    AggregateTest::<BankAccount>::new()
        .when(|account| {
            open(account, "Ada");
            Err::<(), _>(BankError::Closed)
        })
        .then_expect_error(BankError::Closed);
}

#[test]
fn an_aggregate_root_shows_its_id_version_state_and_pending_events() {
    let root = AggregateTest::<BankAccount>::with_id("acc-9")
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .when(|account| deposit(account, 5))
        .into_root();
    assert_eq!(
        format!("{root:?}"),
        "AggregateRoot { id: \"acc-9\", version: 1, state: BankAccount { owner: \"Ada\", \
         balance: 5, open: true }, uncommitted: 1 }"
    );
}
