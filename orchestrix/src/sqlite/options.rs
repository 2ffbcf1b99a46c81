//! Where the database lives and how to open it: file or memory, creating
//! it or not, busy timeout, durability, pool size.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use super::SqliteError;

/// How a SQLite-backed store opens its database.
///
/// Built with [`SqliteOptions::builder`] from a connection string:
/// `sqlite://orders.db` (a file, relative to the working directory),
/// `sqlite:///var/lib/app/orders.db` (an absolute path) or `sqlite::memory:`
/// (a private in-memory database, gone when the store is dropped: for
/// tests). `?mode=ro` opens a file read-only.
///
/// Defaults: the file is created if missing, WAL journal, `synchronous =
/// FULL` (a committed append survives a power cut), a busy timeout of 5 s
/// (a writer waits that long for another connection or process to finish
/// its write), a pool of up to 8 connections (1 for a memory database:
/// every call then goes through one connection, which also keeps the
/// database alive).
///
/// ```
/// use std::time::Duration;
/// use orchestrix::sqlite::SqliteOptions;
///
/// let options = SqliteOptions::builder("sqlite://orders.db")
///     .busy_timeout(Duration::from_secs(10))
///     .pool_max_size(4)
///     .build()
///     .expect("valid options");
/// assert!(options.path().ends_with("orders.db"));
/// assert!(!options.is_in_memory());
///
/// assert!(SqliteOptions::new("sqlite::memory:").expect("valid").is_in_memory());
/// assert!(SqliteOptions::new("postgres://localhost/db").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    connect: SqliteConnectOptions,
    path: PathBuf,
    in_memory: bool,
    read_only: bool,
    create_if_missing: bool,
    pool_max_size: u32,
    busy_timeout: Duration,
}

impl SqliteOptions {
    /// Starts options for `connection_string` (`sqlite://path`,
    /// `sqlite:path` or `sqlite::memory:`).
    pub fn builder(connection_string: impl Into<String>) -> SqliteOptionsBuilder {
        SqliteOptionsBuilder {
            connection_string: connection_string.into(),
            create_if_missing: None,
            read_only: None,
            busy_timeout: Duration::from_secs(5),
            synchronous: SqliteSynchronous::Full,
            pool_max_size: 8,
        }
    }

    /// Options for `connection_string` with every default.
    pub fn new(connection_string: impl Into<String>) -> Result<Self, SqliteError> {
        Self::builder(connection_string).build()
    }

    /// Options for the database file at `path`, with every default.
    pub fn file(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::builder(format!("sqlite://{}", path.as_ref().display())).build()
    }

    /// The parsed connection settings.
    pub fn connect_options(&self) -> &SqliteConnectOptions {
        &self.connect
    }

    /// The database file (for a memory database, its internal name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the database lives in memory only.
    pub fn is_in_memory(&self) -> bool {
        self.in_memory
    }

    /// Whether the database is opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether a missing file is created.
    pub fn creates_if_missing(&self) -> bool {
        self.create_if_missing
    }

    /// Connections the pool opens at most.
    pub fn pool_max_size(&self) -> u32 {
        self.pool_max_size
    }

    /// How long a call waits for another connection's lock before it fails
    /// as [`SqliteError::Locked`]; opening the pool waits as long.
    pub fn busy_timeout_duration(&self) -> Duration {
        self.busy_timeout
    }
}

/// Builds [`SqliteOptions`]; see there for the defaults.
#[derive(Clone, Debug)]
#[must_use]
pub struct SqliteOptionsBuilder {
    connection_string: String,
    create_if_missing: Option<bool>,
    read_only: Option<bool>,
    busy_timeout: Duration,
    synchronous: SqliteSynchronous,
    pool_max_size: u32,
}

