//! PostgreSQLEventStore beyond the conformance suite: configuration and
//! connection errors, migrations, undecodable rows, what is stored.
//! Needs `DATABASE_URL` (skipped with a notice without it).

use std::time::Duration;

use orchestrix::error::DecodeError;
use orchestrix::limits::LimitError;
use orchestrix::postgres::{
    Migration, PgPool, PostgresError, PostgresOptions, SqlIdentifier, migrate,
};
use orchestrix::prelude::*;
use orchestrix::store::postgres::{EVENT_STORE_MIGRATIONS, PostgreSQLEventStore};
use orchestrix_tests::postgres::{TestStore, database_url, pool, unique_schema};

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "pg-test.Deposited", version = 2, since = 2)]
struct Deposited {
    amount: u64,
}

fn deposit(amount: u64) -> AnyEnvelope {
    Envelope::new(Deposited { amount }).into()
}

#[tokio::test]
async fn a_bad_connection_string_is_a_configuration_error() {
    let error = PostgreSQLEventStore::connect("definitely not a url")
        .await
        .expect_err("must fail");
    assert!(matches!(error, StoreError::Configuration(_)), "{error}");
    let error = PostgreSQLEventStore::connect("postgres://h/db?sslmode=sometimes")
        .await
        .expect_err("must fail");
    assert!(matches!(error, StoreError::Configuration(_)), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_names_the_host() {
    // Port 1 on localhost: nothing listens there, the connection is refused.
    let options = PostgresOptions::builder("postgres://postgres@127.0.0.1:1/nowhere")
        .acquire_timeout(Duration::from_secs(2))
        .build()
        .expect("valid options");
    let error = PostgreSQLEventStore::connect_with(options)
        .await
        .expect_err("nothing listens");
    let StoreError::Unavailable { target, .. } = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert_eq!(target, "127.0.0.1:1/nowhere");
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn a_schema_name_that_is_not_an_identifier_is_refused() {
    let Some(url) = database_url("a_schema_name_that_is_not_an_identifier_is_refused") else {
        return;
    };
    let pool = pool(&url, 1).await;
    let error = PostgreSQLEventStore::from_pool_with_schema(pool, "x\"; DROP SCHEMA public; --")
        .expect_err("refused");
    assert!(matches!(error, StoreError::Configuration(_)), "{error}");
}

#[tokio::test]
async fn initialize_is_idempotent_and_safe_concurrently() {
    let Some(url) = database_url("initialize_is_idempotent_and_safe_concurrently") else {
        return;
    };
    let schema = unique_schema("init");
    let pool = pool(&url, 8).await;
    let store =
        PostgreSQLEventStore::from_pool_with_schema(pool.clone(), &schema).expect("valid schema");
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.initialize().await })
        })
        .collect();
    for racer in racers {
        racer
            .await
            .expect("task")
            .expect("every concurrent initialize succeeds");
    }
    store.initialize().await.expect("and again");
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".orchestrix_migrations"
    )))
    .fetch_one(&pool)
    .await
    .expect("bookkeeping");
    assert_eq!(
        applied,
        i64::try_from(EVENT_STORE_MIGRATIONS.len()).expect("small")
    );
    store
        .save("s", &[deposit(1)], Some(0))
        .await
        .expect("usable");
    drop_schema(&pool, &schema).await;
}

#[tokio::test]
async fn two_schemas_are_two_independent_stores() {
    let Some(a) = TestStore::new("two_schemas_are_two_independent_stores", 2).await else {
        return;
    };
    let b = TestStore::new("two_schemas_are_two_independent_stores", 2)
        .await
        .expect("url is set");
    a.store
        .save("acc", &[deposit(1), deposit(2)], Some(0))
        .await
        .expect("a");
    let outcome = b
        .store
        .save("acc", &[deposit(3)], Some(0))
        .await
        .expect("b has its own streams");
    assert_eq!(outcome.positions, vec![1], "and its own global stream");
    assert_eq!(a.store.load("acc", 1).await.expect("load").len(), 2);
    a.cleanup().await;
    b.cleanup().await;
}

#[tokio::test]
async fn a_changed_migration_is_refused() {
    let Some(url) = database_url("a_changed_migration_is_refused") else {
        return;
    };
    let pool = pool(&url, 2).await;
    let schema = SqlIdentifier::new(unique_schema("mig")).expect("valid");
    let first = [Migration::new(1, "t", "CREATE TABLE t (x int);")];
    migrate(&pool, &schema, &first).await.expect("applies");
    migrate(&pool, &schema, &first).await.expect("idempotent");
    let changed = [Migration::new(1, "t", "CREATE TABLE t (x bigint);")];
    let error = migrate(&pool, &schema, &changed)
        .await
        .expect_err("text changed");
    assert!(
        matches!(error, PostgresError::ChangedMigration { version: 1, .. }),
        "{error}"
    );

    let broken = [
        first[0],
        Migration::new(2, "broken", "CREATE TABLE u (x int); SELEKT;"),
    ];
    let error = migrate(&pool, &schema, &broken).await.expect_err("bad SQL");
    assert!(
        matches!(error, PostgresError::Migration { version: 2, .. }),
        "{error}"
    );
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("{schema}.u"))
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(exists, None, "a failed migration leaves nothing behind");
    drop_schema(&pool, schema.as_str()).await;
}

