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
    // Opening a connection runs pragmas (the journal mode among them) that
    // SQLite may refuse at once with SQLITE_BUSY while another connection
    // sets up or migrates the file, without calling the busy handler: retry
    // until the busy timeout has passed, as every other call waits.
    let started = std::time::Instant::now();
    let pool = loop {
        match pool
            .clone()
            .connect_with(options.connect_options().clone())
            .await
        {
            Ok(pool) => break pool,
            Err(error) => {
                let error = SqliteError::from_sqlx(error, path, "open the database");
                let locked = matches!(error, SqliteError::Locked { .. });
                if !locked || started.elapsed() >= options.busy_timeout_duration() {
                    return Err(error);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    // Opening is lazy about the file's contents: read the schema once so a
    // file that is not a database fails here, not on the first append.
    sqlx::query("SELECT count(*) FROM sqlite_schema")
        .execute(&pool)
        .await
        .map_err(|error| SqliteError::from_sqlx(error, path, "read the database schema"))?;
    Ok(pool)
}
