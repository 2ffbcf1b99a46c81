//! A poison event (a stored row that does not decode) never stops a reader
//! of the global stream on PostgreSQL: the `Decode` error names its global
//! position, stream, version and type (and, for a damaged context, the
//! column), and a reader gets past it as `StoreError::Decode` documents.
//! Needs `DATABASE_URL`.

use orchestrix::error::DecodeError;
use orchestrix::message::Metadata;
use orchestrix::prelude::*;
use orchestrix::store::{RecordedEvent, StoreError};
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::conformance::hardening::nested;
use orchestrix_tests::postgres::TestStore;

/// Writes a row straight into the table, past every check, as an older
/// version or another program could have; returns its position.
async fn insert_row(test: &TestStore, stream: &str, event_type: &str, payload: &str) -> u64 {
    let metadata = serde_json::to_string(&Metadata::new(event_type)).expect("metadata");
    let position: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{0}\".events (position, stream_id, version, event_id, event_type, schema_version, payload, metadata, correlation_id) \
         VALUES (nextval('\"{0}\".event_positions'), $1, 1, gen_random_uuid(), $2, 1, $3::jsonb, $4::jsonb, gen_random_uuid()) \
         RETURNING position",
        test.schema
    )))
    .bind(stream)
    .bind(event_type)
    .bind(payload)
    .bind(metadata)
    .fetch_one(test.pool())
    .await
    .expect("raw insert");
    u64::try_from(position).expect("positive")
}

