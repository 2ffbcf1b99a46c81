//! The hand-written sqlx PostgreSQL baseline of the `postgres_store` bench
//! (and of the `pg_load` profiling driver).
//!
//! The least a hand-written event store can do: a table `(position
//! bigserial, stream_id text, version bigint, payload jsonb, PRIMARY KEY
//! (stream_id, version))`; one autocommit `INSERT` per single append at the
//! expected version (the primary key is the conflict check), one `INSERT
//! ... SELECT FROM unnest($versions, $payloads)` per batch, and a load that
//! is one `SELECT payload ... ORDER BY version` decoding each payload
//! straight into the event type (`sqlx::types::Json<T>`), folded. It keeps
//! no metadata, no global-position promise (a reader of its `bigserial` can
//! skip an append that commits late) and no index on the position.

use orchestrix::postgres::PgPool;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::store_workloads::{Deposited, Side};

/// Hand-written sqlx on the minimal table (see the module docs).
#[derive(Clone, Debug)]
pub struct Raw {
    /// The pool.
    pub pool: PgPool,
    insert_one: String,
    insert_batch: String,
    load: String,
}

impl Raw {
    /// Creates the table in `schema` (which must not exist yet).
    pub async fn new(pool: PgPool, schema: &str) -> Self {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".events (
                 position bigserial, stream_id text, version bigint, payload jsonb,
                 PRIMARY KEY (stream_id, version));"
        )))
        .execute(&pool)
        .await
        .expect("raw schema");
        Self {
            insert_one: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, payload) VALUES ($1, $2, $3)"
            ),
            insert_batch: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, payload) \
                 SELECT $1, e.version, e.payload FROM unnest($2::bigint[], $3::jsonb[]) AS e(version, payload)"
            ),
            load: format!(
                "SELECT payload FROM \"{schema}\".events WHERE stream_id = $1 ORDER BY version"
            ),
            pool,
        }
    }
}

impl Side for Raw {
    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        sqlx::query(AssertSqlSafe(self.insert_one.clone()))
            .bind(stream)
            .bind(i64::try_from(expected + 1).expect("small"))
            .bind(Json(Deposited { amount }))
            .execute(&self.pool)
            .await
            .expect("raw append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        let versions: Vec<i64> = (1..=count)
            .map(|n| i64::try_from(expected + n).expect("small"))
            .collect();
        let payloads: Vec<Json<Deposited>> = (expected..expected + count)
            .map(|amount| Json(Deposited { amount }))
            .collect();
        sqlx::query(AssertSqlSafe(self.insert_batch.clone()))
            .bind(stream)
            .bind(versions)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .expect("raw batch");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        use futures::TryStreamExt;
        let mut rows = sqlx::query_scalar::<_, Json<Deposited>>(AssertSqlSafe(self.load.clone()))
            .bind(stream)
            .fetch(&self.pool);
        let mut balance = 0;
        while let Some(Json(event)) = rows.try_next().await.expect("row") {
            balance += event.amount;
        }
        balance
    }
}
