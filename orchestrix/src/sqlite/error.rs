//! What can go wrong between Orchestrix and a SQLite file, in SQLite's own
//! terms: the file is missing, locked, read-only or not a database.

use std::path::{Path, PathBuf};

use crate::error::BoxError;

/// SQLite primary result codes (the low byte of an extended code).
mod code {
    pub(super) const BUSY: i64 = 5;
    pub(super) const LOCKED: i64 = 6;
    pub(super) const READONLY: i64 = 8;
    pub(super) const CORRUPT: i64 = 11;
    pub(super) const CANTOPEN: i64 = 14;
    pub(super) const NOTADB: i64 = 26;
}

/// Why opening, preparing or using a SQLite database failed.
///
/// The stores wrap it in their own errors ([`StoreError`](crate::store::StoreError),
/// [`SagaStoreError`](crate::saga::SagaStoreError)) as the `source`;
/// [`SqliteError::find`] digs it out again to match on the kind:
///
/// ```no_run
/// use orchestrix::prelude::*;
/// use orchestrix::sqlite::SqliteError;
/// use orchestrix::store::sqlite::SqliteEventStore;
///
/// # async fn run() {
/// match SqliteEventStore::connect("sqlite://orders.db?mode=ro").await {
///     Ok(_store) => {}
///     Err(error) => match SqliteError::find(&error) {
///         Some(SqliteError::Missing { path }) => eprintln!("no database at {}", path.display()),
///         Some(SqliteError::Corrupt { path, .. }) => eprintln!("{} is damaged", path.display()),
///         _ => eprintln!("{error}"),
///     },
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The options are invalid: a connection string that does not parse or
    /// is not a `sqlite:` one, a pool size of zero.
    #[error("invalid SQLite configuration: {0}")]
    Configuration(String),
    /// The file does not exist and creating it was turned off.
    #[error("SQLite database {} does not exist (and create_if_missing is off)", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file (or its directory, for the `-wal` and `-shm` files) cannot
    /// be opened: no permission, a directory that does not exist.
    #[error("SQLite database {} cannot be opened: {source}", path.display())]
    CannotOpen {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// The file is not a SQLite database, or is damaged.
    #[error("SQLite database {} is corrupt or not a database: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// Another connection (another process) held the database's write lock
    /// for longer than the busy timeout while this one tried to `operation`;
    /// or, with a [`WriteQueueTimeout`] as the source, the store's own
    /// earlier writes did (a write waits for its turn in the store and for
    /// the file's lock together at most the busy timeout and a hundredth of
    /// it, not counting a wait for a free pooled connection once its turn
    /// came; with a busy timeout of 0 the turn is waited for without a
    /// bound).
    #[error("SQLite database {} stayed locked past the busy timeout while trying to {operation}: {source}", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// What was being done.
        operation: String,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// A write was attempted on a database opened read-only (or a file the
    /// process may not write).
    #[error("SQLite database {} is read-only; cannot {operation}: {source}", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// What was being done.
        operation: String,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// Migration `version` could not be applied; nothing of it was kept.
    #[error("SQLite migration {version} ({description}) of {} failed: {source}", path.display())]
    Migration {
        /// The migration's version number.
        version: i64,
        /// The migration's description.
        description: String,
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// A migration already applied to the file differs from the one shipped
    /// with this program (its text was changed after release).
    #[error(
        "SQLite migration {version} ({description}) of {} was applied with checksum {applied:#x}, \
         but this program ships checksum {shipped:#x}; migrations must not change once released",
        path.display()
    )]
    ChangedMigration {
        /// The migration's version number.
        version: i64,
        /// The migration's description.
        description: String,
        /// The file.
        path: PathBuf,
        /// Checksum recorded in the file.
        applied: i64,
        /// Checksum of the shipped text.
        shipped: i64,
    },
    /// Any other failure while doing `operation`.
    #[error("SQLite failed to {operation} on {}: {source}", path.display())]
    Database {
        /// What was being done.
        operation: String,
        /// The file.
        path: PathBuf,
        /// What the driver said.
        #[source]
        source: BoxError,
    },
}

