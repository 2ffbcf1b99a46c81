//! Opening the connection pool.

use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

use super::{SqliteError, SqliteOptions};

/// Opens a pool as `options` describe and checks that the file is a usable
/// SQLite database.
///
/// A missing file (when creating is off) is [`SqliteError::Missing`], a
/// file that is not a database [`SqliteError::Corrupt`], one that cannot be
/// opened [`SqliteError::CannotOpen`]. A memory database keeps its one
/// connection for as long as the pool lives (closing it would drop the
/// data).
pub async fn connect_pool(options: &SqliteOptions) -> Result<SqlitePool, SqliteError> {
    let path = options.path();
    if !options.is_in_memory() && !options.creates_if_missing() && !path.exists() {
        return Err(SqliteError::Missing {
            path: path.to_owned(),
        });
    }
    let mut pool = SqlitePoolOptions::new().max_connections(options.pool_max_size());
    if options.is_in_memory() {
        pool = pool
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let pool = pool
        .connect_with(options.connect_options().clone())
        .await
        .map_err(|error| SqliteError::from_sqlx(error, path, "open the database"))?;
    // Opening is lazy about the file's contents: read the schema once so a
    // file that is not a database fails here, not on the first append.
    sqlx::query("SELECT count(*) FROM sqlite_schema")
        .execute(&pool)
        .await
        .map_err(|error| SqliteError::from_sqlx(error, path, "read the database schema"))?;
    Ok(pool)
}