impl SqliteOptionsBuilder {
    /// Create the file if it does not exist (default on; off for a
    /// read-only database). Off, a missing file is
    /// [`SqliteError::Missing`].
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = Some(create);
        self
    }

    /// Open the database read-only (default: as the connection string's
    /// `mode` says, else off). Every write then fails with
    /// [`SqliteError::ReadOnly`].
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// How long a call waits for the database's write lock, held by another
    /// connection or process, before failing with [`SqliteError::Locked`]
    /// (default 5 s). An event store's write counts its wait for its turn
    /// behind the store's earlier writes against the same timeout (beyond
    /// a hundredth of it; not a wait for a free pooled connection), so the
    /// writes queued in one store must fit in one busy timeout together:
    /// one that does not fails `Locked` with a
    /// [`WriteQueueTimeout`](crate::sqlite::WriteQueueTimeout) source rather
    /// than wait. `Duration::ZERO`: SQLite fails at once on another
    /// connection's or process's lock, while the store's queue waits for
    /// its turn without a bound. A memory database's busy timeout is never
    /// shortened (see the event store's docs).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// SQLite's `synchronous` setting (default `FULL`: a commit is on disk
    /// when the call returns). `NORMAL` is faster and still never corrupts
    /// the file, but the last commits may be lost on a power cut (not on a
    /// crash of the program).
    pub fn synchronous(mut self, synchronous: SqliteSynchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Connections the pool opens at most (default 8; always 1 for a memory
    /// database). Readers run in parallel; writers take turns anyway.
    pub fn pool_max_size(mut self, size: u32) -> Self {
        self.pool_max_size = size;
        self
    }

    /// Checks everything and gives the options.
    pub fn build(self) -> Result<SqliteOptions, SqliteError> {
        let text = self.connection_string.trim();
        if !text.starts_with("sqlite:") {
            return Err(SqliteError::Configuration(format!(
                "the connection string must start with `sqlite:` (e.g. `sqlite://orders.db` or \
                 `sqlite::memory:`), not `{text}`"
            )));
        }
        let in_memory = text == "sqlite::memory:"
            || text.starts_with("sqlite::memory:?")
            || text.starts_with("sqlite://:memory:");
        let query_read_only = text
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "mode=ro"));
        let read_only = self.read_only.unwrap_or(query_read_only);
        let create_if_missing = !read_only && !in_memory && self.create_if_missing.unwrap_or(true);
        if self.pool_max_size == 0 {
            return Err(SqliteError::Configuration(
                "pool_max_size must be at least 1".to_owned(),
            ));
        }
        let mut connect = SqliteConnectOptions::from_str(text).map_err(|error| {
            SqliteError::Configuration(format!(
                "the connection string `{text}` does not parse: {error}"
            ))
        })?;
        connect = connect
            .read_only(read_only)
            .create_if_missing(create_if_missing)
            .busy_timeout(self.busy_timeout)
            .synchronous(self.synchronous);
        if !in_memory && !read_only {
            // WAL: readers never wait for the writer, and a commit is one
            // append to the log. Setting it is a write, so a read-only
            // connection keeps whatever mode the file has.
            connect = connect.journal_mode(SqliteJournalMode::Wal);
        }
        Ok(SqliteOptions {
            path: connect.get_filename().to_owned(),
            connect,
            in_memory,
            read_only,
            create_if_missing,
            pool_max_size: if in_memory { 1 } else { self.pool_max_size },
            busy_timeout: self.busy_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_created_in_wal_mode_by_default() {
        let options = SqliteOptions::new("sqlite://data/orders.db").expect("valid");
        assert_eq!(options.path(), Path::new("data/orders.db"));
        assert!(options.creates_if_missing());
        assert!(!options.is_read_only());
        assert_eq!(options.pool_max_size(), 8);
    }

    #[test]
    fn memory_databases_use_one_connection() {
        let options = SqliteOptions::builder("sqlite::memory:")
            .pool_max_size(8)
            .build()
            .expect("valid");
        assert!(options.is_in_memory());
        assert_eq!(options.pool_max_size(), 1);
    }

    #[test]
    fn read_only_never_creates() {
        let options = SqliteOptions::new("sqlite://x.db?mode=ro").expect("valid");
        assert!(options.is_read_only());
        assert!(!options.creates_if_missing());
        let options = SqliteOptions::builder("sqlite://x.db")
            .read_only(true)
            .build()
            .expect("valid");
        assert!(options.is_read_only() && !options.creates_if_missing());
    }

    #[test]
    fn bad_strings_and_sizes_are_configuration_errors() {
        for bad in [
            "postgres://h/db",
            "orders.db",
            "sqlite://x.db?mode=nonsense",
        ] {
            let error = SqliteOptions::new(bad).expect_err(bad);
            assert!(matches!(error, SqliteError::Configuration(_)), "{error}");
        }
        let error = SqliteOptions::builder("sqlite::memory:")
            .pool_max_size(0)
            .build()
            .expect_err("zero");
        assert!(error.to_string().contains("pool_max_size"), "{error}");
    }
}
