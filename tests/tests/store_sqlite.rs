//! The SQLite event store on files: concurrent writers, a reader that never
//! skips, migrating an older file, and typed errors for missing, corrupt,
//! read-only and locked files.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::sqlite::{SqliteError, SqliteOptions, WriteQueueTimeout, connect_pool, migrate};
use orchestrix::store::sqlite::{EVENT_STORE_MIGRATIONS, SqliteEventStore};
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::sqlite::TempDb;
use tokio::sync::Barrier;

const TASKS: u32 = 8;
const APPENDS_PER_TASK: u32 = 25;

fn sqlite_error(error: &StoreError) -> &SqliteError {
    SqliteError::find(error).unwrap_or_else(|| panic!("no SqliteError behind `{error}`"))
}

/// Every event of the global stream, checking on the way that positions
/// run 1, 2, 3, ... without a gap.
async fn read_everything(store: &SqliteEventStore) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let page = store
            .read_all(events.len() as u64 + 1, 100)
            .await
            .expect("read_all");
        if page.is_empty() {
            return events;
        }
        events.extend(page);
        let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
        assert_eq!(positions, (1..=events.len() as u64).collect::<Vec<_>>());
    }
}

/// Eight tasks, each with its own pool (so each contends for the file's
/// write lock like a separate process), append to one shared stream (with
/// expected versions, retrying on conflict) and to their own streams, all
/// at once, while a reader follows the global stream. Nothing is lost or
/// duplicated, versions and positions have no gaps, and the reader never
/// sees a position before every smaller one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_append_to_one_file_nothing_lost_or_duplicated() {
    let file = TempDb::new("eight-tasks");
    let url = file.url("");
    SqliteEventStore::connect(&url).await.expect("creates");
    // The writers, the reader and this task.
    let barrier = Arc::new(Barrier::new(TASKS as usize + 2));
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (url, barrier, done) = (url.clone(), Arc::clone(&barrier), Arc::clone(&done));
        tokio::spawn(async move {
            let store = SqliteEventStore::connect(&url).await.expect("opens");
            barrier.wait().await;
            let mut next = 1;
            let mut pages = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store.read_all(next, 50).await.expect("read_all");
                for event in &page {
                    assert_eq!(event.position, next, "the reader skipped a position");
                    next += 1;
                }
                pages += usize::from(!page.is_empty());
                if finished && page.is_empty() {
                    return (next - 1, pages);
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let writers: Vec<_> = (0..TASKS)
        .map(|writer| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let store = SqliteEventStore::connect(&url).await.expect("opens");
                barrier.wait().await;
                let mut conflicts = 0;
                for seq in 0..APPENDS_PER_TASK {
                    store
                        .save(
                            &format!("own-{writer}"),
                            &[ConformanceEvent::envelope(writer, seq)],
                            Some(u64::from(seq)),
                        )
                        .await
                        .expect("own stream append");
                    loop {
                        let version = store.stream_version("shared").await.expect("version");
                        match store
                            .save(
                                "shared",
                                &[ConformanceEvent::envelope(writer, seq)],
                                Some(version),
                            )
                            .await
                        {
                            Ok(_) => break,
                            Err(StoreError::Concurrency(_)) => conflicts += 1,
                            Err(other) => panic!("append failed: {other}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    barrier.wait().await;
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let (last_seen, pages) = reader.await.expect("reader");

    let total = u64::from(2 * TASKS * APPENDS_PER_TASK);
    assert_eq!(last_seen, total, "the reader saw every event");
    assert!(
        pages > 1,
        "the reader followed the writers, not one final read"
    );
    println!("{conflicts} conflicts retried");

    let store = SqliteEventStore::connect(&url).await.expect("opens");
    let everything = read_everything(&store).await;
    assert_eq!(everything.len() as u64, total);
    let shared = store.load("shared", 1).await.expect("load");
    assert_eq!(
        shared.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=u64::from(TASKS * APPENDS_PER_TASK)).collect::<Vec<_>>()
    );
    let distinct: BTreeSet<(u32, u32)> = shared
        .iter()
        .map(|e| {
            let event = e
                .downcast_ref::<ConformanceEvent>()
                .expect("conformance event");
            (event.writer, event.seq)
        })
        .collect();
    assert_eq!(distinct.len(), shared.len(), "no event twice");
    assert_eq!(
        version_and_position(&shared),
        version_and_position(
            &everything
                .iter()
                .filter(|e| &*e.stream_id == "shared")
                .cloned()
                .collect::<Vec<_>>()
        ),
        "a load gives each event the position the global stream gives it"
    );
    for writer in 0..TASKS {
        let own = store.load(&format!("own-{writer}"), 1).await.expect("load");
        assert_eq!(own.len() as u32, APPENDS_PER_TASK);
    }
}

/// (version, position) of each event.
fn version_and_position(events: &[RecordedEvent]) -> Vec<(u64, u64)> {
    events.iter().map(|e| (e.version, e.position)).collect()
}

/// A row as a program that predates the context column writes it (the
/// version-1 columns only); returns its metadata and `recorded_at`.
async fn insert_old_row(
    pool: &orchestrix::sqlite::SqlitePool,
    stream: &str,
    version: i64,
    seq: u32,
) -> (Metadata, i64) {
    let envelope = ConformanceEvent::envelope(1, seq);
    let mut metadata = envelope.metadata().clone();
    metadata.subject = Some(stream.into());
    metadata.causation_id = Some(uuid::Uuid::new_v4());
    // Microseconds, the precision every store keeps for `recorded_at`.
    let recorded_at: i64 = 1_700_000_000_123_456_000 + i64::from(seq) * 1_000;
    sqlx::query(
        "INSERT INTO events (position, stream_id, version, event_id, event_type, schema_version, \
         payload, metadata, correlation_id, causation_id, recorded_at) \
         VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), ?1, ?2, ?3, ?4, 1, ?5, ?6, \
         ?7, ?8, ?9)",
    )
    .bind(stream)
    .bind(version)
    .bind(metadata.id)
    .bind(envelope.message_name())
    .bind(serde_json::to_string(&ConformanceEvent { writer: 1, seq }).expect("payload"))
    .bind(serde_json::to_string(&metadata).expect("metadata"))
    .bind(metadata.correlation_id)
    .bind(metadata.causation_id)
    .bind(recorded_at)
    .execute(pool)
    .await
    .expect("an old program's insert");
    (metadata, recorded_at)
}

/// A file written by a program that had only the first migration is
/// brought up to date on open, keeping its events: rows without the
/// context column (migration 3) load with their metadata and time, beside
/// rows this version writes, and so does a row an older program writes
/// into the migrated file; raw reads still give the stored metadata text.
#[tokio::test]
async fn a_file_from_an_older_migration_is_migrated_on_open() {
    let file = TempDb::new("old-file");
    let options = SqliteOptions::new(file.url("")).expect("valid");
    let pool = connect_pool(&options).await.expect("creates");
    migrate(&pool, file.path(), &EVENT_STORE_MIGRATIONS[..1])
        .await
        .expect("version 1 only");
    let (first, first_at) = insert_old_row(&pool, "acc-1", 1, 1).await;
    let versions = |pool| async move {
        sqlx::query_scalar::<_, i64>("SELECT version FROM orchestrix_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .expect("bookkeeping")
    };
    assert_eq!(versions(pool.clone()).await, [1]);
    pool.close().await;

    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("opens");
    assert_eq!(versions(store.pool().clone()).await, [1, 2, 3, 4]);
    let index: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'events_event_type_position'",
    )
    .fetch_one(store.pool())
    .await
    .expect("schema");
    assert_eq!(index, 1, "migration 2 created its index");
    // An older program still writing to the migrated file, then this one.
    let (second, second_at) = insert_old_row(store.pool(), "acc-1", 2, 2).await;
    let third = ConformanceEvent::envelope(1, 3);
    store
        .save("acc-1", std::slice::from_ref(&third), Some(2))
        .await
        .expect("append on version 3");
    let forms: Vec<(bool, bool)> = sqlx::query_as(
        "SELECT context IS NOT NULL, load_record IS NOT NULL FROM events ORDER BY position",
    )
    .fetch_all(store.pool())
    .await
    .expect("contexts and records");
    assert_eq!(
        forms,
        [(false, false), (false, false), (false, true)],
        "old rows are not rewritten; new ones carry their load record (and their context in it)"
    );

    let events = store.load("acc-1", 1).await.expect("load");
    assert_eq!(
        events
            .iter()
            .map(|e| e.downcast_ref::<ConformanceEvent>().map(|e| e.seq))
            .collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    assert_eq!(events[0].metadata(), &first);
    assert_eq!(events[1].metadata(), &second);
    assert_eq!(events[2].metadata(), third.metadata());
    let nanos = |at: time::OffsetDateTime| i64::try_from(at.unix_timestamp_nanos()).expect("fits");
    assert_eq!(nanos(events[0].recorded_at), first_at);
    assert_eq!(nanos(events[1].recorded_at), second_at);
    // The global stream decodes the same rows the same way.
    let global = store.read_all(1, 10).await.expect("read_all");
    assert_eq!(
        global
            .iter()
            .map(|e| e.metadata().clone())
            .collect::<Vec<_>>(),
        events
            .iter()
            .map(|e| e.metadata().clone())
            .collect::<Vec<_>>()
    );
    // Raw reads give the metadata text as stored, old rows and new.
    let raw = store.read_all_raw(1, 10).await.expect("raw");
    assert_eq!(
        raw[0].metadata,
        serde_json::to_string(&first).expect("json")
    );
    assert_eq!(
        serde_json::from_str::<Metadata>(&raw[2].metadata).expect("metadata"),
        *third.metadata()
    );
    assert_eq!(raw[2].recorded_at, events[2].recorded_at);
}

/// Loaded events as (version, position, seq, metadata).
fn loaded(
    events: Result<Vec<RecordedEvent>, StoreError>,
) -> Vec<(u64, u64, Option<u32>, Metadata)> {
    events
        .expect("loads")
        .iter()
        .map(|e| {
            (
                e.version,
                e.position,
                e.downcast_ref::<ConformanceEvent>().map(|e| e.seq),
                e.metadata().clone(),
            )
        })
        .collect()
}

/// A file at migration 3 (rows with a context column, and older rows
/// without one) is migrated on open; a stream whose rows mix every form
/// (no context, a context, a load record: a row from before migration 4 in
/// the middle of rows with records, at its start and at its end) loads the
/// same as the events saved, in full, from any version and as a range, and
/// the global stream reads them the same.
#[tokio::test]
async fn a_file_from_migration_3_loads_rows_of_every_form() {
    let file = TempDb::new("v3-file");
    let options = SqliteOptions::new(file.url("")).expect("valid");
    let pool = connect_pool(&options).await.expect("creates");
    migrate(&pool, file.path(), &EVENT_STORE_MIGRATIONS[..3])
        .await
        .expect("versions 1 to 3");
    let (first, _) = insert_old_row(&pool, "acc-1", 1, 1).await;
    pool.close().await;

    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("opens");
    let mut saved = vec![(1, 1, Some(1), first)];
    for seq in 2..=6 {
        let event = ConformanceEvent::envelope(1, seq);
        store
            .save(
                "acc-1",
                std::slice::from_ref(&event),
                Some(u64::from(seq) - 1),
            )
            .await
            .expect("append");
        saved.push((
            u64::from(seq),
            u64::from(seq),
            Some(seq),
            event.metadata().clone(),
        ));
    }
    // Rows 2 and 5 as migration 3's code wrote them: their context in the
    // context column, no record (an update of a column makes the
    // trigger of migration 4 turn a row back into that form).
    sqlx::query("UPDATE events SET schema_version = schema_version WHERE position IN (2, 5)")
        .execute(store.pool())
        .await
        .expect("update");
    let forms: Vec<(bool, bool)> = sqlx::query_as(
        "SELECT context IS NOT NULL, load_record IS NOT NULL FROM events ORDER BY position",
    )
    .fetch_all(store.pool())
    .await
    .expect("forms");
    assert_eq!(
        forms,
        [
            (false, false),
            (true, false),
            (false, true),
            (false, true),
            (true, false),
            (false, true)
        ]
    );
    assert_eq!(loaded(store.load("acc-1", 0).await), saved);
    for from in 1..=6 {
        assert_eq!(
            loaded(store.load("acc-1", from).await),
            saved[usize::try_from(from).expect("small") - 1..],
            "from version {from}"
        );
        for to in from..=7 {
            let end = usize::try_from(to.min(6)).expect("small");
            assert_eq!(
                loaded(store.load_range("acc-1", from, to).await),
                saved[usize::try_from(from).expect("small") - 1..end],
                "versions {from}..={to}"
            );
        }
    }
    let global: Vec<_> = store
        .read_all(1, 10)
        .await
        .expect("read_all")
        .iter()
        .map(|e| e.metadata().clone())
        .collect();
    assert_eq!(
        global,
        saved.iter().map(|row| row.3.clone()).collect::<Vec<_>>()
    );
}

/// A stream load reads each row's payload and load record alone, for rows
/// written by every kind of append (one event with and without an expected
/// version, each a statement that ends the record in SQL, and batches of
/// more than one `INSERT`): with the trigger that keeps records in step
/// with their columns dropped, columns a load by record does not read are
/// contradicted (a schema version that is not a number, another type), and
/// the stream still loads, every version and position as appended; a read
/// of the global stream, which reads those columns, fails.
#[tokio::test]
async fn a_stream_loads_from_its_load_records_alone() {
    let file = TempDb::new("records");
    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    let mut seq = 0;
    let mut next = |count: u32| -> Vec<AnyEnvelope> {
        (0..count)
            .map(|_| {
                seq += 1;
                ConformanceEvent::envelope(1, seq)
            })
            .collect()
    };
    store
        .save("acc-1", &next(1), Some(0))
        .await
        .expect("expected");
    store.save("other", &next(1), None).await.expect("other");
    store
        .save("acc-1", &next(1), None)
        .await
        .expect("any version");
    store
        .save("acc-1", &next(70), Some(2))
        .await
        .expect("a batch");
    store.save("other", &next(2), None).await.expect("other");
    store
        .save("acc-1", &next(1), Some(72))
        .await
        .expect("expected");
    let expected: Vec<(u64, u64)> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT version, position FROM events WHERE stream_id = 'acc-1' ORDER BY version",
    )
    .fetch_all(store.pool())
    .await
    .expect("columns")
    .into_iter()
    .map(|(version, position)| (version as u64, position as u64))
    .collect();
    assert_eq!(expected.len(), 73);
    assert_eq!(expected[1], (2, 3), "another stream's append in between");

    sqlx::query("DROP TRIGGER events_load_record_follows_columns")
        .execute(store.pool())
        .await
        .expect("drop the trigger");
    sqlx::query("UPDATE events SET schema_version = 'one', event_type = 'not.Registered'")
        .execute(store.pool())
        .await
        .expect("contradict the columns");
    let events = store
        .load("acc-1", 1)
        .await
        .expect("loads from its records");
    assert_eq!(
        events
            .iter()
            .map(|e| (e.version, e.position))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        events
            .iter()
            .map(|e| e.downcast_ref::<ConformanceEvent>().map(|e| e.seq))
            .collect::<Vec<_>>(),
        [1, 3]
            .into_iter()
            .chain(4..=73)
            .chain([76])
            .map(Some)
            .collect::<Vec<_>>()
    );
    let range = store.load_range("acc-1", 2, 40).await.expect("a range");
    assert_eq!(range.len(), 39);
    store
        .read_all(1, 10)
        .await
        .expect_err("the global stream reads the contradicted columns");
}

/// An update by hand of what a load record repeats of a row's context (its
/// metadata JSON, or its context column) makes the row's columns the truth
/// again: a load, a range and a read of the global stream return what the
/// columns now say, as a raw read does, and the row keeps no record.
#[tokio::test]
async fn an_update_of_a_rows_metadata_or_context_makes_the_columns_the_truth() {
    let file = TempDb::new("records-follow-context");
    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    let events: Vec<_> = (1..=3)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store.save("acc-1", &events, Some(0)).await.expect("save");
    sqlx::query(
        "UPDATE events SET metadata = json_set(metadata, '$.subject', 'fixed') \
         WHERE position = 2",
    )
    .execute(store.pool())
    .await
    .expect("fix the metadata");
    // Row 1 in the older form (its compact context in the context
    // column), then that context given to row 3.
    sqlx::query("UPDATE events SET version = version WHERE position = 1")
        .execute(store.pool())
        .await
        .expect("the older form");
    sqlx::query(
        "UPDATE events SET context = (SELECT context FROM events WHERE position = 1) \
         WHERE position = 3",
    )
    .execute(store.pool())
    .await
    .expect("replace the context");
    let kinds: Vec<(bool, bool)> = sqlx::query_as(
        "SELECT load_record IS NOT NULL, context IS NOT NULL FROM events ORDER BY position",
    )
    .fetch_all(store.pool())
    .await
    .expect("rows");
    assert_eq!(kinds, [(false, true), (false, false), (false, true)]);
    let subjects_and_ids = |events: &[RecordedEvent]| {
        events
            .iter()
            .map(|e| (e.metadata().subject.clone(), e.metadata().id))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (None, events[0].metadata().id),
        (Some("fixed".into()), events[1].metadata().id),
        (None, events[0].metadata().id),
    ];
    let loaded = store.load("acc-1", 1).await.expect("loads");
    assert_eq!(subjects_and_ids(&loaded), expected);
    let range = store.load_range("acc-1", 2, 3).await.expect("a range");
    assert_eq!(subjects_and_ids(&range), expected[1..]);
    let all = store.read_all(1, 10).await.expect("reads");
    assert_eq!(subjects_and_ids(&all), expected);
    let raw = store.read_all_raw(1, 10).await.expect("raw");
    assert!(
        raw[1].metadata.contains("\"subject\":\"fixed\""),
        "{}",
        raw[1].metadata
    );
}

/// Positions past 32 bits (the statements print the version and position
/// into the record as 16 hex digits each, in SQL): after a row at position
/// 2^40, single appends with and without an expected version and a batch
/// load by record with the positions the global stream gives them.
#[tokio::test]
async fn records_keep_positions_past_32_bits() {
    let file = TempDb::new("records-far");
    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    let far = 1_i64 << 40;
    sqlx::query(
        "INSERT INTO events (position, stream_id, version, event_id, event_type, \
         schema_version, payload, metadata, correlation_id, causation_id, recorded_at) \
         VALUES (?1, 'far', 1, randomblob(16), 'orchestrix.conformance.Event', 1, '{}', '{}', \
         randomblob(16), NULL, 0)",
    )
    .bind(far)
    .execute(store.pool())
    .await
    .expect("a row far out");
    store
        .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("expected");
    store
        .save("acc-1", &[ConformanceEvent::envelope(1, 2)], None)
        .await
        .expect("any version");
    store
        .save(
            "acc-1",
            &[
                ConformanceEvent::envelope(1, 3),
                ConformanceEvent::envelope(1, 4),
            ],
            Some(2),
        )
        .await
        .expect("a batch");
    let records: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id = 'acc-1' AND load_record IS NOT NULL",
    )
    .fetch_one(store.pool())
    .await
    .expect("count");
    assert_eq!(records, 4);
    let far = u64::try_from(far).expect("positive");
    let expected: Vec<(u64, u64)> = (1..=4).map(|n| (n, far + n)).collect();
    let loaded = store.load("acc-1", 1).await.expect("loads");
    assert_eq!(version_and_position(&loaded), expected);
    let from_two = store.load("acc-1", 2).await.expect("loads");
    assert_eq!(version_and_position(&from_two), expected[1..]);
    let read = store.read_all(far + 1, 10).await.expect("reads");
    assert_eq!(version_and_position(&read), expected);
}

/// A load that meets a row without a record halfway reads on with a second
/// statement: on an in-memory database, whose pool holds its one
/// connection, the first statement's connection is back in the pool by
/// then (a single-threaded runtime, as a plain `#[tokio::test]`).
#[tokio::test]
async fn a_memory_database_reads_on_from_a_row_without_a_record() {
    let store = SqliteEventStore::connect("sqlite::memory:")
        .await
        .expect("opens");
    let events: Vec<_> = (1..=4)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store.save("acc-1", &events, Some(0)).await.expect("save");
    sqlx::query("UPDATE events SET version = version WHERE position = 3")
        .execute(store.pool())
        .await
        .expect("the older form");
    for _ in 0..3 {
        let loaded = store.load("acc-1", 1).await.expect("loads");
        assert_eq!(
            loaded
                .iter()
                .map(|e| (e.version, e.metadata().clone()))
                .collect::<Vec<_>>(),
            events
                .iter()
                .zip(1..)
                .map(|(e, version)| (version, e.metadata().clone()))
                .collect::<Vec<_>>()
        );
    }
}

/// A migration whose recorded checksum differs from the shipped text is
/// refused with a typed error.
#[tokio::test]
async fn a_changed_migration_is_refused() {
    let file = TempDb::new("changed");
    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    sqlx::query("UPDATE orchestrix_migrations SET checksum = 42 WHERE version = 1")
        .execute(store.pool())
        .await
        .expect("tamper");
    store.pool().close().await;
    let error = SqliteEventStore::connect(&file.url(""))
        .await
        .expect_err("changed migration");
    assert!(
        matches!(
            sqlite_error(&error),
            SqliteError::ChangedMigration {
                version: 1,
                applied: 42,
                ..
            }
        ),
        "{error}"
    );
}

/// A file opened read-only reads, and refuses writes with
/// `SqliteError::ReadOnly`; nothing is written.
#[tokio::test]
async fn a_read_only_file_reads_and_refuses_writes_with_a_typed_error() {
    let file = TempDb::new("read-only");
    let writer = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    writer
        .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("append");
    writer.pool().close().await;

    let store = SqliteEventStore::connect(&file.url("?mode=ro"))
        .await
        .expect("an up-to-date file opens read-only");
    assert_eq!(store.load("acc-1", 1).await.expect("load").len(), 1);
    let error = store
        .save("acc-1", &[ConformanceEvent::envelope(1, 2)], Some(1))
        .await
        .expect_err("read-only");
    assert!(
        matches!(sqlite_error(&error), SqliteError::ReadOnly { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("append to stream `acc-1`"),
        "{error}"
    );
    assert_eq!(store.stream_version("acc-1").await.expect("version"), 1);
}

/// With creating turned off, a missing file is `Missing`; a file that is
/// not a database is `Corrupt`; both name the file.
#[tokio::test]
async fn missing_and_corrupt_files_are_typed_errors() {
    let file = TempDb::new("missing");
    let options = SqliteOptions::builder(file.url(""))
        .create_if_missing(false)
        .build()
        .expect("valid");
    let error = SqliteEventStore::connect_with(options)
        .await
        .expect_err("missing");
    assert!(
        matches!(sqlite_error(&error), SqliteError::Missing { path } if path == file.path()),
        "{error}"
    );
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
    assert!(!file.path().exists(), "nothing was created");

    std::fs::write(file.path(), vec![0x5a; 8192]).expect("garbage");
    let error = SqliteEventStore::connect(&file.url(""))
        .await
        .expect_err("not a database");
    assert!(
        matches!(sqlite_error(&error), SqliteError::Corrupt { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&file.path().display().to_string()),
        "{error}"
    );
}

/// An append waits for another connection's write transaction instead of
/// failing, and fails with `Locked` only once the busy timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_wait_for_the_lock_and_a_held_lock_is_a_typed_error() {
    let file = TempDb::new("locked");
    let store = SqliteEventStore::connect(&file.url(""))
        .await
        .expect("creates");
    let other = connect_pool(&SqliteOptions::new(file.url("")).expect("valid"))
        .await
        .expect("second pool");

    // Held for a while, then released: the append waits and succeeds.
    let lock = other.begin_with("BEGIN IMMEDIATE").await.expect("lock");
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
                .await
        })
    };
    // The append cannot finish while the lock is held.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the append waits for the lock");
    lock.rollback().await.expect("release");
    waiting
        .await
        .expect("task")
        .expect("the append went through after the lock was released");

    // Held past a short busy timeout: a typed error, nothing written.
    let impatient = SqliteEventStore::connect_with(
        SqliteOptions::builder(file.url(""))
            .busy_timeout(Duration::from_millis(100))
            .build()
            .expect("valid"),
    )
    .await
    .expect("opens");
    let lock = other.begin_with("BEGIN IMMEDIATE").await.expect("lock");
    let error = impatient
        .save("acc-1", &[ConformanceEvent::envelope(1, 2)], Some(1))
        .await
        .expect_err("locked");
    assert!(
        matches!(sqlite_error(&error), SqliteError::Locked { .. }),
        "{error}"
    );
    drop(lock);
    assert_eq!(store.stream_version("acc-1").await.expect("version"), 1);
}

/// A write queued behind another write of the same store waits for its turn
/// at most the busy timeout, so the queue and SQLite's busy handler together
/// keep the documented bound: here the write ahead holds the turn for as
/// long as this test likes (it waits for the pool's only connection, which
/// the test holds), and the queued append and snapshot fail as a locked file
/// does (`Locked`, the queue's timeout as its source), nothing written,
/// instead of waiting their turn and then a whole busy timeout more. The
/// exact durations are checked on a paused clock in the queue's unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_write_waits_for_its_turn_no_longer_than_the_busy_timeout() {
    let file = TempDb::new("turn-timeout");
    let store = SqliteEventStore::connect_with(
        SqliteOptions::builder(file.url(""))
            .busy_timeout(Duration::from_millis(200))
            .pool_max_size(1)
            .build()
            .expect("valid"),
    )
    .await
    .expect("creates");
    let held = store.pool().acquire().await.expect("the only connection");
    let first = [ConformanceEvent::envelope(1, 1)];
    let mut ahead = Box::pin(store.save("ahead", &first, Some(0)));
    // Its first poll takes the turn, then waits for the connection.
    assert!(futures::poll!(ahead.as_mut()).is_pending());

    let queue_timeout = |error: &StoreError| {
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
        match sqlite_error(error) {
            SqliteError::Locked { source, .. } => {
                assert!(
                    source.downcast_ref::<WriteQueueTimeout>().is_some(),
                    "the queue gave up, not SQLite: {source}"
                );
            }
            other => panic!("expected Locked, got {other:?}"),
        }
    };
    // Bounded here so a broken bound fails instead of hanging.
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        store.save("queued", &[ConformanceEvent::envelope(2, 1)], Some(0)),
    )
    .await
    .expect("the queue gives up within the busy timeout")
    .expect_err("its turn does not come within the busy timeout");
    queue_timeout(&error);
    assert!(
        error.to_string().contains("append to stream `queued`"),
        "{error}"
    );
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        store.save_snapshot(Snapshot {
            aggregate_id: "queued".to_owned(),
            aggregate_type: "queued".to_owned(),
            version: 0,
            state: serde_json::json!({}),
            taken_at: time::OffsetDateTime::now_utc(),
        }),
    )
    .await
    .expect("the queue gives up within the busy timeout")
    .expect_err("its turn does not come within the busy timeout");
    queue_timeout(&error);

    drop(held);
    ahead
        .await
        .expect("the write ahead goes through once it has the connection");
    assert_eq!(store.stream_version("queued").await.expect("version"), 0);
    assert_eq!(store.stream_version("ahead").await.expect("version"), 1);
    assert!(
        store
            .load_snapshot("queued")
            .await
            .expect("snapshot read")
            .is_none()
    );
    // The queue works on: the next write has its turn at once.
    store
        .save("queued", &[ConformanceEvent::envelope(2, 1)], Some(0))
        .await
        .expect("appends");
}

/// The writes of one store's tasks queue in-process instead of racing in
/// SQLite's busy handler: 16 tasks write through one store (and its pool
/// of 8 connections) with a busy timeout of 50 ms, which 15 writes ahead
/// may not fit in on a loaded machine. A write may then fail, but only in
/// the queue (`Locked` with a `WriteQueueTimeout` source, nothing written),
/// never in SQLite's busy handler, whose growing sleeps let others overtake
/// a waiting writer (without the queue, writes failed that way at 50 ms);
/// every write that went through is there, positions without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_writes_of_one_store_fail_only_in_the_queue_within_a_short_busy_timeout() {
    const WRITERS: u32 = 16;
    const ROUNDS: u32 = 30;
    let file = TempDb::new("queued");
    let store = SqliteEventStore::connect_with(
        SqliteOptions::builder(file.url(""))
            .busy_timeout(Duration::from_millis(50))
            .build()
            .expect("valid"),
    )
    .await
    .expect("creates");
    let in_the_queue = |what: &str, error: &StoreError| match SqliteError::find(error) {
        Some(SqliteError::Locked { source, .. })
            if source.downcast_ref::<WriteQueueTimeout>().is_some() => {}
        _ => panic!("{what} failed outside the queue: {error}"),
    };
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let stream = format!("own-{writer}");
                barrier.wait().await;
                let mut version = 0;
                for seq in 0..ROUNDS {
                    let count = if seq % 10 == 9 { 3 } else { 1 };
                    let events: Vec<AnyEnvelope> = (0..count)
                        .map(|_| ConformanceEvent::envelope(writer, seq))
                        .collect();
                    match store.save(&stream, &events, Some(version)).await {
                        Ok(outcome) => version = outcome.new_version,
                        Err(error) => in_the_queue(&format!("{stream} append {seq}"), &error),
                    }
                    if seq % 10 == 4
                        && let Err(error) = store
                            .save_snapshot(Snapshot {
                                aggregate_id: stream.clone(),
                                aggregate_type: "queued".to_owned(),
                                version,
                                state: serde_json::json!({ "seq": seq }),
                                taken_at: time::OffsetDateTime::now_utc(),
                            })
                            .await
                    {
                        in_the_queue(&format!("{stream} snapshot {seq}"), &error);
                    }
                }
                version
            })
        })
        .collect();
    let mut written = 0;
    for writer in writers {
        written += writer.await.expect("writer");
    }
    // `read_everything` checks the positions have no gaps.
    let everything = read_everything(&store).await;
    assert_eq!(everything.len() as u64, written);
    for writer in 0..WRITERS {
        let stream = format!("own-{writer}");
        let versions: Vec<u64> = everything
            .iter()
            .filter(|event| *event.stream_id == *stream)
            .map(|event| event.version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
}

/// A loaded event's context is its saved context, and the texts it repeats
/// are shared rather than copied per row: the registered name, the default
/// source and content type are static texts, and the subject is the
/// stream's id the load already holds, and a non-default source repeated
/// by consecutive rows is one allocation. A stored context with an escaped
/// text (which cannot be borrowed from the row) reads back as written.
#[tokio::test]
async fn a_loaded_context_shares_the_texts_it_repeats() {
    let store = SqliteEventStore::connect("sqlite::memory:")
        .await
        .expect("in-memory file");
    let events: Vec<AnyEnvelope> = ["acc-1", "a \"quoted\" subject"]
        .into_iter()
        .enumerate()
        .map(|(seq, subject)| {
            let seq = u32::try_from(seq).expect("small");
            Envelope::new(ConformanceEvent { writer: 1, seq })
                .map_metadata(|m| m.with_subject(subject).with_source("urn:test:source"))
                .into()
        })
        .collect();
    store.save("acc-1", &events, Some(0)).await.expect("save");
    let loaded = store.load("acc-1", 1).await.expect("load");
    assert_eq!(loaded.len(), 2);
    for (saved, loaded) in events.iter().zip(&loaded) {
        assert_eq!(loaded.metadata(), saved.metadata());
    }
    let first = loaded[0].metadata();
    assert!(first.message_type.is_static());
    assert!(
        first
            .datacontenttype
            .as_ref()
            .is_some_and(|t| t.is_static())
    );
    let subject = first.subject.as_deref().expect("a subject");
    assert!(std::ptr::eq(subject, &*loaded[0].stream_id));
    assert_eq!(
        loaded[1].metadata().subject.as_deref(),
        Some("a \"quoted\" subject")
    ); // A non-default source repeated by consecutive rows: one allocation.
    let sources: Vec<&str> = loaded
        .iter()
        .map(|e| e.metadata().source.as_str())
        .collect();
    assert_eq!(sources, ["urn:test:source"; 2]);
    assert!(std::ptr::eq(sources[0], sources[1]), "the source is shared");
}

/// An append waiting in the store's write queue takes its `recorded_at`
/// once it has its turn, so `recorded_at` never runs backwards along the
/// positions: the first writer holds the queue (waiting for the pool's only
/// connection, which the test holds), a single append and a batch queue
/// behind it, and the clock moves on before the queue does.
#[tokio::test]
async fn recorded_at_is_taken_once_the_append_has_its_turn() {
    let db = TempDb::new("recorded-at-in-turn");
    let opened = SqliteEventStore::connect(&db.url(""))
        .await
        .expect("the file opens and migrates");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with((*opened.pool().connect_options()).clone())
        .await
        .expect("a pool of one connection");
    let store = SqliteEventStore::from_pool(pool);
    let held = store.pool().acquire().await.expect("the only connection");

    let first = [ConformanceEvent::envelope(1, 1)];
    let second = [ConformanceEvent::envelope(2, 1)];
    let batch = [
        ConformanceEvent::envelope(3, 1),
        ConformanceEvent::envelope(3, 2),
    ];
    // `save` (through `async_trait`) returns a boxed future: one type.
    let mut writers = vec![
        store.save("first", &first, Some(0)),
        store.save("second", &second, Some(0)),
        store.save("batch", &batch, Some(0)),
    ];
    // One poll each: the first takes the queue and waits for the
    // connection, the others wait in the queue behind it.
    for writer in &mut writers {
        assert!(futures::poll!(writer.as_mut()).is_pending());
    }
    let queued = time::OffsetDateTime::now_utc();
    // The first microsecond (what the store keeps) after they all queued.
    let mut moved_on = time::OffsetDateTime::now_utc();
    while moved_on.unix_timestamp_nanos() / 1_000 <= queued.unix_timestamp_nanos() / 1_000 {
        moved_on = time::OffsetDateTime::now_utc();
    }
    let moved_on = moved_on
        .replace_nanosecond(moved_on.nanosecond() / 1_000 * 1_000)
        .expect("in range");
    drop(held);
    for outcome in futures::future::join_all(writers).await {
        outcome.expect("saved");
    }

    let events = read_everything(&store).await;
    let raw = store.read_all_raw(1, 10).await.expect("raw");
    let seen: Vec<(&str, u64)> = events
        .iter()
        .map(|event| (&*event.stream_id, event.position))
        .collect();
    assert_eq!(
        seen,
        [("first", 1), ("second", 2), ("batch", 3), ("batch", 4)]
    );
    for (event, raw) in events.iter().zip(&raw) {
        assert_eq!(
            event.recorded_at, raw.recorded_at,
            "context and column agree"
        );
    }
    for pair in events.windows(2) {
        assert!(
            pair[0].recorded_at <= pair[1].recorded_at,
            "recorded_at runs backwards: {:?} then {:?}",
            pair[0].recorded_at,
            pair[1].recorded_at
        );
    }
    for event in &events[1..] {
        assert!(
            event.recorded_at >= moved_on,
            "position {} recorded at {}, before its turn ({moved_on})",
            event.position,
            event.recorded_at
        );
    }
}
