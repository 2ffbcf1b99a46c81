//! Versioned migrations, applied inside a configurable schema.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, PgPool};

use super::{PostgresError, SqlIdentifier, describe_target};
pub use crate::migration::Migration;
use crate::migration::check_order;

/// The placeholder a migration's SQL uses for the quoted schema name, where
/// a name must be qualified (inside function bodies, which resolve names
/// when they run, not when they are created).
pub const SCHEMA_PLACEHOLDER: &str = "{{schema}}";

/// The placeholder for the schema name as an SQL string literal (for
/// example to derive an advisory-lock key per schema).
pub const SCHEMA_LITERAL_PLACEHOLDER: &str = "{{schema_literal}}";

/// The table, inside the schema, that records which migrations ran.
const BOOKKEEPING_TABLE: &str = "orchestrix_migrations";

/// `migration`'s SQL for `schema`: the placeholders replaced.
fn sql_for(migration: &Migration, schema: &SqlIdentifier) -> String {
    // A valid identifier holds neither quotes nor backslashes, so it is
    // safe inside both kinds of quotes.
    migration
        .sql()
        .replace(SCHEMA_PLACEHOLDER, &schema.quoted())
        .replace(SCHEMA_LITERAL_PLACEHOLDER, &format!("'{schema}'"))
}

/// Creates `schema` if needed and applies every migration of `migrations`
/// that it does not have yet, in version order, recording each in the
/// schema's own `orchestrix_migrations` table.
///
/// Each migration's SQL runs with `search_path` set to the target schema,
/// so plain DDL may leave names unqualified; `{{schema}}` is replaced by the
/// quoted schema name for the places that must qualify them (function
/// bodies), and `{{schema_literal}}` by the name as a string literal.
///
/// Idempotent, and safe from many processes at once: everything happens in
/// one transaction that first takes a transaction-scoped advisory lock keyed
/// on the schema name, so concurrent callers wait for the first one and then
/// find nothing left to do. A failing migration rolls back entirely.
pub async fn migrate(
    pool: &PgPool,
    schema: &SqlIdentifier,
    migrations: &[Migration],
) -> Result<(), PostgresError> {
    check_order(migrations).map_err(PostgresError::Configuration)?;
    let target = describe_target(&pool.connect_options());
    let failed = |operation: &str| {
        let operation = format!("{operation} (schema `{schema}`)");
        let target = target.clone();
        move |error| PostgresError::from_sqlx(error, &target, operation)
    };

    let mut tx = pool.begin().await.map_err(failed("begin the migration"))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("orchestrix.migrate.{schema}"))
        .execute(&mut *tx)
        .await
        .map_err(failed("lock the schema for migration"))?;
    let quoted = schema.quoted();
    let setup = format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.{BOOKKEEPING_TABLE} (
             version bigint PRIMARY KEY,
             description text NOT NULL,
             checksum bigint NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         SET LOCAL search_path TO {quoted};"
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut *tx)
        .await
        .map_err(failed("create the schema"))?;
    let applied: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {quoted}.{BOOKKEEPING_TABLE}"
    )))
    .fetch_all(&mut *tx)
    .await
    .map_err(failed("read the applied migrations"))?
    .into_iter()
    .collect();

    for migration in migrations {
        if let Some(&checksum) = applied.get(&migration.version()) {
            if checksum != migration.checksum() {
                return Err(PostgresError::ChangedMigration {
                    version: migration.version(),
                    description: migration.description().to_owned(),
                    schema: schema.to_string(),
                    applied: checksum,
                    shipped: migration.checksum(),
                });
            }
            continue;
        }
        let broken = |error: sqlx::Error| PostgresError::Migration {
            version: migration.version(),
            description: migration.description().to_owned(),
            schema: schema.to_string(),
            source: Box::new(error),
        };
        sqlx::raw_sql(AssertSqlSafe(sql_for(migration, schema)))
            .execute(&mut *tx)
            .await
            .map_err(broken)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {quoted}.{BOOKKEEPING_TABLE} (version, description, checksum) VALUES ($1, $2, $3)"
        )))
        .bind(migration.version())
        .bind(migration.description())
        .bind(migration.checksum())
        .execute(&mut *tx)
        .await
        .map_err(broken)?;
        tracing::info!(schema = %schema, version = migration.version(), description = migration.description(), "applied migration");
    }
    tx.commit().await.map_err(failed("commit the migration"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_becomes_the_quoted_schema() {
        let schema = SqlIdentifier::new("s1").expect("valid");
        let migration = Migration::new(1, "f", "SELECT {{schema_literal}} FROM {{schema}}.events");
        assert_eq!(
            sql_for(&migration, &schema),
            "SELECT 's1' FROM \"s1\".events"
        );
    }
}