/// With `write_typed_metadata_columns(true)` (for a rolling upgrade from
/// version 3 or earlier), every append path (one event, several at an
/// expected version, several at any version) writes the typed metadata
/// columns as version 3 did, beside the context: a version-3 process's
/// raw read, which selects them as non-null, reads the rows, and the
/// store's raw read gives what version 3's gave (the time to the
/// microsecond in UTC), while a load keeps the time exactly. A store
/// with the setting off (the default) beside it writes the context only.
#[tokio::test]
async fn typed_metadata_columns_are_written_when_asked_as_version_3_wrote_them() {
    let Some(test) = TestStore::new(
        "typed_metadata_columns_are_written_when_asked_as_version_3_wrote_them",
        2,
    )
    .await
    else {
        return;
    };
    let typed = test.store.clone().write_typed_metadata_columns(true);
    let command = Metadata::new("Deposit");
    // A time the typed column cannot hold exactly (nanoseconds, an offset).
    let exact = || Metadata {
        time: time::macros::datetime!(2030-06-07 08:09:10.123_456_789 -07:30),
        dataschema: Some("https://example.com/deposited".into()),
        ..Metadata::new("pg-test.Deposited")
            .caused_by(&command)
            .with_subject("acc")
            .with_source("urn:teller")
    };
    let metadata: [Metadata; 6] = std::array::from_fn(|_| exact());
    let events: Vec<AnyEnvelope> = (0_u64..)
        .zip(&metadata)
        .map(|(amount, metadata)| {
            Envelope::with_metadata(Deposited { amount }, metadata.clone()).into()
        })
        .collect();
    typed
        .save("acc", &events[..1], Some(0))
        .await
        .expect("one event");
    typed
        .save("acc", &events[1..3], Some(1))
        .await
        .expect("several at an expected version");
    typed
        .save("acc", &events[3..5], None)
        .await
        .expect("several at any version");
    test.store
        .save("acc", &events[5..], Some(5))
        .await
        .expect("the default: the context only");

    // What a version-3 process's raw read selects, as non-null where
    // version 3 declared the columns so: the typed columns are there.
    type Typed = (
        uuid::Uuid,
        uuid::Uuid,
        String,
        time::OffsetDateTime,
        Option<uuid::Uuid>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Typed> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT event_id, correlation_id, source, occurred_at, causation_id, subject, \
         datacontenttype, dataschema, message_type FROM \"{}\".events \
         WHERE version <= 5 ORDER BY version",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("a version-3 raw read's columns");
    // As version 3 kept it: the time to the microsecond, in UTC.
    let in_columns = |metadata: &Metadata| Metadata {
        time: time::macros::datetime!(2030-06-07 15:39:10.123_456 UTC),
        ..metadata.clone()
    };
    let expected: Vec<Typed> = metadata[..5]
        .iter()
        .map(|m| {
            (
                m.id,
                m.correlation_id,
                m.source.to_string(),
                in_columns(m).time,
                m.causation_id,
                m.subject.as_deref().map(str::to_owned),
                m.datacontenttype.as_deref().map(str::to_owned),
                m.dataschema.as_deref().map(str::to_owned),
                // The CloudEvents type only where it is not the event type.
                None,
            )
        })
        .collect();
    assert_eq!(rows, expected);
    let narrow: Vec<(i64, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT num_nonnulls(metadata, event_id, source, occurred_at, subject, datacontenttype, \
         dataschema, message_type, correlation_id, causation_id)::bigint, context IS NOT NULL \
         FROM \"{}\".events ORDER BY version",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("the rows");
    assert_eq!(
        narrow,
        [
            (8, true),
            (8, true),
            (8, true),
            (8, true),
            (8, true),
            (0, true)
        ],
        "the typed columns beside the context when asked, the context only by default"
    );

    let loaded = test.store.load("acc", 1).await.expect("load");
    let loaded: Vec<&Metadata> = loaded.iter().map(RecordedEvent::metadata).collect();
    assert_eq!(loaded, metadata.iter().collect::<Vec<_>>(), "loads: exact");
    let raw = typed.read_all_raw(1, 10).await.expect("raw read");
    let raw: Vec<Metadata> = raw
        .iter()
        .map(|event| serde_json::from_str(&event.metadata).expect("JSON"))
        .collect();
    let mut as_version_3: Vec<Metadata> = metadata[..5].iter().map(in_columns).collect();
    as_version_3.push(metadata[5].clone());
    assert_eq!(
        raw, as_version_3,
        "raw reads: the typed columns where written, as version 3 gave them"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn events_are_stored_as_jsonb_with_type_version_and_metadata_columns() {
    let Some(test) = TestStore::new(
        "events_are_stored_as_jsonb_with_type_version_and_metadata",
        2,
    )
    .await
    else {
        return;
    };
    let command = Metadata::new("Deposit");
    // A time the typed column cannot hold (nanoseconds, an offset): a load
    // that gives it back read the context.
    let event = Envelope::with_metadata(
        Deposited { amount: 7 },
        Metadata {
            time: time::macros::datetime!(2030-06-07 08:09:10.123_456_789 +05:45),
            ..Metadata::new("pg-test.Deposited").caused_by(&command)
        },
    )
    .map_metadata(|m| m.with_subject("acc-1"));
    test.store
        .save("acc-1", &[event.clone().into()], Some(0))
        .await
        .expect("save");

    let row: (String, i32, String, Option<uuid::Uuid>, Option<uuid::Uuid>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT event_type, schema_version, payload->>'amount', \"{0}\".context_event_id(context), \
         \"{0}\".context_correlation_id(context) FROM \"{0}\".events WHERE stream_id = 'acc-1'",
        test.schema
    )))
    .fetch_one(test.pool())
    .await
    .expect("the row");
    assert_eq!(row.0, "pg-test.Deposited");
    assert_eq!(row.1, 2);
    assert_eq!(row.2, "7");
    assert_eq!(row.3, Some(event.metadata().id), "the id, read in SQL");
    assert_eq!(row.4, Some(command.correlation_id));
    // The metadata is written once, in the context (migration 0004): the
    // JSON of version 1 and the typed columns of version 2 stay NULL.
    let written: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT num_nonnulls(metadata, event_id, source, occurred_at, subject, datacontenttype, \
         dataschema, message_type, correlation_id, causation_id)::bigint \
         FROM \"{}\".events WHERE stream_id = 'acc-1'",
        test.schema
    )))
    .fetch_one(test.pool())
    .await
    .expect("the row");
    assert_eq!(written, 0, "no metadata outside the context");
    // The id functions read nothing but the compact form.
    let (short, other): (Option<uuid::Uuid>, Option<uuid::Uuid>) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT \"{0}\".context_event_id('\\x01'::bytea), \
         \"{0}\".context_correlation_id(overlay(context placing '\\x09'::bytea from 1 for 1)) \
         FROM \"{0}\".events WHERE stream_id = 'acc-1'",
            test.schema
        )))
        .fetch_one(test.pool())
        .await
        .expect("the functions");
    assert_eq!((short, other), (None, None));
    // Inlined by the planner (what makes them cheap in a WHERE clause):
    // the plan holds their body, not a call.
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (VERBOSE) SELECT \"{0}\".context_event_id(context), \
         \"{0}\".context_correlation_id(context) FROM \"{0}\".events",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("the plan");
    let plan = plan.join("\n");
    assert!(
        !plan.contains("context_event_id") && !plan.contains("context_correlation_id"),
        "{plan}"
    );

    let loaded = test.store.load("acc-1", 1).await.expect("load");
    // As saved: a load reads the compact context (migration 0003), which
    // keeps the time exactly.
    assert_eq!(loaded[0].metadata(), event.metadata());
    let loaded_time = loaded[0].metadata().time;
    assert_eq!(
        (loaded_time.nanosecond(), loaded_time.offset()),
        (123_456_789, time::macros::offset!(+05:45)),
        "the exact time, which only the context holds"
    );
    // A raw read gives the same metadata, from the context.
    let raw = test.store.read_all_raw(1, 10).await.expect("raw read");
    let metadata: Metadata = serde_json::from_str(&raw[0].metadata).expect("JSON");
    assert_eq!(&metadata, event.metadata());
    let context: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT context FROM \"{}\".events WHERE stream_id = 'acc-1'",
        test.schema
    )))
    .fetch_one(test.pool())
    .await
    .expect("the context column");
    assert_eq!(context.first(), Some(&1), "the compact form");
    assert_eq!(
        loaded[0].downcast_ref::<Deposited>(),
        Some(&Deposited { amount: 7 })
    );
    // The texts the context repeats are shared, not copied per row: the
    // registered name and the default source and content type are static
    // texts, the subject is the stream's id the load already holds.
    let metadata = loaded[0].metadata();
    assert!(metadata.message_type.is_static());
    assert!(metadata.source.is_static());
    assert!(
        metadata
            .datacontenttype
            .as_ref()
            .is_some_and(|t| t.is_static())
    );
    let subject = metadata.subject.as_deref().expect("a subject");
    assert!(std::ptr::eq(subject, &*loaded[0].stream_id));
    test.cleanup().await;
}

async fn insert_raw(
    test: &TestStore,
    stream: &str,
    event_type: &str,
    schema_version: i32,
    payload: &str,
) {
    let metadata = serde_json::to_string(&Metadata::new(event_type)).expect("metadata");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{}\".events (position, stream_id, version, event_id, event_type, schema_version, payload, metadata, correlation_id) \
         VALUES (nextval('\"{}\".event_positions'), $1, 1, gen_random_uuid(), $2, $3, $4::jsonb, $5::jsonb, gen_random_uuid())",
        test.schema, test.schema
    )))
    .bind(stream)
    .bind(event_type)
    .bind(schema_version)
    .bind(payload)
    .bind(metadata)
    .execute(test.pool())
    .await
    .expect("raw insert");
}

