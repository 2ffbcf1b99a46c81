//! A test harness for aggregates: *given* these past events, *when* this
//! domain call runs, *then* expect these new events, or this error.
//!
//! ```
//! use orchestrix::prelude::*;
//! use orchestrix::aggregate::testing::AggregateTest;
//!
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Opened;
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Withdrawn { amount: u64 }
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//!
//! #[derive(Default, Debug, Serialize, Deserialize)]
//! struct Account { open: bool, balance: u64 }
//!
//! #[aggregate]
//! impl Account {
//!     #[apply] fn opened(&mut self, _: &Opened) { self.open = true; }
//!     #[apply] fn deposited(&mut self, e: &Deposited) { self.balance += e.amount; }
//!     // Applying a recorded fact cannot fail: never underflow on replay.
//!     #[apply] fn withdrawn(&mut self, e: &Withdrawn) { self.balance = self.balance.saturating_sub(e.amount); }
//!
//!     fn withdraw(&self, amount: u64) -> Result<Withdrawn, AccountError> {
//!         if self.balance < amount {
//!             return Err(AccountError::Insufficient { balance: self.balance });
//!         }
//!         Ok(Withdrawn { amount })
//!     }
//! }
//!
//! #[derive(Debug, PartialEq)]
//! enum AccountError { Insufficient { balance: u64 } }
//!
//! AggregateTest::<Account>::new()
//!     .given(Opened)
//!     .given(Deposited { amount: 50 })
//!     .when(|account| account.execute(|account| account.withdraw(20)))
//!     .then_expect_events(&[&Withdrawn { amount: 20 }])
//!     .then_state(|account| assert_eq!(account.balance, 30));
//!
//! AggregateTest::<Account>::new()
//!     .given(Opened)
//!     .when(|account| account.execute(|account| account.withdraw(20)))
//!     .then_expect_error(AccountError::Insufficient { balance: 0 });
//! ```
//!
//! Events are compared by type name and JSON value, so event types need no
//! `PartialEq`. Every `then_*` panics with a readable message when the
//! expectation fails, like `assert_eq!`.

use std::fmt;

use crate::message::{AnyEnvelope, AnyMessage, Event};

use super::{Aggregate, AggregateRoot, EventOf};

/// The *given* stage: an aggregate built from past events.
#[derive(Debug)]
pub struct AggregateTest<A> {
    root: AggregateRoot<A>,
}

impl<A: Aggregate> Default for AggregateTest<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Aggregate> AggregateTest<A> {
    /// An aggregate with id `"test-aggregate"` and no history.
    pub fn new() -> Self {
        Self::with_id("test-aggregate")
    }

    /// An aggregate with the given id and no history.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            root: AggregateRoot::new(id),
        }
    }

    /// Adds a past event, applied as if loaded from the store.
    #[must_use]
    pub fn given<E: Event + EventOf<A>>(mut self, event: E) -> Self {
        self.root.replay_message(&event);
        self
    }

    /// Adds past events of any types, applied as if loaded from the store.
    ///
    /// # Panics
    ///
    /// If the aggregate cannot apply one of them (and does not ignore
    /// unknown events): the test's setup is wrong.
    #[must_use]
    #[track_caller]
    pub fn given_events(mut self, events: impl IntoIterator<Item = AnyEnvelope>) -> Self {
        for event in events {
            let message: &dyn AnyMessage = event.message();
            let applied = self.root.replay_message(message);
            assert!(
                applied || A::IGNORE_UNKNOWN_EVENTS,
                "given: aggregate `{}` has no #[apply] method for event `{}`",
                A::AGGREGATE_TYPE,
                event.message_name()
            );
        }
        self
    }

    /// Runs the domain call under test on the aggregate.
    pub fn when<T, Err>(
        mut self,
        command: impl FnOnce(&mut AggregateRoot<A>) -> Result<T, Err>,
    ) -> AggregateTestOutcome<A, T, Err> {
        let result = command(&mut self.root);
        AggregateTestOutcome {
            root: self.root,
            result,
        }
    }
}

