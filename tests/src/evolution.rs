//! Event types with a schema history, shared by the `evolution_*` tests of
//! every store: an order event at version 3 (a typed upcaster from 1, a
//! JSON one from 2, and a former name), an account event whose version 1
//! was split into two events, and one whose version 1 is dropped.

use orchestrix::evolution::Upcasted;
use orchestrix::prelude::*;
use orchestrix::store::RecordedEvent;

/// Money, as version 3 keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount in cents.
    pub cents: u64,
    /// ISO currency code.
    pub currency: String,
}

/// Version 3: a typed total, and the former `evo.OrderCreated` name.
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(
    name = "evo.OrderPlaced",
    version = 3,
    alias = "evo.OrderCreated",
    upcast(from = 1, shape = OrderPlacedV1, with = order_v1_to_v2),
    upcast(from = 2, with = order_v2_to_v3)
)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// What it costs.
    pub total: Money,
}

/// Version 1 as stored: `{"order": "...", "cents": 1250}`.
#[derive(Debug, Deserialize)]
pub struct OrderPlacedV1 {
    /// The order.
    pub order: String,
    /// The amount in cents (euros only, then).
    pub cents: u64,
}

/// Why a stored order cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("order without an id")]
pub struct MissingOrderId;

/// Version 1 to 2: renamed field, explicit currency; fails on a blank id.
///
/// # Errors
///
/// [`MissingOrderId`] for a row without an order id.
pub fn order_v1_to_v2(old: OrderPlacedV1) -> Result<serde_json::Value, MissingOrderId> {
    if old.order.is_empty() {
        return Err(MissingOrderId);
    }
    Ok(serde_json::json!({
        "order_id": old.order,
        "cents": old.cents,
        "currency": "EUR",
    }))
}

/// Version 2 to 3, on the JSON value: the amount moves into `total`.
#[must_use]
pub fn order_v2_to_v3(mut v2: serde_json::Value) -> serde_json::Value {
    let cents = v2["cents"].take();
    let currency = v2["currency"].take();
    serde_json::json!({
        "order_id": v2["order_id"].take(),
        "total": { "cents": cents, "currency": currency },
    })
}

/// An account opened (version 2; version 1 also carried the first deposit).
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(
    name = "evo.AccountOpened",
    version = 2,
    upcast(from = 1, shape = OpenedWithDepositV1, split = split_opened_v1)
)]
pub struct AccountOpened {
    /// Who owns it.
    pub owner: String,
}

/// Money put in an account.
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(name = "evo.Deposited")]
pub struct Deposited {
    /// How much.
    pub amount: u64,
}

/// Version 1 of `evo.AccountOpened`: opened with a first deposit.
#[derive(Debug, Deserialize)]
pub struct OpenedWithDepositV1 {
    /// Who owns it.
    pub owner: String,
    /// The first deposit.
    pub deposit: u64,
}

/// The split: an opening, then a deposit (none for an empty one).
#[must_use]
pub fn split_opened_v1(old: OpenedWithDepositV1) -> Upcasted {
    let opened = Upcasted::one(AccountOpened { owner: old.owner });
    if old.deposit == 0 {
        opened
    } else {
        opened.and(Deposited {
            amount: old.deposit,
        })
    }
}

/// A note nobody reads any more: stored version 1 rows are dropped.
#[derive(Event, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[event(name = "evo.Noted", version = 2, upcast(from = 1, split = drop_note))]
pub struct Noted {
    /// The note.
    pub text: String,
}

/// Drops a version 1 note.
#[must_use]
pub fn drop_note(_old: serde_json::Value) -> Upcasted {
    Upcasted::none()
}

/// A version 1 order payload.
#[must_use]
pub fn order_v1(order: &str, cents: u64) -> serde_json::Value {
    serde_json::json!({ "order": order, "cents": cents })
}

/// A version 2 order payload.
#[must_use]
pub fn order_v2(order: &str, cents: u64, currency: &str) -> serde_json::Value {
    serde_json::json!({ "order_id": order, "cents": cents, "currency": currency })
}

/// A version 3 order payload.
#[must_use]
pub fn order_v3(order: &str, cents: u64, currency: &str) -> serde_json::Value {
    serde_json::json!({ "order_id": order, "total": { "cents": cents, "currency": currency } })
}

/// The current order event.
#[must_use]
pub fn order(order: &str, cents: u64, currency: &str) -> OrderPlaced {
    OrderPlaced {
        order_id: order.to_owned(),
        total: Money {
            cents,
            currency: currency.to_owned(),
        },
    }
}

