//! Reading old rows: loading a 10,000-event stream stored at schema version
//! 1 (through two upcasters to version 3) against the same stream stored at
//! version 3, in one run, with a raw baseline beside them.
//!
//! Two levels, both medians of alternating runs:
//!
//! * **decode**: the payload bytes of 10,000 events through
//!   `EventRegistry::decode_stored` (v3 rows: one pass into the type; v1
//!   rows: parsed once into the version 1 shape, then two typed upcasters;
//!   v1 rows through two JSON upcasters), beside `serde_json::from_slice`
//!   of the v3 bytes straight into the type (the raw baseline);
//! * **SQLite load**: `SqliteEventStore::load` of a 10,000-event stream
//!   stored at v1 and at v3 (file in the temp dir), beside a hand-written
//!   `SELECT payload` decoded with `serde_json` (the raw baseline).
//!
//! Run: `cargo bench -p orchestrix-benches --bench evolution`.

use std::time::{Duration, Instant};

use orchestrix::prelude::*;
use orchestrix::registry::EventRegistry;
use orchestrix::store::sqlite::SqliteEventStore;

const EVENTS: u64 = 10_000;
const RUNS: usize = 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Money {
    cents: u64,
    currency: String,
}

/// Version 3, with two typed upcasters.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(
    name = "bench.OrderPlaced",
    version = 3,
    upcast(from = 1, shape = OrderV1, with = v1_to_v2),
    upcast(from = 2, shape = OrderV2, with = v2_to_v3)
)]
struct OrderPlaced {
    order_id: String,
    customer: String,
    total: Money,
}

#[derive(Deserialize)]
struct OrderV1 {
    order: String,
    customer: String,
    cents: u64,
}

#[derive(Deserialize)]
struct OrderV2 {
    order_id: String,
    customer: String,
    cents: u64,
    currency: String,
}

fn v1_to_v2(old: OrderV1) -> OrderV2 {
    OrderV2 {
        order_id: old.order,
        customer: old.customer,
        cents: old.cents,
        currency: "EUR".to_owned(),
    }
}

fn v2_to_v3(old: OrderV2) -> OrderPlaced {
    OrderPlaced {
        order_id: old.order_id,
        customer: old.customer,
        total: Money {
            cents: old.cents,
            currency: old.currency,
        },
    }
}

/// The same history, upcast on the JSON value.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(
    name = "bench.OrderPlacedJson",
    version = 3,
    upcast(from = 1, with = json_v1_to_v2),
    upcast(from = 2, with = json_v2_to_v3)
)]
struct OrderPlacedJson {
    order_id: String,
    customer: String,
    total: Money,
}

fn json_v1_to_v2(mut v1: serde_json::Value) -> serde_json::Value {
    if let Some(object) = v1.as_object_mut() {
        if let Some(order) = object.remove("order") {
            object.insert("order_id".to_owned(), order);
        }
        object.insert("currency".to_owned(), "EUR".into());
    }
    v1
}

fn json_v2_to_v3(mut v2: serde_json::Value) -> serde_json::Value {
    if let Some(object) = v2.as_object_mut() {
        let cents = object.remove("cents").unwrap_or_default();
        let currency = object.remove("currency").unwrap_or_default();
        object.insert(
            "total".to_owned(),
            serde_json::json!({ "cents": cents, "currency": currency }),
        );
    }
    v2
}

fn v1_payload(i: u64) -> String {
    serde_json::json!({ "order": format!("order-{i}"), "customer": "customer-42", "cents": i })
        .to_string()
}

fn v3_payload(i: u64) -> String {
    serde_json::json!({
        "order_id": format!("order-{i}"),
        "customer": "customer-42",
        "total": { "cents": i, "currency": "EUR" },
    })
    .to_string()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

/// Runs each of `cases` `RUNS` times, taking turns (so drift hits all
/// alike), and returns their medians.
fn alternate<const N: usize>(cases: [&mut dyn FnMut() -> Duration; N]) -> [Duration; N] {
    let mut runs: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(RUNS));
    for run in 0..RUNS {
        for offset in 0..N {
            let case = (run + offset) % N;
            runs[case].push(cases[case]());
        }
    }
    runs.map(median)
}

fn decode_all(registry: &EventRegistry, name: &str, version: u32, rows: &[String]) -> Duration {
    let start = Instant::now();
    for row in rows {
        let events = registry
            .decode_stored(name, version, row.as_bytes())
            .expect("decodes");
        std::hint::black_box(events);
    }
    start.elapsed()
}

fn report(title: &str, rows: &[(&str, Duration)], baseline: Duration) {
    println!("{title}");
    for (label, time) in rows {
        println!(
            "  {label:<44} {:>9.3} ms  {:>5.2}x raw",
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() / baseline.as_secs_f64()
        );
    }
}