/// Why a write of a SQLite store failed before it reached the file: its
/// turn in the store's in-process write queue (where the writes of a store
/// and its clones take turns) did not come within the busy timeout. The
/// source of the [`SqliteError::Locked`] it fails with, as a file locked
/// past the busy timeout does: the queue and SQLite's busy handler together
/// wait no longer than the busy timeout and a hundredth of it (a turn that
/// came within that hundredth leaves SQLite its whole timeout).
#[derive(Debug, thiserror::Error)]
#[error("waited {waited:?} (the busy timeout) for earlier writes of this store to finish")]
#[non_exhaustive]
pub struct WriteQueueTimeout {
    /// How long the write waited for its turn.
    pub waited: std::time::Duration,
}

impl SqliteError {
    /// Classifies a driver error met while doing `operation` on `path`, by
    /// SQLite's result code (never by message text).
    pub fn from_sqlx(error: sqlx::Error, path: &Path, operation: impl Into<String>) -> Self {
        let path = path.to_owned();
        let primary = error
            .as_database_error()
            .and_then(|database| database.code())
            .and_then(|code| code.parse::<i64>().ok())
            .map(|extended| extended & 0xff);
        let source: BoxError = Box::new(error);
        match primary {
            Some(code::BUSY | code::LOCKED) => Self::Locked {
                path,
                operation: operation.into(),
                source,
            },
            Some(code::READONLY) => Self::ReadOnly {
                path,
                operation: operation.into(),
                source,
            },
            Some(code::CORRUPT | code::NOTADB) => Self::Corrupt { path, source },
            Some(code::CANTOPEN) => Self::CannotOpen { path, source },
            _ => Self::Database {
                operation: operation.into(),
                path,
                source,
            },
        }
    }

    /// The `SqliteError` in `error` or in its chain of sources, if any: how
    /// to tell a locked file from a read-only one behind a store's error.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<Self>() {
                return Some(found);
            }
            current = error.source();
        }
        None
    }

    /// Whether the database could not be used at all (missing, unopenable,
    /// corrupt, locked past the timeout), rather than refusing one statement.
    fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Missing { .. }
                | Self::CannotOpen { .. }
                | Self::Corrupt { .. }
                | Self::Locked { .. }
        )
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Self::Configuration(_) => None,
            Self::Missing { path }
            | Self::CannotOpen { path, .. }
            | Self::Corrupt { path, .. }
            | Self::Locked { path, .. }
            | Self::ReadOnly { path, .. }
            | Self::Migration { path, .. }
            | Self::ChangedMigration { path, .. }
            | Self::Database { path, .. } => Some(path),
        }
    }

    fn operation(&self) -> String {
        match self {
            Self::Locked { operation, .. }
            | Self::ReadOnly { operation, .. }
            | Self::Database { operation, .. } => operation.clone(),
            Self::Migration { .. } | Self::ChangedMigration { .. } => {
                "migrate the database".to_owned()
            }
            _ => "open the database".to_owned(),
        }
    }
}

/// Missing, unopenable, corrupt and locked files are
/// [`Unavailable`](crate::store::StoreError::Unavailable); the rest
/// [`Backend`](crate::store::StoreError::Backend). Either way the
/// `SqliteError` is the source.
impl From<SqliteError> for crate::store::StoreError {
    fn from(error: SqliteError) -> Self {
        use crate::store::StoreError;
        if let SqliteError::Configuration(what) = error {
            return StoreError::Configuration(what);
        }
        if error.is_unavailable() {
            return StoreError::Unavailable {
                target: error
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: Box::new(error),
            };
        }
        StoreError::Backend {
            operation: error.operation(),
            source: Box::new(error),
        }
    }
}

impl SqliteError {
    /// As a saga store error for `operation` on `saga_id` (`-` for many),
    /// on the same rule as the event store's conversion.
    pub(crate) fn into_saga_error(
        self,
        operation: &'static str,
        saga_id: &str,
    ) -> crate::saga::SagaStoreError {
        use crate::saga::SagaStoreError;
        if let SqliteError::Configuration(what) = self {
            return SagaStoreError::Configuration(what);
        }
        if self.is_unavailable() {
            return SagaStoreError::Unavailable {
                operation,
                target: self
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: Box::new(self),
            };
        }
        SagaStoreError::Backend {
            operation,
            saga_id: saga_id.to_owned(),
            source: Box::new(self),
        }
    }
}
