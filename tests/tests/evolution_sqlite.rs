//! Schema evolution on SQLite: rows inserted by hand with SQL at old schema
//! versions, under a former name, or split, read as current events.

use orchestrix::evolution::{RewriteOptions, RewriteReport};
use orchestrix::message::{AnyEnvelope, Envelope, Metadata};
use orchestrix::prelude::*;
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::evolution::{
    OrderPlaced, check, order, order_rows, order_v3, renamed_rows, split_rows,
};
use orchestrix_tests::sqlite::TempDb;

/// Inserts rows as an older program would have written them; returns the
/// global position of the last.
async fn insert_rows(
    store: &SqliteEventStore,
    stream: &str,
    rows: &[(u64, &str, u32, serde_json::Value)],
) -> u64 {
    let mut position = 0;
    for (version, event_type, schema_version, payload) in rows {
        let metadata = serde_json::to_string(&Metadata::new(*event_type)).expect("metadata");
        let inserted: i64 = sqlx::query_scalar(
            "INSERT INTO events (position, stream_id, version, event_id, event_type, \
             schema_version, payload, metadata, correlation_id, causation_id, recorded_at) \
             VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), ?1, ?2, \
             randomblob(16), ?3, ?4, ?5, ?6, randomblob(16), NULL, 0) RETURNING position",
        )
        .bind(stream)
        .bind(i64::try_from(*version).expect("small"))
        .bind(*event_type)
        .bind(i64::from(*schema_version))
        .bind(payload.to_string())
        .bind(metadata)
        .fetch_one(store.pool())
        .await
        .expect("raw insert");
        position = u64::try_from(inserted).expect("positive");
    }
    position
}

async fn store(db: &TempDb) -> SqliteEventStore {
    SqliteEventStore::connect(&db.url(""))
        .await
        .expect("the file opens and migrates")
}

#[tokio::test]
async fn v1_and_v2_rows_written_with_sql_load_as_v3_through_two_upcasters() {
    let db = TempDb::new("evolution-orders");
    let store = store(&db).await;
    insert_rows(&store, "order-1", &order_rows()).await;
    check::orders_load_as_v3(&store, "order-1").await;
}

#[tokio::test]
async fn a_renamed_events_old_rows_load() {
    let db = TempDb::new("evolution-renamed");
    let store = store(&db).await;
    insert_rows(&store, "renamed", &renamed_rows()).await;
    check::renamed_rows_load(&store, "renamed").await;
}

#[tokio::test]
async fn a_split_yields_both_events_in_order() {
    let db = TempDb::new("evolution-split");
    let store = store(&db).await;
    insert_rows(&store, "acc", &split_rows()).await;
    check::split_reads_both_events(&store, "acc").await;
}

#[tokio::test]
async fn a_row_stored_at_a_newer_version_is_a_typed_error() {
    let db = TempDb::new("evolution-newer");
    let store = store(&db).await;
    let position = insert_rows(
        &store,
        "newer",
        &[
            (1, "evo.OrderPlaced", 3, order_v3("N-1", 1, "EUR")),
            (2, "evo.OrderPlaced", 4, serde_json::json!({ "v4": true })),
        ],
    )
    .await;
    check::newer_version_is_a_typed_error(&store, "newer", position).await;
}

/// (event_type, schema_version) of every row, in position order.
async fn stored_forms(store: &SqliteEventStore) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT event_type, schema_version FROM events ORDER BY position")
        .fetch_all(store.pool())
        .await
        .expect("rows")
}

#[tokio::test]
async fn the_rewrite_turns_old_rows_current_in_batches_and_is_safe_to_run_again() {
    let db = TempDb::new("evolution-rewrite");
    let store = store(&db).await;
    insert_rows(&store, "order-1", &order_rows()).await;
    insert_rows(&store, "renamed", &renamed_rows()).await;
    insert_rows(&store, "acc", &split_rows()).await;
    let before = stored_forms(&store).await;

    let dry = store
        .rewrite_to_current(&RewriteOptions {
            dry_run: true,
            ..RewriteOptions::default()
        })
        .await
        .expect("dry run");
    assert_eq!((dry.scanned, dry.rewritten, dry.kept_split), (9, 4, 2));
    assert_eq!(
        stored_forms(&store).await,
        before,
        "a dry run writes nothing"
    );

    let report = store
        .rewrite_to_current(&RewriteOptions {
            batch_size: 2,
            ..RewriteOptions::default()
        })
        .await
        .expect("rewrite");
    assert_eq!(
        report,
        RewriteReport {
            scanned: 9,
            rewritten: 4,
            kept_split: 2,
            last_position: 9,
        }
    );
    let after = stored_forms(&store).await;
    assert_eq!(
        after[..6].to_vec(),
        vec![("evo.OrderPlaced".to_owned(), 3); 6]
    );
    assert_eq!(after[6..], before[6..], "the split and the drop are kept");
    check::orders_load_as_v3(&store, "order-1").await;
    check::renamed_rows_load(&store, "renamed").await;
    check::split_reads_both_events(&store, "acc").await;

    let again = store
        .rewrite_to_current(&RewriteOptions::default())
        .await
        .expect("second run");
    assert_eq!((again.scanned, again.rewritten), (9, 0));
}