/// The orders among `events`, with their stream versions (panics on
/// another type: the tests expect orders only).
#[must_use]
pub fn orders(events: &[RecordedEvent]) -> Vec<(u64, OrderPlaced)> {
    events
        .iter()
        .map(|event| {
            let order = event
                .downcast_ref::<OrderPlaced>()
                .unwrap_or_else(|| panic!("not an order: {}", event.event_type()));
            (event.version, order.clone())
        })
        .collect()
}

/// The three orders the "v1, v2, v3 rows" scenario stores.
#[must_use]
pub fn expected_orders() -> Vec<(u64, OrderPlaced)> {
    vec![
        (1, order("A-1", 1250, "EUR")),
        (2, order("A-2", 700, "USD")),
        (3, order("A-3", 99, "GBP")),
    ]
}

/// The stored rows of that scenario: (stream version, name, schema
/// version, payload).
#[must_use]
pub fn order_rows() -> Vec<(u64, &'static str, u32, serde_json::Value)> {
    vec![
        (1, "evo.OrderPlaced", 1, order_v1("A-1", 1250)),
        (2, "evo.OrderPlaced", 2, order_v2("A-2", 700, "USD")),
        (3, "evo.OrderPlaced", 3, order_v3("A-3", 99, "GBP")),
    ]
}

/// A stream: an order first stored under its former name at version 1,
/// then under the current name.
#[must_use]
pub fn renamed_rows() -> Vec<(u64, &'static str, u32, serde_json::Value)> {
    vec![
        (1, "evo.OrderCreated", 1, order_v1("R-1", 10)),
        (2, "evo.OrderCreated", 3, order_v3("R-2", 20, "EUR")),
        (3, "evo.OrderPlaced", 3, order_v3("R-3", 30, "EUR")),
    ]
}

/// A stream: an account opened at version 1 with a deposit (a split), a
/// dropped note, then a current deposit.
#[must_use]
pub fn split_rows() -> Vec<(u64, &'static str, u32, serde_json::Value)> {
    vec![
        (
            1,
            "evo.AccountOpened",
            1,
            serde_json::json!({ "owner": "Ada", "deposit": 40 }),
        ),
        (2, "evo.Noted", 1, serde_json::json!({ "old": true })),
        (3, "evo.Deposited", 1, serde_json::json!({ "amount": 2 })),
    ]
}

/// What the split stream reads as: (version, event) in order.
///
/// # Panics
///
/// On an event of another type.
#[must_use]
pub fn describe_split(events: &[RecordedEvent]) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|event| {
            let what = if let Some(opened) = event.downcast_ref::<AccountOpened>() {
                format!("opened by {}", opened.owner)
            } else if let Some(deposit) = event.downcast_ref::<Deposited>() {
                format!("deposit of {}", deposit.amount)
            } else {
                panic!("unexpected {}", event.event_type())
            };
            (event.version, what)
        })
        .collect()
}

/// The expected reading of [`split_rows`].
#[must_use]
pub fn expected_split() -> Vec<(u64, String)> {
    vec![
        (1, "opened by Ada".to_owned()),
        (1, "deposit of 40".to_owned()),
        (3, "deposit of 2".to_owned()),
    ]
}

/// Checks on a store holding the rows of a scenario (written by hand in its
/// own way), the same for every store.
pub mod check {
    use orchestrix::error::DecodeError;
    use orchestrix::store::{AsyncEventStore, EventTypeFilter, StoreError};

    use super::{Deposited, describe_split, expected_orders, expected_split, order, orders};

    /// What `replay` hands out of `stream` (the whole of it, or up to
    /// `to`), as `load` / `load_range` gives it: each event's version and
    /// debug form (type and fields). Upcasted, renamed and split rows replay
    /// as they load.
    pub async fn replays_as_it_loads(store: &impl AsyncEventStore, stream: &str, to: u64) {
        let mut replayed = Vec::new();
        store
            .replay(stream, 1, to, &mut |event| {
                replayed.push((event.version, format!("{:?}", event.message)));
                std::ops::ControlFlow::Continue(())
            })
            .await
            .expect("replay");
        let loaded = match to {
            u64::MAX => store.load(stream, 1).await,
            _ => store.load_range(stream, 1, to).await,
        }
        .expect("load");
        let loaded: Vec<_> = loaded
            .iter()
            .map(|event| (event.version, format!("{:?}", event.envelope.message())))
            .collect();
        assert!(!loaded.is_empty());
        assert_eq!(replayed, loaded);
    }

