//! Rows that do not decode on SQLite: a row of a type this process never
//! registered is skipped by a filtered read (never read, never decoded),
//! read as it is by `read_all_raw`, and named with its position by a plain
//! `read_all`.

use orchestrix::error::DecodeError;
use orchestrix::message::Metadata;
use orchestrix::prelude::*;
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix::store::{EventTypeFilter, StoreError};
use orchestrix_tests::conformance::hardening::nested;
use orchestrix_tests::conformance::{ConformanceEvent, OtherConformanceEvent};
use orchestrix_tests::sqlite::TempDb;

/// Writes a row straight into the table, past every check, as another
/// program (or a newer version of this one) could have; returns its
/// position.
async fn insert_row(
    store: &SqliteEventStore,
    stream: &str,
    event_type: &str,
    payload: &str,
) -> u64 {
    let metadata = serde_json::to_string(&Metadata::new(event_type)).expect("metadata");
    insert_row_with_metadata(store, stream, event_type, payload, &metadata).await
}

/// [`insert_row`] with the given `metadata` text (no context, as a row
/// written before the context column).
async fn insert_row_with_metadata(
    store: &SqliteEventStore,
    stream: &str,
    event_type: &str,
    payload: &str,
    metadata: &str,
) -> u64 {
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (position, stream_id, version, event_id, event_type, schema_version, \
         payload, metadata, correlation_id, causation_id, recorded_at) \
         VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), ?1, 1, randomblob(16), ?2, 1, \
         ?3, ?4, randomblob(16), NULL, 0) RETURNING position",
    )
    .bind(stream)
    .bind(event_type)
    .bind(payload)
    .bind(metadata)
    .fetch_one(store.pool())
    .await
    .expect("raw insert");
    u64::try_from(position).expect("positive")
}

async fn store(db: &TempDb) -> SqliteEventStore {
    SqliteEventStore::connect(&db.url(""))
        .await
        .expect("the file opens and migrates")
}

#[tokio::test]
async fn an_unregistered_type_is_skipped_by_a_filtered_read_read_raw_and_named_by_read_all() {
    let db = TempDb::new("unregistered-type");
    let store = store(&db).await;
    store
        .save("before", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    let unknown = insert_row(&store, "unknown", "never.Registered", r#"{"n":1}"#).await;
    store
        .save("after", &[ConformanceEvent::envelope(1, 2)], Some(0))
        .await
        .expect("save");
    store
        .save("other", &[OtherConformanceEvent::envelope(3)], Some(0))
        .await
        .expect("save");
    assert_eq!(unknown, 2);

    // The filtered read never meets the unknown row.
    let filter = EventTypeFilter::only(["orchestrix.conformance.Event"]);
    let page = store
        .read_all_filtered(1, 10, &filter)
        .await
        .expect("rows of other types are never decoded");
    let seen: Vec<(&str, u64)> = page
        .events
        .iter()
        .map(|event| (&*event.stream_id, event.position))
        .collect();
    assert_eq!(seen, [("before", 1), ("after", 3)]);
    assert_eq!(page.scanned_through, 4, "a short page looked at everything");

    // A full page stops at its last event.
    let page = store
        .read_all_filtered(1, 1, &filter)
        .await
        .expect("filtered");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.scanned_through, 1);

    // Raw: every row, the unknown one as stored.
    let raw = store.read_all_raw(1, 10).await.expect("raw never decodes");
    let rows: Vec<(&str, u64, &str)> = raw
        .iter()
        .map(|event| (&*event.stream_id, event.position, event.event_type.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("before", 1, "orchestrix.conformance.Event"),
            ("unknown", 2, "never.Registered"),
            ("after", 3, "orchestrix.conformance.Event"),
            ("other", 4, "orchestrix.conformance.OtherEvent"),
        ]
    );
    assert_eq!(raw[1].payload, r#"{"n":1}"#);
    assert_eq!((raw[1].version, raw[1].schema_version), (1, 1));
    let metadata: Metadata = serde_json::from_str(&raw[1].metadata).expect("metadata text");
    assert_eq!(metadata.message_type, "never.Registered");

    // A plain read names the row.
    let error = store
        .read_all(1, 10)
        .await
        .expect_err("the unknown type stops a plain read");
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
        ("unknown", 1, Some(unknown), "never.Registered")
    );
    assert!(
        matches!(source, DecodeError::UnknownEventType { .. }),
        "{source:?}"
    );
}

/// A payload too deep for serde_json to parse is read raw, as stored.
#[tokio::test]
async fn read_all_raw_reads_a_payload_too_deep_to_decode() {
    let db = TempDb::new("deep-payload");
    let store = store(&db).await;
    let deep = serde_json::to_string(&serde_json::json!({ "value": nested(200), "text": "p" }))
        .expect("serializes");
    let position = insert_row(&store, "deep", "orchestrix.conformance.Event", &deep).await;
    let error = store.read_all(1, 10).await.expect_err("too deep to decode");
    assert!(
        matches!(&error, StoreError::Decode { position: Some(p), .. } if *p == position),
        "{error:?}"
    );
    let raw = store.read_all_raw(1, 10).await.expect("raw never decodes");
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].payload, deep);
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