fn bench_decode() {
    let registry = EventRegistry::global().expect("registry");
    let v1: Vec<String> = (0..EVENTS).map(v1_payload).collect();
    let v3: Vec<String> = (0..EVENTS).map(v3_payload).collect();
    let [current, typed, json, raw] = alternate([
        &mut || decode_all(registry, "bench.OrderPlaced", 3, &v3),
        &mut || decode_all(registry, "bench.OrderPlaced", 1, &v1),
        &mut || decode_all(registry, "bench.OrderPlacedJson", 1, &v1),
        &mut || {
            let start = Instant::now();
            for row in &v3 {
                let event: OrderPlaced = serde_json::from_slice(row.as_bytes()).expect("decodes");
                std::hint::black_box(std::sync::Arc::new(event));
            }
            start.elapsed()
        },
    ]);
    report(
        &format!("decode {EVENTS} payloads (median of {RUNS})"),
        &[
            ("stored at v3 (current)", current),
            ("stored at v1, two typed upcasters", typed),
            ("stored at v1, two JSON upcasters", json),
            ("raw: serde_json::from_slice of v3", raw),
        ],
        raw,
    );
    println!(
        "  v1 typed / v3: {:.2}x   v1 JSON / v3: {:.2}x",
        typed.as_secs_f64() / current.as_secs_f64(),
        json.as_secs_f64() / current.as_secs_f64()
    );
}

/// Writes a 10,000-event stream through the store, as an application would
/// (so each row has the context a load reads), then, for `version` 1,
/// rewrites each row's payload and schema version to the old shape, as a
/// file written by an older program holds them.
async fn insert_rows(store: &SqliteEventStore, stream: &str, name: &str, version: u32) {
    let events: Vec<AnyEnvelope> = (0..EVENTS)
        .map(|i| {
            let order_id = format!("order-{i}");
            let customer = "customer-42".to_owned();
            let total = Money {
                cents: i,
                currency: "EUR".to_owned(),
            };
            if name == "bench.OrderPlacedJson" {
                Envelope::new(OrderPlacedJson {
                    order_id,
                    customer,
                    total,
                })
                .into_any()
            } else {
                Envelope::new(OrderPlaced {
                    order_id,
                    customer,
                    total,
                })
                .into_any()
            }
        })
        .collect();
    store.save(stream, &events, Some(0)).await.expect("append");
    if version == 3 {
        return;
    }
    let mut tx = store.pool().begin().await.expect("begin");
    for i in 0..EVENTS {
        sqlx::query(
            "UPDATE events SET payload = ?1, schema_version = ?2 \
             WHERE stream_id = ?3 AND version = ?4",
        )
        .bind(v1_payload(i))
        .bind(i64::from(version))
        .bind(stream)
        .bind(i64::try_from(i + 1).expect("small"))
        .execute(&mut *tx)
        .await
        .expect("rewrite to the old shape");
    }
    tx.commit().await.expect("commit");
}

async fn bench_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "orchestrix-bench-evolution-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("events.db").display());
    let store = SqliteEventStore::connect(&url).await.expect("store file");
    insert_rows(&store, "v1", "bench.OrderPlaced", 1).await;
    insert_rows(&store, "v3", "bench.OrderPlaced", 3).await;
    insert_rows(&store, "json", "bench.OrderPlacedJson", 1).await;

    let mut runs: [Vec<Duration>; 4] = std::array::from_fn(|_| Vec::new());
    for run in 0..RUNS {
        for offset in 0..4 {
            let case = (run + offset) % 4;
            let start = Instant::now();
            match case {
                0 => assert_eq!(store.load("v3", 1).await.expect("load").len(), 10_000),
                1 => assert_eq!(store.load("v1", 1).await.expect("load").len(), 10_000),
                2 => assert_eq!(store.load("json", 1).await.expect("load").len(), 10_000),
                _ => {
                    let rows: Vec<String> = sqlx::query_scalar(
                        "SELECT payload FROM events WHERE stream_id = ?1 ORDER BY version",
                    )
                    .bind("v3")
                    .fetch_all(store.pool())
                    .await
                    .expect("raw read");
                    let events: Vec<OrderPlaced> = rows
                        .iter()
                        .map(|row| serde_json::from_str(row).expect("decodes"))
                        .collect();
                    assert_eq!(events.len(), 10_000);
                }
            }
            runs[case].push(start.elapsed());
        }
    }
    let [current, typed, json, raw] = runs.map(median);
    report(
        &format!("SQLite load of a {EVENTS}-event stream (median of {RUNS})"),
        &[
            ("stored at v3 (current)", current),
            ("stored at v1, two typed upcasters", typed),
            ("stored at v1, two JSON upcasters", json),
            ("raw: SELECT payload + serde_json (v3)", raw),
        ],
        raw,
    );
    println!(
        "  v1 typed / v3: {:.2}x   v1 JSON / v3: {:.2}x",
        typed.as_secs_f64() / current.as_secs_f64(),
        json.as_secs_f64() / current.as_secs_f64()
    );
    store.pool().close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    bench_decode();
    bench_sqlite().await;
}
