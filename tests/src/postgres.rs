//! PostgreSQL test support: where the test database is, and a fresh schema
//! per test so tests run in parallel and repeatedly.
//!
//! Tests read `DATABASE_URL`. Without it they print a notice and pass as
//! skipped, except when `CI` is set: there a missing database fails the
//! test.

use orchestrix::postgres::{PgPool, PostgresOptions, connect_pool};
use orchestrix::store::postgres::PostgreSQLEventStore;
use std::io::Write as _;

use uuid::Uuid;

/// `DATABASE_URL`, or `None` after printing that `test` was skipped.
///
/// # Panics
///
/// When `DATABASE_URL` is unset and `CI` is set.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: DATABASE_URL is not set, but CI is: the PostgreSQL tests must run in CI"
            );
            // Written to the process's stderr directly: the test harness
            // captures `eprintln!` of passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: set DATABASE_URL to run it against PostgreSQL"
            );
            None
        }
    }
}

/// A schema name no other test (or earlier run) uses.
pub fn unique_schema(prefix: &str) -> String {
    let id = Uuid::new_v4().simple().to_string();
    format!("t_{prefix}_{}", &id[..12])
}

/// A store in the fixed schema `schema`, shared by every case of a suite
/// (each connects its own small pool, which also exercises `initialize()`
/// running concurrently), or `None` when `test` is skipped.
pub async fn shared_schema_store(test: &str, schema: &str) -> Option<PostgreSQLEventStore> {
    let url = database_url(test)?;
    let options = PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(6)
        .schema(schema)
        .build()
        .expect("valid options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("the test database answers");
    store.initialize().await.expect("the schema migrates");
    Some(store)
}

/// A throwaway schema with an initialized event store in it.
#[derive(Debug)]
pub struct TestStore {
    /// The store, initialized.
    pub store: PostgreSQLEventStore,
    /// Its schema's name.
    pub schema: String,
    /// The database URL.
    pub url: String,
}

impl TestStore {
    /// A fresh store for `test` in its own schema with a pool of at most
    /// `pool_max_size` connections, or `None` when the test is skipped.
    pub async fn new(test: &str, pool_max_size: u32) -> Option<Self> {
        let url = database_url(test)?;
        let schema = unique_schema("es");
        let options = PostgresOptions::builder(url.clone())
            .pool_min_size(0)
            .pool_max_size(pool_max_size)
            .schema(schema.clone())
            .build()
            .expect("valid test options");
        let store = PostgreSQLEventStore::connect_with(options)
            .await
            .expect("the test database answers");
        store.initialize().await.expect("the schema migrates");
        Some(Self { store, schema, url })
    }

    /// The store's pool.
    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    /// Drops the schema and closes the pool.
    pub async fn cleanup(self) {
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(self.store.pool())
            .await
            .expect("the schema drops");
        self.store.pool().close().await;
    }
}

/// A pool of at most `max` connections to `url`, for tests that set up
/// their own stores.
pub async fn pool(url: &str, max: u32) -> PgPool {
    let options = PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(max)
        .build()
        .expect("valid url");
    connect_pool(&options)
        .await
        .expect("the test database answers")
}
