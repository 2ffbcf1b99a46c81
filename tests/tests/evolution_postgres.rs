//! Schema evolution on PostgreSQL: rows inserted by hand with SQL at old
//! schema versions, under a former name, or split, read as current events.

use orchestrix::message::Metadata;
use orchestrix_tests::evolution::{check, order_rows, order_v3, renamed_rows, split_rows};
use orchestrix_tests::postgres::TestStore;

/// Inserts rows as an older program would have written them; returns the
/// global position of the last.
async fn insert_rows(
    test: &TestStore,
    stream: &str,
    rows: &[(u64, &str, u32, serde_json::Value)],
) -> u64 {
    let mut position = 0;
    for (version, event_type, schema_version, payload) in rows {
        let metadata = serde_json::to_string(&Metadata::new(*event_type)).expect("metadata");
        let inserted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{0}\".events (position, stream_id, version, event_id, event_type, \
             schema_version, payload, metadata, correlation_id) \
             VALUES (nextval('\"{0}\".event_positions'), $1, $2, gen_random_uuid(), $3, $4, \
             $5::jsonb, $6::jsonb, gen_random_uuid()) RETURNING position",
            test.schema
        )))
        .bind(stream)
        .bind(i64::try_from(*version).expect("small"))
        .bind(*event_type)
        .bind(i32::try_from(*schema_version).expect("small"))
        .bind(payload.to_string())
        .bind(metadata)
        .fetch_one(test.pool())
        .await
        .expect("raw insert");
        position = u64::try_from(inserted).expect("positive");
    }
    position
}

#[tokio::test]
async fn v1_and_v2_rows_written_with_sql_load_as_v3_through_two_upcasters() {
    let Some(test) = TestStore::new("evolution_pg_orders", 2).await else {
        return;
    };
    insert_rows(&test, "order-1", &order_rows()).await;
    check::orders_load_as_v3(&test.store, "order-1").await;
    test.cleanup().await;
}

#[tokio::test]
async fn a_renamed_events_old_rows_load() {
    let Some(test) = TestStore::new("evolution_pg_renamed", 2).await else {
        return;
    };
    insert_rows(&test, "renamed", &renamed_rows()).await;
    check::renamed_rows_load(&test.store, "renamed").await;
    test.cleanup().await;
}

#[tokio::test]
async fn a_split_yields_both_events_in_order() {
    let Some(test) = TestStore::new("evolution_pg_split", 2).await else {
        return;
    };
    insert_rows(&test, "acc", &split_rows()).await;
    check::split_reads_both_events(&test.store, "acc").await;
    test.cleanup().await;
}

#[tokio::test]
async fn a_row_stored_at_a_newer_version_is_a_typed_error() {
    let Some(test) = TestStore::new("evolution_pg_newer", 2).await else {
        return;
    };
    let position = insert_rows(
        &test,
        "newer",
        &[
            (1, "evo.OrderPlaced", 3, order_v3("N-1", 1, "EUR")),
            (2, "evo.OrderPlaced", 4, serde_json::json!({ "v4": true })),
        ],
    )
    .await;
    check::newer_version_is_a_typed_error(&test.store, "newer", position).await;
    test.cleanup().await;
}
