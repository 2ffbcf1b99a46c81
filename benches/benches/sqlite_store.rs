//! SqliteEventStore against hand-written sqlx SQLite statements doing the
//! same work, in the same run, on files in the temp dir (WAL,
//! `synchronous = FULL`, the store's defaults, for both): the workloads
//! W1–W4 of `orchestrix_benches::store_workloads`, three rounds on fresh
//! files.
//!
//! The raw baseline is the smallest table that keeps events in streams:
//! `(stream_id, version, payload, metadata, PRIMARY KEY (stream_id,
//! version))` with the rowid as position; one autocommit `INSERT` per
//! single append (the primary key is the expected-version check), one
//! transaction of `INSERT`s per batch; loading reads payload and metadata
//! and decodes them straight into the concrete types. The store also
//! writes the event id, type, schema version, correlation and causation
//! ids and the time, checks the version under the write lock and decodes
//! through the event registry: that is what the ratio prices.

use orchestrix::prelude::*;
use orchestrix::sqlite::{SqliteOptions, SqlitePool, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_benches::store_workloads::{
    Deposited, Framework, Round, Selected, Side, report, run_round,
};

const ROUNDS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let selected = Selected::from_args();
    let mut rounds: Vec<Round> = Vec::new();
    for _ in 0..ROUNDS {
        let dir = std::env::temp_dir().join(format!(
            "orchestrix-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
        let store = SqliteEventStore::connect(&url("store.db"))
            .await
            .expect("store file");
        let raw = Raw::new(
            connect_pool(&SqliteOptions::new(url("raw.db")).expect("valid"))
                .await
                .expect("raw file"),
        )
        .await;
        rounds.push(run_round(&Framework(store.clone()), &raw, selected).await);
        store.pool().close().await;
        raw.pool.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
    report(&rounds);
}

/// Hand-written sqlx: the same events, without the framework.
#[derive(Clone)]
struct Raw {
    pool: SqlitePool,
}

const INSERT: &str =
    "INSERT INTO events (stream_id, version, payload, metadata) VALUES (?, ?, ?, ?)";

impl Raw {
    async fn new(pool: SqlitePool) -> Self {
        sqlx::query(
            "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, \
             payload TEXT NOT NULL, metadata TEXT NOT NULL, PRIMARY KEY (stream_id, version))",
        )
        .execute(&pool)
        .await
        .expect("raw table");
        Self { pool }
    }
}

fn row(amount: u64) -> (String, String) {
    (
        serde_json::to_string(&Deposited { amount }).expect("json"),
        serde_json::to_string(&Metadata::new("bench.Deposited")).expect("json"),
    )
}

impl Side for Raw {
    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        let (payload, metadata) = row(amount);
        sqlx::query(INSERT)
            .bind(stream)
            .bind(i64::try_from(expected + 1).expect("small"))
            .bind(payload)
            .bind(metadata)
            .execute(&self.pool)
            .await
            .expect("raw append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        let mut tx = self.pool.begin().await.expect("begin");
        for (offset, amount) in (1_u64..).zip(expected..expected + count) {
            let (payload, metadata) = row(amount);
            sqlx::query(INSERT)
                .bind(stream)
                .bind(i64::try_from(expected + offset).expect("small"))
                .bind(payload)
                .bind(metadata)
                .execute(&mut *tx)
                .await
                .expect("raw batch append");
        }
        tx.commit().await.expect("commit");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT payload, metadata FROM events WHERE stream_id = ? AND version >= 1 ORDER BY version",
        )
        .bind(stream)
        .fetch_all(&self.pool)
        .await
        .expect("raw load");
        rows.iter()
            .map(|(payload, metadata)| {
                let _: Metadata = serde_json::from_str(metadata).expect("metadata");
                serde_json::from_str::<Deposited>(payload)
                    .expect("payload")
                    .amount
            })
            .sum()
    }
}