/// What a follower of the global stream does with the documented recipe:
/// on `Decode { position: Some(p), .. }` it takes the events before `p`,
/// sets `p` aside, and continues at `p + 1`.
async fn follow(
    store: &impl AsyncEventStore,
    mut from: u64,
) -> (Vec<RecordedEvent>, Vec<(u64, String)>) {
    let mut events = Vec::new();
    let mut parked = Vec::new();
    loop {
        match store.read_all(from, 100).await {
            Ok(page) if page.is_empty() => return (events, parked),
            Ok(page) => {
                from = page.last().expect("not empty").position + 1;
                events.extend(page);
            }
            Err(StoreError::Decode {
                position: Some(poison),
                event_type,
                ..
            }) => {
                let before = store
                    .read_all(from, usize::try_from(poison - from).expect("small"))
                    .await
                    .expect("the events before the poison decode");
                events.extend(before);
                parked.push((poison, event_type));
                from = poison + 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_poison_event_is_named_and_a_follower_gets_past_it() {
    let Some(test) = TestStore::new("a_poison_event_is_named_and_a_follower_gets_past_it", 2).await
    else {
        return;
    };
    let store = &test.store;
    store
        .save("before", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    // 200 levels: accepted by PostgreSQL, beyond what serde_json decodes.
    let deep = serde_json::json!({ "value": nested(200), "text": "poison" });
    let deep_position = insert_row(
        &test,
        "deep",
        "orchestrix.conformance.Probe",
        &serde_json::to_string(&deep).expect("serializes"),
    )
    .await;
    let unknown_position = insert_row(&test, "unknown", "never.Registered", "{}").await;
    store
        .save("after", &[ConformanceEvent::envelope(1, 2)], Some(0))
        .await
        .expect("save");

    let error = store
        .read_all(1, 100)
        .await
        .expect_err("the poison stops a plain read");
    let StoreError::Decode {
        stream_id,
        version,
        position,
        event_type,
        source,
    } = &error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(
        (stream_id.as_str(), *version, *position, event_type.as_str()),
        (
            "deep",
            1,
            Some(deep_position),
            "orchestrix.conformance.Probe"
        )
    );
    assert!(
        matches!(source, DecodeError::Malformed { .. }),
        "{source:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("global position {deep_position}"))
            && text.contains("orchestrix.conformance.Probe"),
        "{text}"
    );

    let (events, parked) = follow(store, 1).await;
    let streams: Vec<&str> = events.iter().map(|e| &*e.stream_id).collect();
    assert_eq!(streams, ["before", "after"], "every good event, in order");
    assert_eq!(
        parked,
        [
            (deep_position, "orchestrix.conformance.Probe".to_owned()),
            (unknown_position, "never.Registered".to_owned())
        ]
    );

    // Loading the poisoned stream names the same row.
    let error = store
        .load("deep", 1)
        .await
        .expect_err("the stream does not decode");
    assert!(
        matches!(&error, StoreError::Decode { position: Some(p), .. } if *p == deep_position),
        "{error:?}"
    );
    test.cleanup().await;
}

/// `read_all_raw` reads the poison rows undecoded (PostgreSQL's override
/// never decodes; the provided default would, and so fail here).
#[tokio::test]
async fn read_all_raw_reads_poison_rows_undecoded() {
    let Some(test) = TestStore::new("read_all_raw_reads_poison_rows_undecoded", 2).await else {
        return;
    };
    let deep = serde_json::to_string(&serde_json::json!({ "value": nested(200), "text": "p" }))
        .expect("serializes");
    let position = insert_row(&test, "deep", "orchestrix.conformance.Probe", &deep).await;
    let raw = test
        .store
        .read_all_raw(position, 10)
        .await
        .expect("raw rows never decode");
    assert_eq!(raw.len(), 1);
    assert_eq!(
        (&*raw[0].stream_id, raw[0].version, raw[0].position),
        ("deep", 1, position)
    );
    assert_eq!(raw[0].event_type, "orchestrix.conformance.Probe");
    // Too deep for serde_json to parse: compare the structure's text.
    assert_eq!(raw[0].payload.matches('[').count(), 100);
    assert_eq!(raw[0].payload.matches('{').count(), 101);
    test.cleanup().await;
}

/// `error` is the `Decode` error of the row at `(stream, version,
/// position)`, saying its `column` is damaged and, in its source, `why`.
fn assert_damaged(error: &StoreError, row: (&str, u64, u64), column: &str, why: &str) {
    let StoreError::Decode {
        stream_id,
        version,
        position,
        event_type,
        source,
    } = error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(
        (stream_id.as_str(), *version, *position),
        (row.0, row.1, Some(row.2))
    );
    assert_eq!(event_type, "orchestrix.conformance.Event");
    let DecodeError::Context {
        column: damaged,
        source: cause,
        ..
    } = source
    else {
        panic!("expected DecodeError::Context, got {source:?}");
    };
    assert_eq!(*damaged, column);
    assert!(
        source
            .to_string()
            .contains(&format!("stored {column} column")),
        "{source}"
    );
    assert!(cause.to_string().contains(why), "{cause}");
}

/// Writes `bytes` (as `bytea` input) into the context of the row at
/// `position`, past the store.
async fn damage(test: &TestStore, position: u64, bytes: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE \"{}\".events SET context = $1::bytea WHERE position = $2",
        test.schema
    )))
    .bind(bytes)
    .bind(i64::try_from(position).expect("small"))
    .execute(test.pool())
    .await
    .map(drop)
}

/// A damaged context column (written past the store) is a typed error that
/// names the row, for a load and for a read of the global stream, never a
/// failed query or a panic. A raw read still reads the row (how a reader
/// gets past it): a row whose only metadata is its context (schema version
/// 4) gives metadata that says the context does not decode, with its bytes
/// and why; a row that also has the typed columns (version 3) is raw-read
/// from them, context or not.
#[tokio::test]
async fn a_damaged_context_is_a_typed_error_naming_the_row() {
    let Some(test) = TestStore::new("a_damaged_context_is_a_typed_error_naming_the_row", 2).await
    else {
        return;
    };
    let store = &test.store;
    let saved = store
        .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    let position = saved.positions[0];
    // (An empty context is refused for a row without other metadata:
    // `events_context_present`.)
    damage(&test, position, "\\x")
        .await
        .expect_err("an empty context only");
    let damages = [
        ("\\x01ff", "01ff", "ends early"),
        ("\\x09", "09", "unknown format"),
    ];
    for (bytes, hex, why) in damages {
        damage(&test, position, bytes).await.expect("damage");
        let load = store.load("acc-1", 1).await.expect_err("damaged");
        let read = store.read_all(position, 10).await.expect_err("damaged");
        for error in [load, read] {
            assert_damaged(&error, ("acc-1", 1, position), "context", why);
        }
        let raw = store
            .read_all_raw(position, 10)
            .await
            .expect("raw reads still read it");
        assert_eq!(raw.len(), 1);
        assert_eq!((raw[0].position, raw[0].version), (position, 1));
        assert_eq!(raw[0].event_type, "orchestrix.conformance.Event");
        let metadata: serde_json::Value = serde_json::from_str(&raw[0].metadata).expect("JSON");
        assert_eq!(metadata["undecodable_context"], hex, "{metadata}");
        let error = metadata["error"].as_str().expect("the error, as text");
        assert!(
            error.contains("stored context column") && error.contains(why),
            "{error}"
        );
        assert!(
            serde_json::from_str::<Metadata>(&raw[0].metadata).is_err(),
            "not a CloudEvents context"
        );
    }
    // The typed columns a version-3 append also wrote.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE \"{}\".events SET event_id = gen_random_uuid(), source = 'urn:elsewhere', \
         occurred_at = now(), correlation_id = gen_random_uuid() WHERE position = $1",
        test.schema
    )))
    .bind(i64::try_from(position).expect("small"))
    .execute(test.pool())
    .await
    .expect("typed columns");
    damage(&test, position, "\\x")
        .await
        .expect("an empty context beside typed columns");
    let load = store.load("acc-1", 1).await.expect_err("damaged");
    assert_damaged(&load, ("acc-1", 1, position), "context", "is empty");
    let raw = store
        .read_all_raw(position, 10)
        .await
        .expect("raw reads prefer the typed columns");
    assert_eq!(raw.len(), 1);
    let metadata: Metadata = serde_json::from_str(&raw[0].metadata).expect("JSON");
    assert_eq!(metadata.message_type, "orchestrix.conformance.Event");
    assert_eq!(metadata.source, "urn:elsewhere");
    test.cleanup().await;
}

