//! The hand-written sqlx SQLite baseline of the `sqlite_store` bench (and
//! of the `sqlite_load` profiling driver): the same events as the store
//! keeps, without the framework.
//!
//! The smallest table that keeps events in streams: `(stream_id, version,
//! payload, metadata, PRIMARY KEY (stream_id, version))` with the rowid as
//! position; one autocommit `INSERT` per single append (the primary key is
//! the expected-version check), one transaction of `INSERT`s per batch;
//! loading reads payload and metadata and decodes them straight into the
//! concrete types.

use orchestrix::message::Metadata;
use orchestrix::sqlite::SqlitePool;

use crate::store_workloads::{Deposited, Side};

/// Hand-written sqlx on a SQLite pool.
#[derive(Clone, Debug)]
pub struct Raw {
    /// The pool (its own file).
    pub pool: SqlitePool,
}

const INSERT: &str =
    "INSERT INTO events (stream_id, version, payload, metadata) VALUES (?, ?, ?, ?)";

impl Raw {
    /// Creates the baseline's table in `pool`'s database.
    pub async fn new(pool: SqlitePool) -> Self {
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
