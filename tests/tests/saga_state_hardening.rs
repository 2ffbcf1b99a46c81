//! The saga state store hardening checks on every implementation: in
//! memory, SQLite and PostgreSQL (needs `DATABASE_URL`).

use orchestrix::saga::{
    InMemorySagaStateStore, PostgreSQLSagaStateStore, SagaStateStore, SqliteSagaStateStore,
};
use orchestrix_tests::conformance::saga_hardening;
use orchestrix_tests::postgres::{database_url, pool, unique_schema};

#[tokio::test]
async fn in_memory_store_keeps_the_limits() {
    saga_hardening::run_all(&InMemorySagaStateStore::new(), "memory").await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_limits() {
    let store = SqliteSagaStateStore::connect("sqlite::memory:")
        .await
        .expect("a memory database opens");
    saga_hardening::run_all(&store, "sqlite").await;
}

#[tokio::test]
async fn postgres_store_keeps_the_limits() {
    let Some(url) = database_url("postgres_store_keeps_the_limits") else {
        return;
    };
    let schema = unique_schema("saga_hard");
    let store = PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 4).await, &schema)
        .expect("valid schema");
    store.initialize().await.expect("the saga schema migrates");
    saga_hardening::run_all(&store, "pg").await;
    let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema().quoted());
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(store.pool())
        .await
        .expect("the schema drops");
}
