//! Versioned migrations for a SQLite file.

use std::collections::HashMap;
use std::path::Path;

use sqlx::{AssertSqlSafe, SqlitePool};

use super::SqliteError;
use crate::migration::{Migration, check_order};

/// The table that records which migrations ran.
const BOOKKEEPING_TABLE: &str = "orchestrix_migrations";

/// Applies every migration of `migrations` that the database does not have
/// yet, in version order, recording each in its `orchestrix_migrations`
/// table (shared by the stores of one file: each passes its own list).
///
/// Idempotent, and safe from many connections and processes at once: the
/// changes happen in one `BEGIN IMMEDIATE` transaction, which holds the
/// file's write lock, so concurrent callers wait (up to the busy timeout)
/// and then find nothing left to do; a failing migration rolls back
/// entirely. When nothing is missing it only reads, so a read-only file
/// that is up to date opens fine. A migration whose text differs from the
/// one recorded is [`SqliteError::ChangedMigration`].
pub async fn migrate(
    pool: &SqlitePool,
    path: &Path,
    migrations: &[Migration],
) -> Result<(), SqliteError> {
    check_order(migrations).map_err(SqliteError::Configuration)?;
    let failed =
        |operation: &'static str| move |error| SqliteError::from_sqlx(error, path, operation);

    let mut connection = pool.acquire().await.map_err(failed("open the database"))?;
    if pending(&applied(&mut connection, path).await?, migrations, path)?.is_empty() {
        return Ok(());
    }
    drop(connection);

    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(failed("lock the database for migration"))?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {BOOKKEEPING_TABLE} (
             version INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             checksum INTEGER NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )"
    )))
    .execute(&mut *tx)
    .await
    .map_err(failed("create the migration table"))?;
    // Read again under the lock: another process may have migrated meanwhile.
    let applied = applied(&mut tx, path).await?;
    for migration in pending(&applied, migrations, path)? {
        let broken = |error: sqlx::Error| SqliteError::Migration {
            version: migration.version(),
            description: migration.description().to_owned(),
            path: path.to_owned(),
            source: Box::new(error),
        };
        sqlx::raw_sql(AssertSqlSafe(migration.sql()))
            .execute(&mut *tx)
            .await
            .map_err(broken)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {BOOKKEEPING_TABLE} (version, description, checksum) VALUES (?, ?, ?)"
        )))
        .bind(migration.version())
        .bind(migration.description())
        .bind(migration.checksum())
        .execute(&mut *tx)
        .await
        .map_err(broken)?;
        tracing::info!(path = %path.display(), version = migration.version(), description = migration.description(), "applied migration");
    }
    tx.commit().await.map_err(failed("commit the migration"))?;
    Ok(())
}

/// The applied migrations' checksums by version (none before the first
/// migration created the table).
async fn applied(
    connection: &mut sqlx::SqliteConnection,
    path: &Path,
) -> Result<HashMap<i64, i64>, SqliteError> {
    let failed = |error| SqliteError::from_sqlx(error, path, "read the applied migrations");
    let exists: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?")
            .bind(BOOKKEEPING_TABLE)
            .fetch_one(&mut *connection)
            .await
            .map_err(failed)?;
    if exists == 0 {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {BOOKKEEPING_TABLE}"
    )))
    .fetch_all(&mut *connection)
    .await
    .map_err(failed)?;
    Ok(rows.into_iter().collect())
}

/// The migrations not applied yet, after checking that the applied ones
/// are unchanged.
fn pending<'m>(
    applied: &HashMap<i64, i64>,
    migrations: &'m [Migration],
    path: &Path,
) -> Result<Vec<&'m Migration>, SqliteError> {
    let mut pending = Vec::new();
    for migration in migrations {
        match applied.get(&migration.version()) {
            Some(&checksum) if checksum != migration.checksum() => {
                return Err(SqliteError::ChangedMigration {
                    version: migration.version(),
                    description: migration.description().to_owned(),
                    path: path.to_owned(),
                    applied: checksum,
                    shipped: migration.checksum(),
                });
            }
            Some(_) => {}
            None => pending.push(migration),
        }
    }
    Ok(pending)
}