/// Turns the row at `position` back into the form rows had before the load
/// record (migration 4): an update of one of its columns makes the
/// migration's trigger move its context to the context column and drop
/// its record.
async fn without_load_record(store: &SqliteEventStore, position: u64) {
    sqlx::query("UPDATE events SET version = version WHERE position = ?1")
        .bind(i64::try_from(position).expect("small"))
        .execute(store.pool())
        .await
        .expect("update a column");
    let (context, record): (Option<Vec<u8>>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT context, load_record FROM events WHERE position = ?1")
            .bind(i64::try_from(position).expect("small"))
            .fetch_one(store.pool())
            .await
            .expect("the row");
    assert!(context.is_some() && record.is_none(), "the older form");
}

/// A damaged context column (written past the store) is a typed error that
/// names the row, for a load and for a read of the global stream; a raw
/// read, which does not read the context, still gives the row as stored.
#[tokio::test]
async fn a_damaged_context_is_a_typed_error_naming_the_row() {
    let db = TempDb::new("damaged-context");
    let store = store(&db).await;
    store
        .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    without_load_record(&store, 1).await;
    sqlx::query("UPDATE events SET context = x'01ff' WHERE position = 1")
        .execute(store.pool())
        .await
        .expect("damage");
    let load = store.load("acc-1", 1).await.expect_err("damaged");
    let read = store.read_all(1, 10).await.expect_err("damaged");
    for error in [load, read] {
        assert_damaged(&error, ("acc-1", 1, 1), "context", "ends early");
    }
    let raw = store
        .read_all_raw(1, 10)
        .await
        .expect("raw reads skip the context");
    assert_eq!(raw.len(), 1);
}

/// A damaged load record (written past the store) is a typed `Decode` error
/// naming the row and the `load_record` column, for a load (from the first
/// version, from the damaged one, a range) and a read of the global stream,
/// never a panic or another event: bytes cut short, bytes after its end, an
/// unknown format, a version of 0 and a position of the row before (each
/// fails the check of the record's tail), and the intact record of another
/// row of the stream (which the row's own columns contradict). The rows before it
/// still load; a raw read, which does not read the record, gives the row as
/// stored.
#[tokio::test]
async fn a_damaged_load_record_is_a_typed_error_naming_the_row() {
    let db = TempDb::new("damaged-record");
    let store = store(&db).await;
    let events: Vec<_> = (1..=3)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store.save("acc-1", &events, Some(0)).await.expect("save");
    let damages = [
        ("substr(load_record, 1, 20)", "ends early"),
        ("CAST(load_record || x'00' AS BLOB)", "fails its checksum"),
        (
            "CAST(x'07' || substr(load_record, 2) AS BLOB)",
            "unknown format",
        ),
        (
            "CAST(substr(load_record, 1, length(load_record) - 24) || zeroblob(8) \
             || substr(load_record, -16) AS BLOB)",
            "fails its version and position check",
        ),
        (
            "(SELECT load_record FROM events WHERE position = 3)",
            "differs from the row's version column",
        ),
        // The right version, the position of the row before (a load from
        // this row on cannot know which position comes: the check tells).
        (
            "CAST(substr(load_record, 1, length(load_record) - 16) \
             || unhex('0000000000000001') || substr(load_record, -8) AS BLOB)",
            "fails its version and position check",
        ),
    ];
    for (damage, why) in damages {
        let column = if why == "unknown format" {
            "load_record or context"
        } else {
            "load_record"
        };
        let original: Vec<u8> =
            sqlx::query_scalar("SELECT load_record FROM events WHERE position = 2")
                .fetch_one(store.pool())
                .await
                .expect("the record");
        // The damages are the constants above.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE events SET load_record = {damage} WHERE position = 2"
        )))
        .execute(store.pool())
        .await
        .expect("damage");
        for from in [1, 2] {
            let load = store.load("acc-1", from).await.expect_err(damage);
            assert_damaged(&load, ("acc-1", 2, 2), column, why);
        }
        let range = store.load_range("acc-1", 1, 2).await.expect_err(damage);
        assert_damaged(&range, ("acc-1", 2, 2), column, why);
        let read = store.read_all(1, 10).await.expect_err(damage);
        assert_damaged(&read, ("acc-1", 2, 2), column, why);
        assert_eq!(
            store
                .load_range("acc-1", 1, 1)
                .await
                .expect("the row before")
                .len(),
            1
        );
        assert_eq!(store.read_all_raw(1, 10).await.expect("raw").len(), 3);
        sqlx::query("UPDATE events SET load_record = ?1 WHERE position = 2")
            .bind(original)
            .execute(store.pool())
            .await
            .expect("repair");
        assert_eq!(store.load("acc-1", 1).await.expect("repaired").len(), 3);
    }
}