/// The *then* stage: what the domain call returned and recorded.
#[derive(Debug)]
pub struct AggregateTestOutcome<A, T, Err> {
    root: AggregateRoot<A>,
    result: Result<T, Err>,
}

impl<A: Aggregate, T: fmt::Debug, Err: fmt::Debug> AggregateTestOutcome<A, T, Err> {
    /// Asserts that the call succeeded and recorded exactly `expected`, in
    /// order (same type names, same JSON values).
    ///
    /// # Panics
    ///
    /// If the call failed or recorded other events.
    #[track_caller]
    pub fn then_expect_events(self, expected: &[&dyn AnyMessage]) -> Self {
        if let Err(error) = &self.result {
            panic!("expected events, but the call failed: {error:?}");
        }
        let actual: Vec<(&str, serde_json::Value)> = self
            .root
            .uncommitted_events()
            .iter()
            .map(|event| (event.message_name(), to_json(event.message())))
            .collect();
        let expected: Vec<(&str, serde_json::Value)> = expected
            .iter()
            .map(|event| (event.message_name(), to_json(*event)))
            .collect();
        assert!(
            actual == expected,
            "recorded events differ\n  expected: {}\n    actual: {}",
            describe(&expected),
            describe(&actual)
        );
        self
    }

    /// Asserts that the call succeeded and recorded nothing.
    ///
    /// # Panics
    ///
    /// If the call failed or recorded events.
    #[track_caller]
    pub fn then_expect_no_events(self) -> Self {
        self.then_expect_events(&[])
    }

    /// Asserts that the call failed with `expected` and recorded nothing.
    ///
    /// # Panics
    ///
    /// If the call succeeded, failed otherwise, or recorded events.
    #[track_caller]
    pub fn then_expect_error(self, expected: Err) -> Self
    where
        Err: PartialEq,
    {
        match &self.result {
            Ok(value) => {
                panic!("expected error {expected:?}, but the call succeeded with {value:?}")
            }
            Err(actual) => assert!(
                *actual == expected,
                "expected error {expected:?}, got {actual:?}"
            ),
        }
        self.assert_nothing_recorded();
        self
    }

    /// Asserts that the call failed with an error `check` accepts, and
    /// recorded nothing.
    ///
    /// # Panics
    ///
    /// If the call succeeded, `check` returned `false`, or events were
    /// recorded.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&Err) -> bool) -> Self {
        match &self.result {
            Ok(value) => panic!("expected an error, but the call succeeded with {value:?}"),
            Err(actual) => assert!(check(actual), "the error did not match: {actual:?}"),
        }
        self.assert_nothing_recorded();
        self
    }

    /// Runs `check` on the aggregate's state after the call.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(self.root.state());
        self
    }

    /// The aggregate after the call, for checks the harness does not offer.
    pub fn into_root(self) -> AggregateRoot<A> {
        self.root
    }

    /// What the call returned.
    pub fn result(&self) -> &Result<T, Err> {
        &self.result
    }

    #[track_caller]
    fn assert_nothing_recorded(&self) {
        let recorded = self.root.uncommitted_events();
        assert!(
            recorded.is_empty(),
            "a failed call must record nothing, but it recorded: {}",
            describe(
                &recorded
                    .iter()
                    .map(|event| (event.message_name(), to_json(event.message())))
                    .collect::<Vec<_>>()
            )
        );
    }
}

fn to_json(message: &dyn AnyMessage) -> serde_json::Value {
    message
        .to_json()
        .unwrap_or_else(|error| serde_json::Value::String(format!("<does not serialize: {error}>")))
}

fn describe(events: &[(&str, serde_json::Value)]) -> String {
    let parts: Vec<String> = events
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    format!("[{}]", parts.join(", "))
}