#[tokio::test]
async fn a_row_that_does_not_decode_names_stream_version_and_type() {
    let Some(test) = TestStore::new(
        "a_row_that_does_not_decode_names_stream_version_and_type",
        2,
    )
    .await
    else {
        return;
    };
    insert_raw(
        &test,
        "bad-payload",
        "pg-test.Deposited",
        2,
        r#"{"amount": "lots"}"#,
    )
    .await;
    let error = test
        .store
        .load("bad-payload", 1)
        .await
        .expect_err("payload does not decode");
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
    assert_eq!((stream_id.as_str(), *version), ("bad-payload", 1));
    assert_eq!(event_type, "pg-test.Deposited");
    assert!(position.is_some_and(|p| p >= 1), "{position:?}");
    assert!(
        matches!(source, DecodeError::Malformed { event_type, .. } if event_type == "pg-test.Deposited"),
        "{source:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("bad-payload")
            && text.contains("version 1")
            && text.contains("pg-test.Deposited"),
        "{text}"
    );

    insert_raw(
        &test,
        "old-schema",
        "pg-test.Deposited",
        1,
        r#"{"amount": 1}"#,
    )
    .await;
    let error = test
        .store
        .load("old-schema", 1)
        .await
        .expect_err("schema version 1 is not registered");
    assert!(
        matches!(
            error,
            StoreError::Decode {
                source: DecodeError::VersionMismatch {
                    stored: 1,
                    registered: 2,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );

    insert_raw(&test, "unknown-type", "pg-test.NeverRegistered", 1, "{}").await;
    let error = test
        .store
        .read_all(1, 100)
        .await
        .expect_err("the global read meets the bad rows");
    assert!(matches!(error, StoreError::Decode { .. }), "{error:?}");
    let error = test
        .store
        .load("unknown-type", 1)
        .await
        .expect_err("unknown type");
    let StoreError::Decode {
        stream_id,
        source: DecodeError::UnknownEventType { event_type },
        ..
    } = &error
    else {
        panic!("expected an unknown event type, got {error:?}");
    };
    assert_eq!(
        (stream_id.as_str(), event_type.as_str()),
        ("unknown-type", "pg-test.NeverRegistered")
    );
    test.cleanup().await;
}

#[tokio::test]
async fn a_version_conflict_is_never_a_raw_database_error() {
    let Some(test) = TestStore::new("a_version_conflict_is_never_a_raw_database_error", 2).await
    else {
        return;
    };
    test.store
        .save("acc", &[deposit(1), deposit(2)], Some(0))
        .await
        .expect("first");
    for expected in [0, 1, 3, 99] {
        let error = test
            .store
            .save("acc", &[deposit(3)], Some(expected))
            .await
            .expect_err("stale");
        let StoreError::Concurrency(conflict) = error else {
            panic!("expected a ConcurrencyError, got {error:?}");
        };
        assert_eq!(
            conflict,
            ConcurrencyError {
                aggregate_id: "acc".into(),
                expected,
                actual: 2
            }
        );
    }
    assert_eq!(
        test.store.stream_version("acc").await.expect("version"),
        2,
        "nothing was written"
    );
    test.cleanup().await;
}

/// An append without an expected version that keeps losing its race (here
/// a trigger refuses each insert as the stream-version constraint would,
/// counting the attempts in a sequence, which a failed statement does not
/// roll back) retries, but only so often: after 32 attempts it gives up
/// with a `ConcurrencyError` and writes nothing, even though the 41st
/// attempt would have won (`docs/postgres.md`: 32 attempts in all).
#[tokio::test]
async fn an_append_at_any_version_that_keeps_losing_gives_up_after_32_attempts() {
    let Some(test) = TestStore::new(
        "an_append_at_any_version_that_keeps_losing_gives_up_after_32_attempts",
        2,
    )
    .await
    else {
        return;
    };
    let schema = &test.schema;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SEQUENCE \"{schema}\".lost_attempts; \
         CREATE FUNCTION \"{schema}\".lose_race() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF NEW.stream_id = 'contested' \
              AND nextval('\"{schema}\".lost_attempts') <= 40 THEN \
             RAISE EXCEPTION 'another append took the version' \
               USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version_key'; \
           END IF; \
           RETURN NEW; \
         END $$; \
         CREATE TRIGGER lose_race BEFORE INSERT ON \"{schema}\".events \
           FOR EACH ROW EXECUTE FUNCTION \"{schema}\".lose_race();"
    )))
    .execute(test.pool())
    .await
    .expect("the trigger");

    let error = test
        .store
        .save("contested", &[deposit(1)], None)
        .await
        .expect_err("every attempt lost");
    let StoreError::Concurrency(conflict) = error else {
        panic!("expected a ConcurrencyError, got {error:?}");
    };
    assert_eq!(conflict.aggregate_id, "contested");
    let (attempts,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT last_value FROM \"{schema}\".lost_attempts"
    )))
    .fetch_one(test.pool())
    .await
    .expect("the attempts");
    assert_eq!(attempts, 32, "retried, and gave up after 32 attempts");
    assert_eq!(
        test.store
            .stream_version("contested")
            .await
            .expect("version"),
        0,
        "nothing was written"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn a_hundred_event_append_is_one_contiguous_block() {
    let Some(test) = TestStore::new("a_hundred_event_append_is_one_contiguous_block", 2).await
    else {
        return;
    };
    let events: Vec<_> = (0..100).map(deposit).collect();
    let outcome = test
        .store
        .save("big", &events, Some(0))
        .await
        .expect("save");
    assert_eq!(outcome.new_version, 100);
    assert_eq!(outcome.positions, (1..=100).collect::<Vec<_>>());
    let loaded = test.store.load("big", 51).await.expect("load");
    let amounts: Vec<u64> = loaded
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>())
        .map(|d| d.amount)
        .collect();
    assert_eq!(amounts, (50..100).collect::<Vec<_>>());
    test.cleanup().await;
}

/// Every event of an append is recorded at its transaction's time: the
/// `recorded_at` in each row's context (what a load returns) is the row's
/// `recorded_at` column (the transaction's `now()`), for a batch at an
/// expected version, a batch at any version and a single event alike.
#[tokio::test]
async fn every_event_of_an_append_is_recorded_at_its_transactions_time() {
    let Some(test) = TestStore::new(
        "every_event_of_an_append_is_recorded_at_its_transactions_time",
        2,
    )
    .await
    else {
        return;
    };
    let batch: Vec<_> = (0..3).map(deposit).collect();
    let store = &test.store;
    store.save("timed", &batch, Some(0)).await.expect("batch");
    store
        .save("timed", &batch, None)
        .await
        .expect("any version");
    store
        .save("timed", &[deposit(6)], Some(6))
        .await
        .expect("single");
    let loaded = store.load("timed", 1).await.expect("load");
    let columns: Vec<time::OffsetDateTime> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT recorded_at FROM \"{}\".events WHERE stream_id = 'timed' ORDER BY version",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("recorded_at columns");
    let contexts: Vec<_> = loaded.iter().map(|event| event.recorded_at).collect();
    assert_eq!(contexts, columns, "each context's time is its row's");
    for append in [&columns[0..3], &columns[3..6]] {
        assert!(
            append.iter().all(|at| *at == append[0]),
            "one time per append: {append:?}"
        );
    }
    test.cleanup().await;
}

