//! Schema evolution on SQLite: rows inserted by hand with SQL at old schema
//! versions, under a former name, or split, read as current events.

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
