//! Versioned migrations, applied inside a configurable schema.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, PgPool};

use super::{PostgresError, SqlIdentifier, describe_target};

/// The placeholder a migration's SQL uses for the quoted schema name, where
/// a name must be qualified (inside function bodies, which resolve names
/// when they run, not when they are created).
pub const SCHEMA_PLACEHOLDER: &str = "{{schema}}";

/// The placeholder for the schema name as an SQL string literal (for
/// example to derive an advisory-lock key per schema).
pub const SCHEMA_LITERAL_PLACEHOLDER: &str = "{{schema_literal}}";

/// The table, inside the schema, that records which migrations ran.
const BOOKKEEPING_TABLE: &str = "orchestrix_migrations";

/// One versioned step of a store's schema, shipped in the crate
/// (`orchestrix/migrations/NNNN_description.sql`).
///
/// The SQL runs with `search_path` set to the target schema, so plain DDL
/// may leave names unqualified; `{{schema}}` is replaced by the quoted schema
/// name for the places that must qualify them (function bodies), and
/// `{{schema_literal}}` by the name as a string literal. A released migration never
/// changes: [`migrate`] refuses a migration whose text differs from the one
/// recorded as applied.
///
/// Version ranges: `1..100` belong to the event store, `100..200` to the
/// saga state store, `200..300` to the projection state store.
///
/// ```
/// use orchestrix::postgres::Migration;
///
/// const MIGRATIONS: &[Migration] = &[Migration::new(
///     100,
///     "saga state",
///     "CREATE TABLE sagas (saga_id text PRIMARY KEY, state jsonb NOT NULL);",
/// )];
/// assert_eq!(MIGRATIONS[0].version(), 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

impl Migration {
    /// A migration with its version number, a short description and its SQL
    /// (usually `include_str!("../../migrations/NNNN_name.sql")`).
    pub const fn new(version: i64, description: &'static str, sql: &'static str) -> Self {
        Self {
            version,
            description,
            sql,
        }
    }

    /// The version number; migrations apply in ascending order.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The short description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The SQL template (with `{{schema}}` placeholders).
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    /// A checksum of the SQL template, recorded when the migration is
    /// applied (64-bit FNV-1a: stable across builds and platforms).
    pub fn checksum(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    fn sql_for(&self, schema: &SqlIdentifier) -> String {
        // A valid identifier holds neither quotes nor backslashes, so it is
        // safe inside both kinds of quotes.
        self.sql
            .replace(SCHEMA_PLACEHOLDER, &schema.quoted())
            .replace(SCHEMA_LITERAL_PLACEHOLDER, &format!("'{schema}'"))
    }
}

/// Creates `schema` if needed and applies every migration of `migrations`
/// that it does not have yet, in version order, recording each in the
/// schema's own `orchestrix_migrations` table.
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
    check_order(migrations)?;
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
        if let Some(&checksum) = applied.get(&migration.version) {
            if checksum != migration.checksum() {
                return Err(PostgresError::ChangedMigration {
                    version: migration.version,
                    description: migration.description.to_owned(),
                    schema: schema.to_string(),
                    applied: checksum,
                    shipped: migration.checksum(),
                });
            }
            continue;
        }
        let broken = |error: sqlx::Error| PostgresError::Migration {
            version: migration.version,
            description: migration.description.to_owned(),
            schema: schema.to_string(),
            source: Box::new(error),
        };
        sqlx::raw_sql(AssertSqlSafe(migration.sql_for(schema)))
            .execute(&mut *tx)
            .await
            .map_err(broken)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {quoted}.{BOOKKEEPING_TABLE} (version, description, checksum) VALUES ($1, $2, $3)"
        )))
        .bind(migration.version)
        .bind(migration.description)
        .bind(migration.checksum())
        .execute(&mut *tx)
        .await
        .map_err(broken)?;
        tracing::info!(schema = %schema, version = migration.version, description = migration.description, "applied migration");
    }
    tx.commit().await.map_err(failed("commit the migration"))?;
    Ok(())
}

fn check_order(migrations: &[Migration]) -> Result<(), PostgresError> {
    for pair in migrations.windows(2) {
        if pair[0].version >= pair[1].version {
            return Err(PostgresError::Configuration(format!(
                "migrations must be listed in strictly ascending version order, but {} ({}) comes before {} ({})",
                pair[0].version, pair[0].description, pair[1].version, pair[1].description
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_follows_the_text() {
        let a = Migration::new(1, "a", "CREATE TABLE t (x int);");
        let b = Migration::new(1, "a", "CREATE TABLE t (x bigint);");
        assert_eq!(a.checksum(), Migration::new(7, "other", a.sql()).checksum());
        assert_ne!(a.checksum(), b.checksum());
    }

    #[test]
    fn the_placeholder_becomes_the_quoted_schema() {
        let schema = SqlIdentifier::new("s1").expect("valid");
        let migration = Migration::new(1, "f", "SELECT {{schema_literal}} FROM {{schema}}.events");
        assert_eq!(migration.sql_for(&schema), "SELECT 's1' FROM \"s1\".events");
    }

    #[test]
    fn out_of_order_lists_are_refused() {
        let list = [Migration::new(2, "b", ""), Migration::new(1, "a", "")];
        assert!(matches!(
            check_order(&list),
            Err(PostgresError::Configuration(_))
        ));
    }
}