/// In a caller's transaction, every event is recorded at the transaction's
/// time (its `now()`, read before the appends), not at the time of the
/// statement that appends it: for a batch at an expected version, a single
/// event and a batch at any version, and with the typed metadata columns
/// written too (their statements differ). The context's time is the row's
/// `recorded_at` column as well.
#[tokio::test]
async fn an_append_in_a_transaction_is_recorded_at_the_transactions_time() {
    let Some(test) = TestStore::new(
        "an_append_in_a_transaction_is_recorded_at_the_transactions_time",
        2,
    )
    .await
    else {
        return;
    };
    let plain = test.store.clone();
    let typed = test.store.clone().write_typed_metadata_columns(true);
    for (stream, store) in [("tx-plain", &plain), ("tx-typed", &typed)] {
        let mut transaction = test.pool().begin().await.expect("begin");
        let began: time::OffsetDateTime = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *transaction)
            .await
            .expect("the transaction's time");
        // Not synchronisation: the clock moves on past the transaction's
        // time (to the microsecond, its resolution), so a statement's own
        // time (`statement_timestamp()`) cannot pass for it.
        sqlx::query("SELECT pg_sleep(0.002)")
            .execute(&mut *transaction)
            .await
            .expect("sleep");
        let batch: Vec<_> = (0..3).map(deposit).collect();
        store
            .save_in_transaction(&mut transaction, stream, &batch, Some(0))
            .await
            .expect("batch");
        store
            .save_in_transaction(&mut transaction, stream, &[deposit(3)], Some(3))
            .await
            .expect("single");
        store
            .save_in_transaction(&mut transaction, stream, &batch, None)
            .await
            .expect("any version");
        transaction.commit().await.expect("commit");

        let loaded = store.load(stream, 1).await.expect("load");
        assert_eq!(loaded.len(), 7);
        let contexts: Vec<_> = loaded.iter().map(|event| event.recorded_at).collect();
        assert_eq!(contexts, vec![began; 7], "{stream}: the transaction's time");
        let columns: Vec<time::OffsetDateTime> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT recorded_at FROM \"{}\".events WHERE stream_id = $1 ORDER BY version",
            test.schema
        )))
        .bind(stream)
        .fetch_all(test.pool())
        .await
        .expect("recorded_at columns");
        assert_eq!(
            contexts, columns,
            "{stream}: each context's time is its row's"
        );
    }
    test.cleanup().await;
}

/// A fresh schema (named from `prefix`) at event-store schema version
/// `version` (the first `version` migrations applied, as a process of that
/// version left it), and a pool: the set-up of the upgrade tests.
async fn schema_at_version(url: &str, prefix: &str, version: usize) -> (String, PgPool) {
    let schema = unique_schema(prefix);
    let pool = pool(url, 2).await;
    let identifier = SqlIdentifier::new(&schema).expect("valid");
    migrate(&pool, &identifier, &EVENT_STORE_MIGRATIONS[..version])
        .await
        .expect("the older version's migrations");
    (schema, pool)
}

async fn drop_schema(pool: &sqlx::PgPool, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(pool)
    .await
    .expect("drop schema");
}

/// The unique `(stream_id, version)` constraint is the last word on a race:
/// an append whose expected version was current when it started, but that
/// another append (still uncommitted then) took first, gets a
/// `ConcurrencyError` with the winner's version, never the database error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_race_lost_on_the_unique_constraint_is_a_concurrency_error() {
    let Some(test) = TestStore::new(
        "a_race_lost_on_the_unique_constraint_is_a_concurrency_error",
        3,
    )
    .await
    else {
        return;
    };
    let mut first = test.pool().begin().await.expect("begin");
    test.store
        .save_in_transaction(&mut first, "acc", &[deposit(1)], Some(0))
        .await
        .expect("the first append, uncommitted");
    let second = {
        let store = test.store.clone();
        tokio::spawn(async move { store.save("acc", &[deposit(2)], Some(0)).await })
    };
    // The second append waits on the first's row of version 1.
    let admin = pool(&test.url, 1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted",
        )
        .fetch_one(&admin)
        .await
        .expect("pg_locks");
        if waiting > 0 || second.is_finished() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never blocked");
        tokio::task::yield_now().await;
    }
    first.commit().await.expect("commit");
    let error = second
        .await
        .expect("task")
        .expect_err("the second append lost");
    let StoreError::Concurrency(conflict) = error else {
        panic!("expected a ConcurrencyError, got {error:?}");
    };
    assert_eq!(
        conflict,
        ConcurrencyError {
            aggregate_id: "acc".into(),
            expected: 0,
            actual: 1
        }
    );
    let events = test.store.load("acc", 1).await.expect("load");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].downcast_ref::<Deposited>(),
        Some(&Deposited { amount: 1 })
    );
    test.cleanup().await;
}

/// Connections to a loopback server go without TLS unless an `sslmode` is
/// chosen (sqlx 0.9.0 does not set TCP_NODELAY, so over TLS a request above
/// ~16 KB would stall on the server's delayed acknowledgement; see
/// docs/postgres.md). Checked on the server's side: `pg_stat_ssl`.
#[tokio::test]
async fn loopback_connections_go_without_tls_unless_chosen() {
    let Some(test) = TestStore::new("loopback_connections_go_without_tls_unless_chosen", 1).await
    else {
        return;
    };
    let loopback = ["127.", "localhost", "[::1]"]
        .iter()
        .any(|host| test.url.contains(&format!("@{host}")));
    if !loopback || test.url.contains("sslmode") || std::env::var_os("PGSSLMODE").is_some() {
        eprintln!("skipped: DATABASE_URL is not a loopback URL without sslmode");
        test.cleanup().await;
        return;
    }
    let uses_tls = |pool: PgPool| async move {
        sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("pg_stat_ssl")
    };
    assert!(
        !uses_tls(test.pool().clone()).await,
        "the store's connection"
    );
    // The server does offer TLS, and a chosen mode is kept: without the
    // workaround the store's connection would have used it.
    let server_ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(test.pool())
        .await
        .expect("SHOW ssl");
    if server_ssl == "on" {
        let separator = if test.url.contains('?') { '&' } else { '?' };
        let chosen = pool(&format!("{}{separator}sslmode=prefer", test.url), 1).await;
        assert!(uses_tls(chosen).await, "sslmode=prefer, chosen, uses TLS");
    }
    test.cleanup().await;
}

/// Migration 0002 upgrades a version-1 schema in place: events appended by
/// version 1 (their context as JSON) stay readable, beside new ones.
#[tokio::test]
async fn a_version_1_schema_upgrades_in_place_and_its_events_stay_readable() {
    let Some(url) =
        database_url("a_version_1_schema_upgrades_in_place_and_its_events_stay_readable")
    else {
        return;
    };
    let (schema, pool) = schema_at_version(&url, "upgrade", 1).await;
    // An append as version 1 made it: its server-side function.
    let old = Envelope::new(Deposited { amount: 1 });
    let (applied,): (bool,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT applied FROM \"{schema}\".append_events('acc', 0, ARRAY[$1::uuid], ARRAY['pg-test.Deposited'], \
         ARRAY[2], ARRAY['{{\"amount\":1}}'], ARRAY[$2], ARRAY[$3::uuid], ARRAY[NULL::uuid])"
    )))
    .bind(old.metadata().id)
    .bind(serde_json::to_string(old.metadata()).expect("metadata"))
    .bind(old.metadata().correlation_id)
    .fetch_one(&pool)
    .await
    .expect("version-1 append");
    assert!(applied);

    let store = PostgreSQLEventStore::from_pool_with_schema(pool.clone(), &schema).expect("schema");
    store
        .initialize()
        .await
        .expect("upgrades to the current version");
    store
        .save("acc", &[deposit(2)], Some(1))
        .await
        .expect("a new append after the old one");
    let events = store.load("acc", 1).await.expect("load");
    let amounts: Vec<u64> = events
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>())
        .map(|d| d.amount)
        .collect();
    assert_eq!(amounts, vec![1, 2]);
    assert_eq!(
        events[0].metadata(),
        old.metadata(),
        "the old row's JSON context, exactly"
    );
    let raw = store.read_all_raw(1, 10).await.expect("raw read");
    assert_eq!(raw.len(), 2);
    let metadata: Metadata = serde_json::from_str(&raw[0].metadata).expect("JSON");
    assert_eq!(&metadata, old.metadata());
    drop_schema(&pool, &schema).await;
}