    /// [`order_rows`](super::order_rows) in `stream` load as version 3,
    /// by `load`, `load_range`, `read_all` and a filtered read.
    pub async fn orders_load_as_v3(store: &impl AsyncEventStore, stream: &str) {
        let loaded = store.load(stream, 1).await.expect("load");
        assert_eq!(orders(&loaded), expected_orders());
        let range = store.load_range(stream, 1, 2).await.expect("load_range");
        assert_eq!(orders(&range), expected_orders()[..2].to_vec());
        replays_as_it_loads(store, stream, u64::MAX).await;
        replays_as_it_loads(store, stream, 2).await;
        let all = store.read_all(1, 100).await.expect("read_all");
        let all: Vec<_> = all
            .into_iter()
            .filter(|e| &*e.stream_id == stream)
            .collect();
        assert_eq!(orders(&all), expected_orders());
        let page = store
            .read_all_filtered(1, 100, &EventTypeFilter::only(["evo.OrderPlaced"]))
            .await
            .expect("filtered");
        let page: Vec<_> = page
            .events
            .into_iter()
            .filter(|e| &*e.stream_id == stream)
            .collect();
        assert_eq!(orders(&page), expected_orders());
    }

    /// [`renamed_rows`](super::renamed_rows) in `stream` load, also through
    /// a filter on the new name.
    pub async fn renamed_rows_load(store: &impl AsyncEventStore, stream: &str) {
        let expected = vec![
            (1, order("R-1", 10, "EUR")),
            (2, order("R-2", 20, "EUR")),
            (3, order("R-3", 30, "EUR")),
        ];
        let loaded = store.load(stream, 1).await.expect("load");
        assert_eq!(orders(&loaded), expected);
        replays_as_it_loads(store, stream, u64::MAX).await;
        let page = store
            .read_all_filtered(1, 100, &EventTypeFilter::only(["evo.OrderPlaced"]))
            .await
            .expect("filtered");
        let page: Vec<_> = page
            .events
            .into_iter()
            .filter(|e| &*e.stream_id == stream)
            .collect();
        assert_eq!(
            orders(&page),
            expected,
            "rows under the former name included"
        );
    }

    /// [`split_rows`](super::split_rows) in `stream` read as both events in
    /// order, at the stored versions; the next append expects version 3.
    pub async fn split_reads_both_events(store: &impl AsyncEventStore, stream: &str) {
        let loaded = store.load(stream, 1).await.expect("load");
        assert_eq!(describe_split(&loaded), expected_split());
        replays_as_it_loads(store, stream, u64::MAX).await;
        assert_eq!(store.stream_version(stream).await.expect("version"), 3);
        let page = store
            .read_all_filtered(1, 100, &EventTypeFilter::only(["evo.Deposited"]))
            .await
            .expect("filtered");
        let amounts: Vec<u64> = page
            .events
            .iter()
            .filter(|e| &*e.stream_id == stream)
            .filter_map(|e| e.downcast_ref::<Deposited>().map(|d| d.amount))
            .collect();
        assert_eq!(amounts, [40, 2], "the deposit split out of the opening");
    }

    /// `stream` holds a current order at version 1 and a version 4 one at
    /// version 2 (global position `position`): a typed error naming both.
    pub async fn newer_version_is_a_typed_error(
        store: &impl AsyncEventStore,
        stream: &str,
        position: u64,
    ) {
        let error = store
            .load(stream, 1)
            .await
            .expect_err("version 4 is unknown");
        let StoreError::Decode {
            stream_id,
            version,
            position: at,
            event_type,
            source:
                DecodeError::NewerVersion {
                    stored: 4,
                    known: 3,
                    ..
                },
        } = &error
        else {
            panic!("expected a newer-version error, got {error:?}");
        };
        assert_eq!(
            (stream_id.as_str(), *version, *at, event_type.as_str()),
            (stream, 2, Some(position), "evo.OrderPlaced")
        );
        // A replay fails alike, naming the same row.
        let replay = store
            .replay(stream, 1, u64::MAX, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .await
            .expect_err("version 4 is unknown");
        assert!(
            matches!(&replay, StoreError::Decode { .. }),
            "expected a decode error, got {replay:?}"
        );
        assert_eq!(replay.to_string(), error.to_string());
    }
}
