//! Schema evolution on PostgreSQL: rows inserted by hand with SQL at old
//! schema versions, under a former name, or split, read as current events.

use orchestrix::evolution::{RewriteOptions, RewriteReport};
use orchestrix::message::Metadata;
use orchestrix::store::{AsyncEventStore, StoreError};
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

/// (event_type, schema_version) of every row, in position order.
async fn stored_forms(test: &TestStore) -> Vec<(String, i32)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT event_type, schema_version FROM \"{}\".events ORDER BY position",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("rows")
}

#[tokio::test]
async fn the_rewrite_turns_old_rows_current_in_batches_and_is_safe_to_run_again() {
    let Some(test) = TestStore::new("evolution_pg_rewrite", 2).await else {
        return;
    };
    insert_rows(&test, "order-1", &order_rows()).await;
    insert_rows(&test, "renamed", &renamed_rows()).await;
    insert_rows(&test, "acc", &split_rows()).await;
    let before = stored_forms(&test).await;

    let dry = test
        .store
        .rewrite_to_current(&RewriteOptions {
            dry_run: true,
            ..RewriteOptions::default()
        })
        .await
        .expect("dry run");
    assert_eq!(
        (dry.scanned, dry.rewritten, dry.kept_split),
        (9, 4, 2),
        "v1, v2, two renamed rows; the split opening and the dropped note stay"
    );
    assert_eq!(
        stored_forms(&test).await,
        before,
        "a dry run writes nothing"
    );

    // Two rows per batch: the run goes through five transactions.
    let report = test
        .store
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
    let after = stored_forms(&test).await;
    assert_eq!(
        after[..6].to_vec(),
        vec![("evo.OrderPlaced".to_owned(), 3); 6],
        "orders are current, under the current name"
    );
    assert_eq!(after[6..], before[6..], "the split and the drop are kept");
    check::orders_load_as_v3(&test.store, "order-1").await;
    check::renamed_rows_load(&test.store, "renamed").await;
    check::split_reads_both_events(&test.store, "acc").await;

    let again = test
        .store
        .rewrite_to_current(&RewriteOptions::default())
        .await
        .expect("second run");
    assert_eq!((again.scanned, again.rewritten), (9, 0));
    // Resuming after the last position has nothing left to look at.
    let resumed = test
        .store
        .rewrite_to_current(&RewriteOptions {
            after_position: report.last_position,
            ..RewriteOptions::default()
        })
        .await
        .expect("resume");
    assert_eq!(resumed.scanned, 0);
    test.cleanup().await;
}

/// A replay selects no global position: when a payload fails to decode it
/// fetches the failing row's, so the error names the row a load names,
/// past a row split into two events (which share their version and
/// position) and for a split row itself.
#[tokio::test]
async fn a_replay_names_the_position_of_the_row_that_fails_past_a_split() {
    let Some(test) = TestStore::new("evolution_pg_split_decode", 2).await else {
        return;
    };
    let deposit = |amount: serde_json::Value| serde_json::json!({ "amount": amount });
    // Rows of other streams between them: positions are not versions.
    insert_rows(
        &test,
        "other",
        &[(1, "evo.Deposited", 1, deposit(1.into()))],
    )
    .await;
    insert_rows(&test, "acc", &split_rows()).await;
    insert_rows(
        &test,
        "other",
        &[(2, "evo.Deposited", 1, deposit(2.into()))],
    )
    .await;
    let bad = insert_rows(
        &test,
        "acc",
        &[(4, "evo.Deposited", 1, deposit("lots".into()))],
    )
    .await;
    let bad_split = insert_rows(
        &test,
        "bad-split",
        &[(
            1,
            "evo.AccountOpened",
            1,
            serde_json::json!({ "owner": 5, "deposit": 40 }),
        )],
    )
    .await;
    for (stream, version, position, event_type) in [
        ("acc", 4, bad, "evo.Deposited"),
        ("bad-split", 1, bad_split, "evo.AccountOpened"),
    ] {
        let load = test.store.load(stream, 1).await.expect_err("a bad payload");
        let replay = test
            .store
            .replay(stream, 1, u64::MAX, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .await
            .expect_err("a bad payload");
        let StoreError::Decode {
            stream_id,
            version: at_version,
            position: at,
            event_type: of_type,
            ..
        } = &replay
        else {
            panic!("expected a decode error, got {replay:?}");
        };
        assert_eq!(
            (stream_id.as_str(), *at_version, *at, of_type.as_str()),
            (stream, version, Some(position), event_type),
            "{replay}"
        );
        assert_eq!(replay.to_string(), load.to_string());
    }
    test.cleanup().await;
}