/// Migration 0003 upgrades a version-2 schema in place: a row appended by
/// version 2 (its context in typed columns, no `context`) loads as it did
/// (its time in UTC, to the microsecond, its `recorded_at` the column's),
/// beside a new row, whose context keeps the time exactly (nanoseconds and
/// UTC offset); raw reads give the old row from its typed columns and the
/// new one from its context.
#[tokio::test]
async fn a_version_2_schema_upgrades_in_place_and_its_rows_load_as_before() {
    let Some(url) =
        database_url("a_version_2_schema_upgrades_in_place_and_its_rows_load_as_before")
    else {
        return;
    };
    let (schema, pool) = schema_at_version(&url, "upgrade2", 2).await;
    // A row as version 2 wrote it: typed columns, the CloudEvents type
    // apart from the event type, every optional field set.
    let command = Metadata::new("Deposit");
    let old = Metadata::new("pg-test.Deposited.v0")
        .caused_by(&command)
        .with_subject("acc")
        .with_source("urn:teller");
    let old = Metadata {
        dataschema: Some("https://example.com/deposited".into()),
        ..old
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".events (position, stream_id, version, event_id, event_type, \
         schema_version, payload, message_type, source, occurred_at, subject, datacontenttype, \
         dataschema, correlation_id, causation_id, recorded_at) \
         VALUES (nextval('\"{schema}\".event_positions'), 'acc', 1, $1, 'pg-test.Deposited', 2, \
         '{{\"amount\":1}}'::jsonb, $2, $3, $4, $5, $6, $7, $8, $9, \
         '2001-02-03 04:05:06.789012+00')"
    )))
    .bind(old.id)
    .bind(old.message_type.as_str())
    .bind(old.source.as_str())
    .bind(old.time)
    .bind(old.subject.as_deref())
    .bind(old.datacontenttype.as_deref())
    .bind(old.dataschema.as_deref())
    .bind(old.correlation_id)
    .bind(old.causation_id)
    .execute(&pool)
    .await
    .expect("version-2 row");

    let store = PostgreSQLEventStore::from_pool_with_schema(pool.clone(), &schema).expect("schema");
    store
        .initialize()
        .await
        .expect("upgrades to the current version");
    let exact = Metadata {
        time: time::macros::datetime!(2030-06-07 08:09:10.123_456_789 -07:30),
        ..Metadata::new("pg-test.Deposited")
    };
    let new: AnyEnvelope = Envelope::with_metadata(Deposited { amount: 2 }, exact.clone()).into();
    store
        .save("acc", &[new], Some(1))
        .await
        .expect("a new append after the old one");

    let events = store.load("acc", 1).await.expect("load");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].metadata(), &old, "the old row's typed context");
    assert_eq!(events[0].metadata().time.offset(), time::UtcOffset::UTC);
    assert_eq!(
        events[0].recorded_at,
        time::macros::datetime!(2001-02-03 04:05:06.789_012 UTC)
    );
    let time = events[1].metadata().time;
    assert_eq!(events[1].metadata(), &exact, "the new row's context");
    assert_eq!(
        (time.nanosecond(), time.offset()),
        (123_456_789, time::macros::offset!(-07:30)),
        "kept exactly: nanoseconds and UTC offset"
    );
    // The context's recorded_at is the row's (the transaction's time).
    let recorded: time::OffsetDateTime = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT recorded_at FROM \"{schema}\".events WHERE version = 2"
    )))
    .fetch_one(&pool)
    .await
    .expect("recorded_at");
    assert_eq!(events[1].recorded_at, recorded);
    let page = store.read_all(1, 10).await.expect("global read");
    assert_eq!(page.len(), 2);
    assert_eq!(
        (page[0].metadata(), page[1].metadata()),
        (&old, &exact),
        "the global stream decodes the same"
    );

    // Raw reads: the old row's typed columns, the new row's context (the
    // only copy of its metadata since migration 0004: exact too).
    let raw = store.read_all_raw(1, 10).await.expect("raw read");
    let metadata: Vec<Metadata> = raw
        .iter()
        .map(|event| serde_json::from_str(&event.metadata).expect("JSON"))
        .collect();
    assert_eq!(metadata, [old, exact]);
    drop_schema(&pool, &schema).await;
}

/// Migration 0004 upgrades a version-3 schema in place, rows present, as
/// a catalog change (the table not rewritten, the new check not
/// validated): a row as version 3 wrote it (typed columns and a context)
/// and rows as version 4 writes them (the context only) read side by side
/// in one stream, through a load and the global stream from every row's
/// context (the old row's time exact), through a raw read from the old
/// row's typed columns (its time to the microsecond in UTC) and the new
/// rows' context. The version-3 row keeps its typed columns; the new rows
/// leave them NULL; a row with no metadata in any form (nor an empty
/// context) is refused.
#[tokio::test]
async fn a_version_3_schema_upgrades_in_place_and_its_rows_read_beside_context_only_rows() {
    let Some(url) = database_url(
        "a_version_3_schema_upgrades_in_place_and_its_rows_read_beside_context_only_rows",
    ) else {
        return;
    };
    let (schema, pool) = schema_at_version(&url, "upgrade3", 3).await;
    // A row as version 3 wrote it, by the statement it used: this
    // version's append with the typed columns too
    // (`write_typed_metadata_columns`), on the version-3 schema. Its time
    // is one the typed column cannot hold (nanoseconds, an offset): the
    // context keeps it exactly, `occurred_at` to the microsecond in UTC,
    // so each read shows which of the two it read.
    let command = Metadata::new("Deposit");
    let old = Metadata {
        time: time::macros::datetime!(2001-02-03 04:05:06.789_012_345 +05:45),
        dataschema: Some("https://example.com/deposited".into()),
        ..Metadata::new("pg-test.Deposited")
            .caused_by(&command)
            .with_subject("acc")
            .with_source("urn:teller")
    };
    let old_in_columns = Metadata {
        time: time::macros::datetime!(2001-02-02 22:20:06.789_012 UTC),
        ..old.clone()
    };
    let store = PostgreSQLEventStore::from_pool_with_schema(pool.clone(), &schema).expect("schema");
    store
        .clone()
        .write_typed_metadata_columns(true)
        .save(
            "acc",
            &[Envelope::with_metadata(Deposited { amount: 1 }, old.clone()).into()],
            Some(0),
        )
        .await
        .expect("a version-3 append");
    let filenode = |pool: PgPool| {
        let query = format!("SELECT pg_relation_filenode('\"{schema}\".events')::bigint");
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(query))
                .fetch_one(&pool)
                .await
                .expect("the table's file")
        }
    };
    let before = filenode(pool.clone()).await;

    store
        .initialize()
        .await
        .expect("upgrades to the current version");
    // A catalog change only: the table was not rewritten, and the new
    // check was not validated against the rows already there.
    assert_eq!(
        filenode(pool.clone()).await,
        before,
        "the table not rewritten"
    );
    let validated: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT convalidated FROM pg_constraint WHERE conname = 'events_context_present' \
         AND conrelid = '\"{schema}\".events'::regclass"
    )))
    .fetch_one(&pool)
    .await
    .expect("the check");
    assert!(!validated, "NOT VALID: no scan of the rows");
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT max(version) FROM \"{schema}\".orchestrix_migrations"
    )))
    .fetch_one(&pool)
    .await
    .expect("applied migrations");
    assert_eq!(applied, 4);
    let exact = Metadata {
        time: time::macros::datetime!(2030-06-07 08:09:10.123_456_789 -07:30),
        ..Metadata::new("pg-test.Deposited").caused_by(&old)
    };
    let new: AnyEnvelope = Envelope::with_metadata(Deposited { amount: 2 }, exact.clone()).into();
    let plain = Envelope::new(Deposited { amount: 3 });
    store
        .save("acc", &[new, plain.clone().into()], Some(1))
        .await
        .expect("new appends after the old one");
    let expected = [&old, &exact, plain.metadata()];

    // What each row holds: the old row its typed columns and context, the
    // new rows their context only.
    let columns: Vec<(i64, i64, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, num_nonnulls(event_id, source, occurred_at, subject, dataschema, \
         message_type, correlation_id, causation_id)::bigint, context IS NOT NULL \
         FROM \"{schema}\".events ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .expect("the rows");
    assert_eq!(columns, [(1, 7, true), (2, 0, true), (3, 0, true)]);

    let loaded = store.load("acc", 1).await.expect("load");
    let loaded: Vec<&Metadata> = loaded.iter().map(RecordedEvent::metadata).collect();
    assert_eq!(loaded, expected, "a load reads every row's context");
    let page = store.read_all(1, 10).await.expect("global read");
    let page: Vec<&Metadata> = page.iter().map(RecordedEvent::metadata).collect();
    assert_eq!(page, expected, "so does the global stream");
    let raw = store.read_all_raw(1, 10).await.expect("raw read");
    let raw: Vec<Metadata> = raw
        .iter()
        .map(|event| serde_json::from_str(&event.metadata).expect("JSON"))
        .collect();
    assert_eq!(
        raw.iter().collect::<Vec<_>>(),
        [&old_in_columns, &exact, plain.metadata()],
        "a raw read: the old row's typed columns (its time to the microsecond, in UTC), \
         the new rows' context"
    );

    // Every row still has its metadata in one form or another: an empty
    // context is none.
    for context in ["NULL", "'\\x'::bytea"] {
        let error = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{schema}\".events (position, stream_id, version, event_type, \
             schema_version, payload, context) \
             VALUES (nextval('\"{schema}\".event_positions'), 'bare', 1, 'pg-test.Deposited', 2, \
             '{{}}'::jsonb, {context})"
        )))
        .execute(&pool)
        .await
        .expect_err("a row without metadata");
        let constraint = error
            .as_database_error()
            .and_then(|error| error.constraint().map(str::to_owned));
        assert_eq!(
            constraint.as_deref(),
            Some("events_context_present"),
            "context {context}"
        );
    }
    drop_schema(&pool, &schema).await;
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "pg.Reading")]
struct Reading {
    value: f64,
}