/// Any one byte of a load record damaged (each bit flipped, and each byte
/// inverted): the form, the context, the schema version, the type, the
/// checksum, the version, the position or their check. A load from the
/// first version and from the damaged row, a range and a read of the
/// global stream each fail with a typed `Decode` error naming the row and
/// its `load_record` column: never an event that is not the row's (another
/// id, schema version or version), never a row left out.
#[tokio::test]
async fn any_damaged_byte_of_a_load_record_is_a_typed_error_naming_the_row() {
    let db = TempDb::new("flipped-record");
    let store = store(&db).await;
    // One event per append (its record's tail written in SQL) and a batch
    // (written in Rust).
    store
        .save("acc-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    store
        .save(
            "acc-1",
            &[
                ConformanceEvent::envelope(1, 2),
                ConformanceEvent::envelope(1, 3),
            ],
            Some(1),
        )
        .await
        .expect("save");
    for position in [1_i64, 2] {
        let original: Vec<u8> =
            sqlx::query_scalar("SELECT load_record FROM events WHERE position = ?1")
                .bind(position)
                .fetch_one(store.pool())
                .await
                .expect("the record");
        let row = ("acc-1", position.unsigned_abs(), position.unsigned_abs());
        for at in 0..original.len() {
            for mask in [1_u8, 2, 4, 8, 16, 32, 64, 128, 0xff] {
                let mut damaged = original.clone();
                damaged[at] ^= mask;
                sqlx::query("UPDATE events SET load_record = ?1 WHERE position = ?2")
                    .bind(&damaged)
                    .bind(position)
                    .execute(store.pool())
                    .await
                    .expect("damage");
                // A damaged first byte says neither form: the error names
                // both columns the one value selected could come from.
                let (column, why) = if at == 0 {
                    ("load_record or context", "unknown format")
                } else {
                    ("load_record", "fails its")
                };
                let what = format!("row {position} byte {at} ^ {mask:#04x}");
                for from in [1, row.1] {
                    let load = store.load("acc-1", from).await.expect_err(&what);
                    assert_damaged(&load, row, column, why);
                }
                let range = store.load_range("acc-1", 1, 3).await.expect_err(&what);
                assert_damaged(&range, row, column, why);
                let read = store.read_all(1, 10).await.expect_err(&what);
                assert_damaged(&read, row, column, why);
            }
        }
        sqlx::query("UPDATE events SET load_record = ?1 WHERE position = ?2")
            .bind(&original)
            .bind(position)
            .execute(store.pool())
            .await
            .expect("repair");
        assert_eq!(store.load("acc-1", 1).await.expect("repaired").len(), 3);
    }
}

/// A row written before the context column (context NULL) whose metadata
/// text is not JSON fails alone, as `Decode` naming it (with its position,
/// so a dispatcher can park it); the good rows around it still read.
#[tokio::test]
async fn an_old_row_with_malformed_metadata_is_a_decode_error_naming_it() {
    let db = TempDb::new("malformed-metadata");
    let store = store(&db).await;
    store
        .save("before", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    let payload = serde_json::to_string(&ConformanceEvent { writer: 2, seq: 1 }).expect("payload");
    let position = insert_row_with_metadata(
        &store,
        "old",
        "orchestrix.conformance.Event",
        &payload,
        r#"{"id": oops"#,
    )
    .await;
    assert_eq!(position, 2);
    store
        .save("after", &[ConformanceEvent::envelope(3, 1)], Some(0))
        .await
        .expect("save");

    let load = store.load("old", 1).await.expect_err("malformed");
    let read = store.read_all(1, 10).await.expect_err("malformed");
    for error in [load, read] {
        assert_damaged(&error, ("old", 1, 2), "metadata", "expected value");
    }
    assert_eq!(store.load("before", 1).await.expect("good row").len(), 1);
    assert_eq!(store.load("after", 1).await.expect("good row").len(), 1);
    assert_eq!(store.read_all(1, 1).await.expect("the row before").len(), 1);
    assert_eq!(store.read_all(3, 10).await.expect("the row after").len(), 1);
}

/// An event with a text field, to put bytes that are not UTF-8 in a field
/// the type reads and in one it ignores.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.poison.Named")]
struct Named {
    name: String,
}

/// Replaces the payload of `stream`'s rows with `bytes` as TEXT, past
/// every check (SQLite does not check a text's encoding).
async fn damage_payload(store: &SqliteEventStore, stream: &str, bytes: &[u8]) {
    sqlx::query("UPDATE events SET payload = CAST(?1 AS TEXT) WHERE stream_id = ?2")
        .bind(bytes)
        .bind(stream)
        .execute(store.pool())
        .await
        .expect("damage the payload");
}

fn assert_decode_error(error: &StoreError, stream: &str, at: u64) {
    let StoreError::Decode {
        stream_id,
        version,
        position,
        ..
    } = error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(
        (stream_id.as_str(), *version, *position),
        (stream, 1, Some(at))
    );
}

/// The load reads each column with one look at its type: bytes that are
/// not UTF-8 in a text field the event type reads are a `Decode` error
/// naming the row (its JSON parser checks the strings it reads); in a field
/// the type ignores they are skipped unchecked, and the event loads
/// (serde_json skips an ignored string without a UTF-8 check; `read_all_raw`,
/// which hands out the payload as text, fails on that row). A type name that
/// is not UTF-8 on a load's first row is an error naming the row. A column
/// of another type than the table's (a schema version stored as text, past
/// the store) is an error naming the stream and version, never read as
/// something else.
#[tokio::test]
async fn a_payload_not_utf8_or_a_column_of_another_type_is_an_error_naming_the_row() {
    let db = TempDb::new("column-types");
    let store = store(&db).await;
    for stream in ["bytes", "ignored", "type-name"] {
        let named = Envelope::new(Named {
            name: "Ada".to_owned(),
        })
        .into_any();
        store.save(stream, &[named], Some(0)).await.expect("save");
    }
    store
        .save("typed", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");

    damage_payload(&store, "bytes", b"{\"name\":\"\xff\"}").await;
    let error = store.load("bytes", 1).await.expect_err("not UTF-8");
    assert_decode_error(&error, "bytes", 1);
    let StoreError::Decode { source, .. } = &error else {
        unreachable!("checked above")
    };
    assert!(
        matches!(source, DecodeError::Malformed { .. }),
        "{source:?}"
    );

    damage_payload(&store, "ignored", b"{\"name\":\"Ada\",\"extra\":\"\xff\"}").await;
    let loaded = store
        .load("ignored", 1)
        .await
        .expect("an ignored field is skipped");
    assert_eq!(
        loaded[0].downcast_ref::<Named>().map(|n| n.name.as_str()),
        Some("Ada")
    );
    store
        .read_all_raw(2, 1)
        .await
        .expect_err("the raw payload is handed out as text");

    sqlx::query("UPDATE events SET event_type = CAST(x'ff' AS TEXT) WHERE stream_id = 'type-name'")
        .execute(store.pool())
        .await
        .expect("damage the type name");
    let error = store
        .load("type-name", 1)
        .await
        .expect_err("a type name that is not UTF-8");
    assert!(
        error.to_string().contains("type-name"),
        "names the stream: {error:?}"
    );

    sqlx::query("UPDATE events SET schema_version = 'one' WHERE stream_id = 'typed'")
        .execute(store.pool())
        .await
        .expect("damage the schema version");
    let error = store
        .load("typed", 1)
        .await
        .expect_err("a text schema version");
    assert!(matches!(error, StoreError::Backend { .. }), "{error:?}");
    assert!(
        error.to_string().contains("stream `typed` version 1"),
        "{error}"
    );
    assert!(
        format!("{error:?}").contains("expected INTEGER, found TEXT")
            && format!("{error:?}").contains("schema_version"),
        "{error:?}"
    );
}
