//! Schema evolution on the in-memory stores: rows imported in their stored
//! form (old versions, former names, split events) read as current events;
//! a newer version or a failing upcaster is a typed error; upcast events
//! replay into an aggregate's new state.

use orchestrix::error::DecodeError;
use orchestrix::evolution::{StoredEvent, UpcastError};
use orchestrix::prelude::*;
use orchestrix::store::{EventTypeFilter, InMemoryAsyncEventStore, InMemoryEventStore};
use orchestrix_tests::evolution::*;

fn stored(rows: Vec<(u64, &'static str, u32, serde_json::Value)>) -> Vec<StoredEvent> {
    rows.into_iter()
        .map(|(_, name, version, payload)| StoredEvent::new(name, version, payload))
        .collect()
}

#[test]
fn v1_and_v2_rows_load_as_v3_through_two_upcasters() {
    let store = InMemoryEventStore::new();
    store
        .import("order-1", &stored(order_rows()), Some(0))
        .expect("import");
    let loaded = store.load("order-1", 1).expect("load");
    assert_eq!(orders(&loaded), expected_orders());

    let range = store.load_range("order-1", 2, 2).expect("load_range");
    assert_eq!(orders(&range), expected_orders()[1..2].to_vec());

    let all = store.read_all(1, 10).expect("read_all");
    assert_eq!(orders(&all), expected_orders());
    // The raw read keeps the stored form.
    let raw = store.read_all_raw(1, 10).expect("read_all_raw");
    assert_eq!(
        raw.iter().map(|r| r.schema_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// An imported row whose metadata names a type other than its stored one
/// (kept whole, not compact) reads back with that metadata, as imported.
#[test]
fn an_imported_rows_metadata_reads_back_as_imported_even_under_another_type() {
    let store = InMemoryEventStore::new();
    let mut rows = stored(order_rows());
    rows[1].metadata = orchestrix::message::Metadata::new("evo.SomethingElse")
        .with_source("urn:importer")
        .with_subject("order-1");
    let imported: Vec<_> = rows.iter().map(|row| row.metadata.clone()).collect();
    store.import("order-1", &rows, Some(0)).expect("import");
    let loaded = store.load("order-1", 1).expect("load");
    assert_eq!(orders(&loaded), expected_orders());
    let all = store.read_all(1, 10).expect("read_all");
    for read in [loaded, all] {
        let metadata: Vec<_> = read.iter().map(|event| event.metadata().clone()).collect();
        assert_eq!(metadata, imported);
    }
}

#[tokio::test]
async fn a_renamed_events_rows_load_and_a_filter_on_the_new_name_finds_them() {
    let store = InMemoryAsyncEventStore::new();
    store
        .import("renamed", &stored(renamed_rows()), Some(0))
        .expect("import");
    let loaded = store.load("renamed", 1).await.expect("load");
    assert_eq!(
        orders(&loaded),
        vec![
            (1, order("R-1", 10, "EUR")),
            (2, order("R-2", 20, "EUR")),
            (3, order("R-3", 30, "EUR")),
        ]
    );
    let page = store
        .read_all_filtered(1, 10, &EventTypeFilter::only(["evo.OrderPlaced"]))
        .await
        .expect("filtered");
    assert_eq!(page.events.len(), 3, "rows under the former name included");
    assert_eq!(page.scanned_through, 3);
}

#[tokio::test]
async fn a_split_yields_both_events_in_order_and_stored_versions_stay_authoritative() {
    let store = InMemoryAsyncEventStore::new();
    store
        .import("acc", &stored(split_rows()), Some(0))
        .expect("import");
    let loaded = store.load("acc", 1).await.expect("load");
    assert_eq!(describe_split(&loaded), expected_split());
    assert_eq!(store.stream_version("acc").await.expect("version"), 3);
    // The next append expects the stored version, not the event count.
    store
        .save(
            "acc",
            &[Envelope::new(Deposited { amount: 1 }).into()],
            Some(3),
        )
        .await
        .expect("append after three stored rows");

    // A reader of deposits only still gets the one split out of the
    // opening.
    let page = store
        .read_all_filtered(1, 10, &EventTypeFilter::only(["evo.Deposited"]))
        .await
        .expect("filtered");
    let amounts: Vec<u64> = page
        .events
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>().map(|d| d.amount))
        .collect();
    assert_eq!(amounts, [40, 2, 1]);
    assert_eq!(page.events.len(), 3);
}

#[test]
fn a_row_stored_at_a_newer_version_is_a_typed_error() {
    let store = InMemoryEventStore::new();
    store
        .import(
            "newer",
            &[
                StoredEvent::new("evo.OrderPlaced", 3, order_v3("N-1", 1, "EUR")),
                StoredEvent::new("evo.OrderPlaced", 4, serde_json::json!({ "v4": true })),
            ],
            Some(0),
        )
        .expect("import");
    let error = store.load("newer", 1).expect_err("version 4 is unknown");
    let StoreError::Decode {
        stream_id,
        version,
        position,
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
        (stream_id.as_str(), *version, *position, event_type.as_str()),
        ("newer", 2, Some(2), "evo.OrderPlaced")
    );
    let text = error.to_string();
    assert!(
        text.contains("newer") && text.contains("version 4"),
        "{text}"
    );
}

#[test]
fn a_failing_upcaster_is_a_typed_error_with_its_own() {
    let store = InMemoryEventStore::new();
    store
        .import(
            "blank",
            &[StoredEvent::new("evo.OrderPlaced", 1, order_v1("", 5))],
            Some(0),
        )
        .expect("import");
    let error = store.read_all(1, 10).expect_err("the upcaster fails");
    let StoreError::Decode {
        stream_id,
        version: 1,
        source:
            DecodeError::Upcast {
                stored: 1,
                registered: 3,
                source: UpcastError::Failed { from: 1, source },
                ..
            },
        ..
    } = &error
    else {
        panic!("expected an upcast error, got {error:?}");
    };
    assert_eq!(stream_id, "blank");
    assert_eq!(source.to_string(), "order without an id");
}

#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: u64,
}

#[aggregate(name = "evo.Account", snapshot_version = 2)]
impl Account {
    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.owner.clone_from(&event.owner);
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn noted(&mut self, _event: &Noted) {}
}

#[test]
fn upcast_events_replay_into_the_new_state_past_an_old_snapshot() {
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<Account>(SnapshotPolicy::every(1));
    repo.store()
        .import("acc-snap", &stored(split_rows()), Some(0))
        .expect("import");
    // A snapshot of the state's previous shape: ignored, full replay.
    repo.store()
        .save_snapshot(orchestrix::store::Snapshot {
            aggregate_id: "acc-snap".to_owned(),
            aggregate_type: "evo.Account".to_owned(),
            version: 3,
            state: serde_json::json!({ "holder": "Ada", "cents": 4200 }),
            taken_at: time::OffsetDateTime::now_utc(),
        })
        .expect("old snapshot");
    let mut account = repo.load::<Account>("acc-snap").expect("load");
    assert_eq!(account.version(), 3);
    assert_eq!(
        *account.state(),
        Account {
            owner: "Ada".to_owned(),
            balance: 42
        }
    );
    // Saving writes a snapshot of the new shape, which the next load uses.
    account.record(Deposited { amount: 8 });
    repo.save(&mut account).expect("save at the stored version");
    let snapshot = repo
        .store()
        .load_snapshot("acc-snap")
        .expect("snapshot")
        .expect("written");
    assert_eq!(snapshot.version, 4);
    assert_eq!(
        snapshot.state,
        serde_json::json!({ "owner": "Ada", "balance": 50 })
    );
    let again = repo.load::<Account>("acc-snap").expect("load again");
    assert_eq!((again.version(), again.state().balance), (4, 50));
}

#[test]
fn an_event_kept_in_a_saga_output_is_upcast_when_read_back() {
    use orchestrix::evolution::VersionedEvent;
    // What a saga state written by the version 1 program holds.
    let kept = serde_json::json!({
        "type": "evo.OrderCreated",
        "version": 1,
        "payload": { "order": "S-1", "cents": 3 },
    });
    let output: VersionedEvent<OrderPlaced> = serde_json::from_value(kept).expect("upcast");
    assert_eq!(output.event(), &order("S-1", 3, "EUR"));

    let newer = serde_json::json!({ "type": "evo.OrderPlaced", "version": 4, "payload": {} });
    let error = serde_json::from_value::<VersionedEvent<OrderPlaced>>(newer)
        .expect_err("a newer version is refused");
    assert!(error.to_string().contains("schema version 4"), "{error}");
}