/// An append inside the caller's transaction checks the same limits as
/// `save`, in the pass that serializes the payload: a bad stream id or a
/// payload that would not read back is a typed limit error, and nothing is
/// written.
#[tokio::test]
async fn an_append_in_a_transaction_checks_the_limits() {
    let Some(test) = TestStore::new("an_append_in_a_transaction_checks_the_limits", 2).await else {
        return;
    };
    let mut transaction = test.pool().begin().await.expect("begin");
    let error = test
        .store
        .save_in_transaction(&mut transaction, "acc\u{0}", &[deposit(1)], Some(0))
        .await
        .expect_err("a NUL in the stream id");
    assert!(
        matches!(
            error,
            StoreError::Limit(LimitError::IdControlCharacter { .. })
        ),
        "{error:?}"
    );
    let nan: AnyEnvelope = Envelope::new(Reading { value: f64::NAN }).into();
    let error = test
        .store
        .save_in_transaction(&mut transaction, "acc", &[deposit(1), nan], Some(0))
        .await
        .expect_err("a NaN in the payload");
    assert!(
        matches!(error, StoreError::Limit(LimitError::NonFiniteFloat { .. })),
        "{error:?}"
    );
    transaction.commit().await.expect("commit");
    assert_eq!(test.store.stream_version("acc").await.expect("version"), 0);
    test.cleanup().await;
}

/// Inserts `metadata` as a row of schema version 2 writes it (typed
/// columns, no `context`) at version 1 of `stream`, its `occurred_at` the
/// SQL literal `occurred_at` (`None`: `metadata.time`), its CloudEvents type
/// in `message_type` only when it is not the event type.
async fn insert_typed_row(
    test: &TestStore,
    stream: &str,
    metadata: &Metadata,
    occurred_at: Option<&str>,
) {
    let message_type =
        (metadata.message_type != "pg-test.Deposited").then(|| metadata.message_type.as_str());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{0}\".events (position, stream_id, version, event_id, event_type, \
         schema_version, payload, message_type, source, occurred_at, subject, datacontenttype, \
         dataschema, correlation_id, causation_id) \
         VALUES (nextval('\"{0}\".event_positions'), $1, 1, $2, 'pg-test.Deposited', 2, \
         '{{\"amount\":1}}'::jsonb, $3, $4, coalesce($5::text::timestamptz, $6), $7, $8, $9, \
         $10, $11)",
        test.schema
    )))
    .bind(stream)
    .bind(metadata.id)
    .bind(message_type)
    .bind(metadata.source.as_str())
    .bind(occurred_at)
    .bind(occurred_at.is_none().then_some(metadata.time))
    .bind(metadata.subject.as_deref())
    .bind(metadata.datacontenttype.as_deref())
    .bind(metadata.dataschema.as_deref())
    .bind(metadata.correlation_id)
    .bind(metadata.causation_id)
    .execute(test.pool())
    .await
    .expect("a version-2 row");
}

/// Rows of schema version 2 (no context) load their typed columns
/// exactly, whatever the session's time zone: the context is built from
/// them in SQL with integer arithmetic, never through the session's
/// rendering of a time. Every optional field NULL, texts JSON would escape,
/// a local year 0 (a UTC year before 1), a time whose Paris offset had
/// seconds (LMT, 1850), a local 9999-12-31 west of UTC (UTC year 10000):
/// a store whose sessions `SET TIME ZONE 'Europe/Paris'` loads each as a
/// UTC session does, with the UTC offset (or, past year 9999 in UTC, the
/// same instant at -25:59, its local year 9999).
#[tokio::test]
async fn version_2_rows_load_exactly_in_any_session_time_zone() {
    let Some(test) =
        TestStore::new("version_2_rows_load_exactly_in_any_session_time_zone", 2).await
    else {
        return;
    };
    use time::macros::{datetime, offset};
    let plain = Metadata {
        subject: None,
        datacontenttype: None,
        dataschema: None,
        causation_id: None,
        time: datetime!(2001-02-03 04:05:06.789_012 UTC),
        ..Metadata::new("pg-test.Deposited").with_source("urn:plain")
    };
    let command = Metadata::new("Deposit");
    let escaped = Metadata {
        dataschema: Some("https://example.com/ü?a=\"b\"&c=\\d".into()),
        datacontenttype: Some("text/plain; charset=\"utf-8\"".into()),
        time: datetime!(1999-12-31 23:59:59.999_999 UTC),
        ..Metadata::new("type \"quoted\" \\ ✓ {}")
            .caused_by(&command)
            .with_subject("subject\n\t\"ü\" 😀 </script>")
            .with_source("urn:\"quoted\"\\back\u{7f}")
    };
    let year_0 = Metadata {
        time: datetime!(0000-01-01 00:00:00 +01:00),
        ..Metadata::new("pg-test.Deposited")
    };
    let lmt = Metadata {
        time: datetime!(1850-06-01 12:00:00.123_456 UTC),
        ..Metadata::new("pg-test.Deposited")
    };
    let year_10000 = Metadata {
        time: datetime!(9999-12-31 23:30:00 -01:00),
        ..Metadata::new("pg-test.Deposited")
    };
    let rows = [
        ("plain", &plain, None),
        ("escaped", &escaped, None),
        ("year-0", &year_0, None),
        ("lmt", &lmt, None),
        // timestamptz holds it, but not `OffsetDateTime` in UTC.
        ("year-10000", &year_10000, Some("10000-01-01 00:30:00+00")),
    ];
    for (stream, metadata, occurred_at) in rows {
        insert_typed_row(&test, stream, metadata, occurred_at).await;
    }
    let paris_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|connection, _| {
            Box::pin(async move {
                sqlx::raw_sql("SET TIME ZONE 'Europe/Paris'")
                    .execute(connection)
                    .await
                    .map(|_| ())
            })
        })
        .connect(&test.url)
        .await
        .expect("a pool in Paris time");
    let paris = PostgreSQLEventStore::from_pool_with_schema(paris_pool.clone(), &test.schema)
        .expect("schema");
    let zone: String = sqlx::query_scalar("SHOW TIME ZONE")
        .fetch_one(&paris_pool)
        .await
        .expect("time zone");
    assert_eq!(zone, "Europe/Paris");
    for (stream, metadata, _) in rows {
        let utc = test
            .store
            .load(stream, 1)
            .await
            .expect("a UTC session loads");
        let local = paris.load(stream, 1).await.expect("a Paris session loads");
        assert_eq!(utc[0].metadata(), metadata, "{stream}");
        assert_eq!(local[0].metadata(), metadata, "{stream}");
        let (utc, local) = (utc[0].metadata().time, local[0].metadata().time);
        let expected_offset = if stream == "year-10000" {
            offset!(-25:59)
        } else {
            offset!(UTC)
        };
        assert_eq!(utc.offset(), expected_offset, "{stream}");
        assert_eq!(
            (local.date(), local.time(), local.offset()),
            (utc.date(), utc.time(), utc.offset()),
            "{stream}"
        );
        assert_eq!(local, metadata.time, "{stream}");
    }
    // The texts were stored in the typed columns, and read back from them.
    let loaded = paris.load("escaped", 1).await.expect("load");
    assert_eq!(loaded[0].metadata().message_type, escaped.message_type);
    assert_eq!(loaded[0].metadata().subject, escaped.subject);
    // The global stream decodes the same, in both sessions.
    let all = paris.read_all(1, 10).await.expect("global read");
    let expected: Vec<&Metadata> = rows.iter().map(|(_, metadata, _)| *metadata).collect();
    let got: Vec<&Metadata> = all.iter().map(RecordedEvent::metadata).collect();
    assert_eq!(got, expected);
    paris_pool.close().await;
    test.cleanup().await;
}

