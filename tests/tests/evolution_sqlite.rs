//! Schema evolution on SQLite: rows inserted by hand with SQL at old schema
//! versions, under a former name, or split, read as current events.

use orchestrix::evolution::{RewriteOptions, RewriteReport};
use orchestrix::message::Metadata;
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::evolution::{check, order_rows, order_v3, renamed_rows, split_rows};
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