/// Three orders saved by the store (each row with its load record), as
/// envelopes (with the metadata each row stores).
async fn saved_orders(store: &SqliteEventStore, stream: &str) -> Vec<AnyEnvelope> {
    let envelopes: Vec<AnyEnvelope> = (1..=3)
        .map(|n| Envelope::new(order(&format!("S-{n}"), n * 10, "EUR")).into())
        .collect();
    store
        .save(stream, &envelopes[..1], Some(0))
        .await
        .expect("one event");
    store
        .save(stream, &envelopes[1..], Some(1))
        .await
        .expect("a batch");
    envelopes
}

/// (version, metadata, order) of each loaded event.
fn loaded(events: &[RecordedEvent]) -> Vec<(u64, Metadata, Option<OrderPlaced>)> {
    events
        .iter()
        .map(|e| {
            (
                e.version,
                e.metadata().clone(),
                e.downcast_ref::<OrderPlaced>().cloned(),
            )
        })
        .collect()
}

fn expected(envelopes: &[AnyEnvelope]) -> Vec<(u64, Metadata, Option<OrderPlaced>)> {
    envelopes
        .iter()
        .zip(1..)
        .map(|(e, version)| {
            (
                version,
                e.metadata().clone(),
                e.downcast_ref::<OrderPlaced>().cloned(),
            )
        })
        .collect()
}

/// (load_record present, context present) of every row, in position
/// order.
async fn stored_kinds(store: &SqliteEventStore) -> Vec<(bool, bool)> {
    sqlx::query_as(
        "SELECT load_record IS NOT NULL, context IS NOT NULL FROM events ORDER BY position",
    )
    .fetch_all(store.pool())
    .await
    .expect("rows")
}

/// A row with a load record renamed by hand to its type's former name, a
/// name of another length: the trigger of migration 4 cuts the context
/// out of the record by the length of the name the record holds (the old
/// one), so the row loads, its metadata as saved, from its context column.
#[tokio::test]
async fn a_row_renamed_by_hand_to_a_name_of_another_length_keeps_its_context() {
    let db = TempDb::new("evolution-renamed-by-hand");
    let store = store(&db).await;
    let envelopes = saved_orders(&store, "order-1").await;
    assert_ne!("evo.OrderPlaced".len(), "evo.OrderCreated".len());
    sqlx::query("UPDATE events SET event_type = 'evo.OrderCreated' WHERE position IN (1, 3)")
        .execute(store.pool())
        .await
        .expect("rename");
    assert_eq!(
        stored_kinds(&store).await,
        [(false, true), (true, false), (false, true)]
    );
    let events = store.load("order-1", 1).await.expect("loads");
    assert_eq!(loaded(&events), expected(&envelopes));
    let events = store.read_all(1, 10).await.expect("reads");
    assert_eq!(loaded(&events), expected(&envelopes));
}

/// The rewrite to the current form builds a load record for each row it
/// rewrites, from the form the row is stored in (a context column left by
/// an update by hand, the metadata JSON of a row written before the
/// context column): the rewritten rows load by record, their metadata as
/// saved, and the rows it does not rewrite keep theirs.
#[tokio::test]
async fn the_rewrite_builds_the_load_records_of_the_rows_it_rewrites() {
    let db = TempDb::new("evolution-rewrite-records");
    let store = store(&db).await;
    let envelopes = saved_orders(&store, "order-1").await;
    sqlx::query("UPDATE events SET event_type = 'evo.OrderCreated' WHERE position = 2")
        .execute(store.pool())
        .await
        .expect("rename");
    insert_rows(&store, "renamed", &renamed_rows()).await;
    assert_eq!(
        stored_kinds(&store).await,
        [
            (true, false),
            (false, true),
            (true, false),
            (false, false),
            (false, false),
            (false, false),
        ]
    );
    let report = store
        .rewrite_to_current(&RewriteOptions::default())
        .await
        .expect("rewrite");
    assert_eq!((report.scanned, report.rewritten), (6, 3));
    assert_eq!(
        stored_kinds(&store).await,
        [
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (false, false),
        ]
    );
    let events = store.load("order-1", 1).await.expect("loads");
    assert_eq!(loaded(&events), expected(&envelopes));
    let by_range = store.load_range("order-1", 2, 3).await.expect("a range");
    assert_eq!(loaded(&by_range), expected(&envelopes)[1..]);
    check::renamed_rows_load(&store, "renamed").await;
    // What the records say is what the columns say.
    let all = store.read_all(1, 10).await.expect("reads");
    assert_eq!(loaded(&all[..3]), expected(&envelopes));
}