/// Consecutive rows with one non-default source share one allocation of
/// it, for loads (from the context, and from a version-2 row's typed
/// columns) as for raw reads.
#[tokio::test]
async fn consecutive_rows_share_their_source() {
    let Some(test) = TestStore::new("consecutive_rows_share_their_source", 2).await else {
        return;
    };
    let old = Metadata::new("pg-test.Deposited").with_source("urn:teller");
    insert_typed_row(&test, "acc", &old, None).await;
    let events: Vec<AnyEnvelope> = (2..4)
        .map(|amount| {
            Envelope::new(Deposited { amount })
                .map_metadata(|m| m.with_source("urn:teller"))
                .into()
        })
        .collect();
    test.store
        .save("acc", &events, Some(1))
        .await
        .expect("save");
    let loaded = test.store.load("acc", 1).await.expect("load");
    let sources: Vec<&str> = loaded
        .iter()
        .map(|event| event.metadata().source.as_str())
        .collect();
    assert_eq!(sources, ["urn:teller"; 3]);
    assert!(std::ptr::eq(sources[0], sources[1]), "old row and new row");
    assert!(std::ptr::eq(sources[1], sources[2]), "two new rows");
    let page = test.store.read_all(1, 10).await.expect("global read");
    assert!(std::ptr::eq(
        page[0].metadata().source.as_str(),
        page[2].metadata().source.as_str()
    ));
    test.cleanup().await;
}

/// `backfill_contexts` fills the context of version-2 rows in batches of
/// positions while appends go on: the rows load exactly as before, a
/// re-run fills nothing, and a row whose typed columns make no context is
/// left alone (it still fails alone, named).
#[tokio::test]
async fn backfill_contexts_fills_version_2_rows_in_batches_and_reruns_safely() {
    let Some(test) = TestStore::new(
        "backfill_contexts_fills_version_2_rows_in_batches_and_reruns_safely",
        4,
    )
    .await
    else {
        return;
    };
    use time::macros::datetime;
    let mut old = Vec::new();
    for (n, time) in [
        datetime!(2001-02-03 04:05:06.789_012 UTC),
        datetime!(0000-01-01 00:00:00 +01:00),
        datetime!(1850-06-01 12:00:00.123_456 UTC),
    ]
    .into_iter()
    .enumerate()
    {
        let metadata = Metadata {
            time,
            ..Metadata::new("pg-test.Deposited").with_source("urn:\"teller\" ü")
        };
        insert_typed_row(&test, &format!("old-{n}"), &metadata, None).await;
        old.push(metadata);
    }
    let broken = Metadata::new("pg-test.Deposited");
    insert_typed_row(&test, "broken", &broken, Some("infinity")).await;
    let before: Vec<Vec<RecordedEvent>> = {
        let mut loads = Vec::new();
        for n in 0..old.len() {
            loads.push(test.store.load(&format!("old-{n}"), 1).await.expect("load"));
        }
        loads
    };
    let appends = {
        let store = test.store.clone();
        tokio::spawn(async move {
            for amount in 0..20 {
                store
                    .save("new", &[deposit(amount)], Some(amount))
                    .await
                    .expect("an append during the backfill");
            }
        })
    };
    let filled = test.store.backfill_contexts(2).await.expect("backfill");
    appends.await.expect("appends");
    assert_eq!(filled, 3, "the three buildable version-2 rows");
    let without: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\".events WHERE context IS NULL",
        test.schema
    )))
    .fetch_one(test.pool())
    .await
    .expect("count");
    assert_eq!(without, 1, "only the broken row");
    for (n, metadata) in old.iter().enumerate() {
        let loaded = test.store.load(&format!("old-{n}"), 1).await.expect("load");
        assert_eq!(loaded[0].metadata(), metadata);
        let (was, is) = (before[n][0].metadata().time, loaded[0].metadata().time);
        assert_eq!(
            (was.date(), was.time(), was.offset()),
            (is.date(), is.time(), is.offset())
        );
        assert_eq!(loaded[0].recorded_at, before[n][0].recorded_at);
    }
    assert_eq!(test.store.load("new", 1).await.expect("load").len(), 20);
    let error = test.store.load("broken", 1).await.expect_err("no context");
    assert!(
        matches!(
            &error,
            StoreError::Decode {
                source: DecodeError::Context {
                    column: "occurred_at",
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(test.store.backfill_contexts(1).await.expect("re-run"), 0);
    test.cleanup().await;
}

/// A load puts the events in version order itself (its statement has no
/// `ORDER BY`). Here rows 2 and 4 of a stream were written again after the
/// others (deleted and inserted back, as a restore or a rewrite by hand
/// might), so the table holds them last. The store's one connection is
/// kept off the index's own order, reading through a bitmap of the index
/// (what the planner picks for a long stream) or the whole table: either
/// reads rows 2 and 4 last, and every load still hands out versions in
/// order.
#[tokio::test]
async fn a_stream_whose_rows_were_rewritten_loads_in_version_order() {
    let Some(test) = TestStore::new(
        "a_stream_whose_rows_were_rewritten_loads_in_version_order",
        1,
    )
    .await
    else {
        return;
    };
    for version in 0..6 {
        test.store
            .save("rewritten", &[deposit(version)], Some(version))
            .await
            .expect("append");
    }
    let table = format!("\"{}\".events", test.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "WITH moved AS (DELETE FROM {table} WHERE version IN (2, 4) RETURNING *) \
         INSERT INTO {table} SELECT * FROM moved ORDER BY version;"
    )))
    .execute(test.pool())
    .await
    .expect("rewrite");
    let amounts = |events: &[RecordedEvent]| -> Vec<(u64, u64)> {
        events
            .iter()
            .map(|event| {
                let amount = event.downcast_ref::<Deposited>().expect("deposit").amount;
                (event.version, amount)
            })
            .collect()
    };
    for plan in [
        "SET enable_indexscan = off",
        "SET enable_indexscan = off; SET enable_bitmapscan = off",
    ] {
        // The pool's one connection, which the loads below use too.
        sqlx::raw_sql(sqlx::AssertSqlSafe(plan))
            .execute(test.pool())
            .await
            .expect("plan settings");
        // The precondition: the rows come in the table's order.
        let stored: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM {table} WHERE stream_id = $1 AND version >= $2"
        )))
        .bind("rewritten")
        .bind(1_i64)
        .fetch_all(test.pool())
        .await
        .expect("table order");
        assert_eq!(stored, [1, 3, 5, 6, 2, 4], "{plan}");
        let all = test.store.load("rewritten", 1).await.expect("load");
        assert_eq!(
            amounts(&all),
            [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)],
            "{plan}"
        );
        let from_three = test.store.load("rewritten", 3).await.expect("load");
        assert_eq!(
            amounts(&from_three),
            [(3, 2), (4, 3), (5, 4), (6, 5)],
            "{plan}"
        );
        let range = test
            .store
            .load_range("rewritten", 2, 5)
            .await
            .expect("load range");
        assert_eq!(amounts(&range), [(2, 1), (3, 2), (4, 3), (5, 4)], "{plan}");
        // A replay (what the aggregate repository loads through) too.
        for (from, to, expected) in [
            (
                1,
                u64::MAX,
                &[(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)][..],
            ),
            (2, 5, &[(2, 1), (3, 2), (4, 3), (5, 4)][..]),
        ] {
            let mut replayed = Vec::new();
            test.store
                .replay("rewritten", from, to, &mut |event| {
                    let amount = event.downcast_ref::<Deposited>().expect("deposit").amount;
                    replayed.push((event.version, amount));
                    std::ops::ControlFlow::Continue(())
                })
                .await
                .expect("replay");
            assert_eq!(replayed, expected, "{plan}: replay({from}, {to})");
        }
        let repository = AggregateRepository::new(test.store.clone());
        let balance = repository
            .load_async::<Balance>("rewritten")
            .await
            .expect("repository load");
        assert_eq!(
            (balance.version(), balance.steps.clone()),
            (6, vec![0, 1, 2, 3, 4, 5]),
            "{plan}"
        );
    }
    test.cleanup().await;
}