/// Rows stored without a context (written before migration 0003) whose
/// columns do not make a context, written past the store, each fail alone
/// as `Decode` naming the row and the column, never the whole query: a
/// time beyond what the store reads (infinite, or past year 10000), a
/// `recorded_at` before 1677 or past 2262 (beyond nanoseconds in 64 bits),
/// a JSON context missing its fields. A version-2 row names the typed
/// column at fault (`occurred_at`, `recorded_at`), a version-1 row
/// `metadata`. The good
/// rows around them still read.
#[tokio::test]
async fn old_rows_whose_columns_make_no_context_fail_alone_naming_the_column() {
    let Some(test) = TestStore::new(
        "old_rows_whose_columns_make_no_context_fail_alone_naming_the_column",
        2,
    )
    .await
    else {
        return;
    };
    let store = &test.store;
    store
        .save("before", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    let payload = serde_json::to_string(&ConformanceEvent { writer: 2, seq: 1 }).expect("payload");
    // (stream, occurred_at, recorded_at, metadata JSON): typed rows of
    // version 2 unless a JSON context is given (version 1).
    let rows = [
        (
            "infinite",
            Some("infinity"),
            "now()",
            None,
            "occurred_at",
            "out of range",
        ),
        (
            "beyond",
            Some("20000-01-01 00:00:00+00"),
            "now()",
            None,
            "occurred_at",
            "out of range",
        ),
        (
            "long-ago",
            Some("2001-01-01 00:00:00+00"),
            "'1600-01-01 00:00:00+00'",
            None,
            "recorded_at",
            "too small",
        ),
        (
            "far",
            Some("2001-01-01 00:00:00+00"),
            "'3000-01-01 00:00:00+00'",
            None,
            "recorded_at",
            "too large",
        ),
        (
            "partial",
            None,
            "now()",
            Some(r#"{"id": "6f1c1ab2-0d6e-4c55-9a38-6ad1b1d5a0a1"}"#),
            "metadata",
            "missing field",
        ),
    ];
    let mut bad = Vec::new();
    for (stream, occurred_at, recorded_at, metadata, column, why) in rows {
        let position: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{0}\".events (position, stream_id, version, event_id, event_type, \
             schema_version, payload, metadata, source, occurred_at, correlation_id, recorded_at) \
             VALUES (nextval('\"{0}\".event_positions'), $1, 1, gen_random_uuid(), \
             'orchestrix.conformance.Event', 1, $2::jsonb, $3::jsonb, \
             CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE 'urn:elsewhere' END, $4::timestamptz, \
             gen_random_uuid(), {recorded_at}) RETURNING position",
            test.schema
        )))
        .bind(stream)
        .bind(&payload)
        .bind(metadata)
        .bind(occurred_at)
        .fetch_one(test.pool())
        .await
        .expect("raw insert");
        let position = u64::try_from(position).expect("positive");
        bad.push((stream, position, column, why));
    }
    store
        .save("after", &[ConformanceEvent::envelope(3, 1)], Some(0))
        .await
        .expect("save");

    for &(stream, position, column, why) in &bad {
        let load = store.load(stream, 1).await.expect_err("no context");
        let read = store.read_all(position, 1).await.expect_err("no context");
        for error in [load, read] {
            assert_damaged(&error, (stream, 1, position), column, why);
        }
    }
    assert_eq!(store.load("before", 1).await.expect("good row").len(), 1);
    assert_eq!(store.load("after", 1).await.expect("good row").len(), 1);
    let (first_bad, last_bad) = (bad[0].1, bad[bad.len() - 1].1);
    assert_eq!(
        store
            .read_all(1, usize::try_from(first_bad - 1).expect("small"))
            .await
            .expect("the row before")
            .len(),
        1
    );
    assert_eq!(
        store
            .read_all(last_bad + 1, 10)
            .await
            .expect("the row after")
            .len(),
        1
    );
    test.cleanup().await;
}