/// The deposits of a stream in the order they were applied.
#[derive(Default, Debug)]
struct Balance {
    steps: Vec<u64>,
}

#[aggregate]
impl Balance {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.steps.push(event.amount);
    }
}

/// A replay reads neither the context nor the time the store accepted an
/// event: an aggregate whose stored context is damaged still loads through
/// the repository (a replay), while `load`, which hands out the metadata,
/// fails naming the row; a payload that does not decode fails both, the
/// repository with the store's error naming the stream, version, position
/// and type.
#[tokio::test]
async fn a_replay_decodes_payloads_only() {
    let Some(test) = TestStore::new("a_replay_decodes_payloads_only", 1).await else {
        return;
    };
    let appended = test
        .store
        .save("replayed", &[deposit(5), deposit(7)], Some(0))
        .await
        .expect("append");
    let table = format!("\"{}\".events", test.schema);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET context = '\\x09'::bytea WHERE position = $1"
    )))
    .bind(i64::try_from(appended.positions[0]).expect("small"))
    .execute(test.pool())
    .await
    .expect("damage the context");
    test.store
        .load("replayed", 1)
        .await
        .expect_err("load decodes the context");
    let repository = AggregateRepository::new(test.store.clone());
    let balance = repository
        .load_async::<Balance>("replayed")
        .await
        .expect("a replay skips the context");
    assert_eq!((balance.version(), balance.steps.clone()), (2, vec![5, 7]));

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET payload = '{{\"amount\": \"lots\"}}'::jsonb WHERE position = $1"
    )))
    .bind(i64::try_from(appended.positions[1]).expect("small"))
    .execute(test.pool())
    .await
    .expect("damage the payload");
    let error = repository
        .load_async::<Balance>("replayed")
        .await
        .expect_err("the payload does not decode");
    let RepositoryError::Store(StoreError::Decode {
        stream_id,
        version,
        position,
        event_type,
        source: DecodeError::Malformed { .. },
    }) = &error
    else {
        panic!("expected a decode error, got {error:?}");
    };
    assert_eq!(
        (stream_id.as_str(), *version, *position, event_type.as_str()),
        (
            "replayed",
            2,
            Some(appended.positions[1]),
            "pg-test.Deposited"
        )
    );
    test.cleanup().await;
}

/// A backend failure during a repository load reads as a load's
/// (`load` / `load_range`), not as a replay's: the wording users saw
/// before loads replayed.
#[tokio::test]
async fn a_failing_replay_names_the_load() {
    let Some(test) = TestStore::new("a_failing_replay_names_the_load", 1).await else {
        return;
    };
    test.store
        .save("gone", &[deposit(5), deposit(7)], Some(0))
        .await
        .expect("append");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE \"{}\".events RENAME TO events_away",
        test.schema
    )))
    .execute(test.pool())
    .await
    .expect("hide the table");
    let repository = AggregateRepository::new(test.store.clone());

    let error = repository
        .load_async::<Balance>("gone")
        .await
        .expect_err("no table")
        .to_string();
    assert!(
        error.contains("load stream `gone` from version 1"),
        "{error}"
    );
    let error = repository
        .load_at_async::<Balance>("gone", 1)
        .await
        .expect_err("no table")
        .to_string();
    assert!(
        error.contains("load stream `gone` versions 1..=1"),
        "{error}"
    );
}

/// The check that every row holds its metadata (`events_context_present`)
/// accepts a row in each of the three forms and refuses a row in none: the
/// JSON `metadata`, a non-empty context, or the typed columns a context is
/// built from (all four of them). What a cheaper form of the check (priced
/// in docs/performance.md) must keep.
#[tokio::test]
async fn the_metadata_check_accepts_each_form_and_refuses_a_row_without_one() {
    let Some(test) = TestStore::new(
        "the_metadata_check_accepts_each_form_and_refuses_a_row_without_one",
        2,
    )
    .await
    else {
        return;
    };
    let typed = "gen_random_uuid(), gen_random_uuid(), 'src', now()";
    let cases = [
        ("'{}'::jsonb", "NULL", "NULL, NULL, NULL, NULL", true),
        ("NULL", "'\\x01'::bytea", "NULL, NULL, NULL, NULL", true),
        ("NULL", "NULL", typed, true),
        ("NULL", "'\\x'::bytea", typed, true),
        ("NULL", "NULL", "NULL, NULL, NULL, NULL", false),
        ("NULL", "'\\x'::bytea", "NULL, NULL, NULL, NULL", false),
        (
            "NULL",
            "NULL",
            "gen_random_uuid(), NULL, 'src', now()",
            false,
        ),
        (
            "NULL",
            "NULL",
            "NULL, gen_random_uuid(), 'src', now()",
            false,
        ),
        (
            "NULL",
            "NULL",
            "gen_random_uuid(), gen_random_uuid(), NULL, now()",
            false,
        ),
        (
            "NULL",
            "NULL",
            "gen_random_uuid(), gen_random_uuid(), 'src', NULL",
            false,
        ),
    ];
    for (version, (metadata, context, typed, accepted)) in (1_i64..).zip(cases) {
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{schema}\".events (position, stream_id, version, event_type, \
             schema_version, payload, metadata, context, event_id, correlation_id, source, \
             occurred_at) \
             VALUES (nextval('\"{schema}\".event_positions'), 'forms', $1, 'pg-test.Deposited', \
             2, '{{}}'::jsonb, {metadata}, {context}, {typed})",
            schema = test.schema
        )))
        .bind(version)
        .execute(test.pool())
        .await;
        let case = format!("metadata {metadata}, context {context}, typed {typed}");
        if accepted {
            inserted.unwrap_or_else(|error| panic!("{case}: refused: {error}"));
        } else {
            let error = inserted.expect_err(&case);
            let constraint = error
                .as_database_error()
                .and_then(|error| error.constraint().map(str::to_owned));
            assert_eq!(
                constraint.as_deref(),
                Some("events_context_present"),
                "{case}"
            );
        }
    }
    test.cleanup().await;
}
