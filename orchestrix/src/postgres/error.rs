//! What can go wrong between Orchestrix and PostgreSQL.

use crate::error::BoxError;

/// Why connecting to, or preparing, PostgreSQL failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The options are invalid: a connection string that does not parse, a
    /// pool size of zero, a schema name that is not a plain identifier.
    #[error("invalid PostgreSQL configuration: {0}")]
    Configuration(String),
    /// The server could not be reached (or went away).
    #[error("PostgreSQL unreachable at {target}: {source}")]
    Unavailable {
        /// The host and port tried (never the password).
        target: String,
        /// What the driver said.
        #[source]
        source: BoxError,
    },
    /// Migration `version` could not be applied; nothing of it was kept.
    #[error("PostgreSQL migration {version} ({description}) in schema `{schema}` failed: {source}")]
    Migration {
        /// The migration's version number.
        version: i64,
        /// The migration's description.
        description: String,
        /// The schema being migrated.
        schema: String,
        /// What the server said.
        #[source]
        source: BoxError,
    },
    /// A migration already applied in the database differs from the one
    /// shipped with this program (its text was changed after release).
    #[error(
        "PostgreSQL migration {version} ({description}) in schema `{schema}` was applied with \
         checksum {applied:#x}, but this program ships checksum {shipped:#x}; migrations must \
         not change once released, add a new one instead"
    )]
    ChangedMigration {
        /// The migration's version number.
        version: i64,
        /// The migration's description.
        description: String,
        /// The schema being migrated.
        schema: String,
        /// Checksum recorded in the database.
        applied: i64,
        /// Checksum of the shipped text.
        shipped: i64,
    },
    /// Any other failure of the server while doing `operation`.
    #[error("PostgreSQL failed to {operation}: {source}")]
    Database {
        /// What was being done.
        operation: String,
        /// What the driver said.
        #[source]
        source: BoxError,
    },
}

impl PostgresError {
    /// Classifies a driver error met while doing `operation` against
    /// `target`: lost or refused connections become
    /// [`Unavailable`](Self::Unavailable), everything else
    /// [`Database`](Self::Database).
    pub fn from_sqlx(error: sqlx::Error, target: &str, operation: impl Into<String>) -> Self {
        if is_connection_error(&error) {
            Self::Unavailable {
                target: target.to_owned(),
                source: Box::new(error),
            }
        } else {
            Self::Database {
                operation: operation.into(),
                source: Box::new(error),
            }
        }
    }
}

/// Whether `error` means the connection to the server failed or was lost
/// (refused, reset, timed out waiting for a connection, the backend
/// terminated by an administrator or a shutdown), rather than the server
/// refusing a statement.
///
/// A statement that failed this way was either never run or rolled back as
/// a whole: Orchestrix writes every change in a single statement, so nothing
/// partial is left behind.
pub fn is_connection_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01..57P03: admin shutdown,
            // crash shutdown, cannot connect now.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

impl From<PostgresError> for crate::store::StoreError {
    fn from(error: PostgresError) -> Self {
        use crate::store::StoreError;
        match error {
            PostgresError::Configuration(what) => StoreError::Configuration(what),
            PostgresError::Unavailable { target, source } => {
                StoreError::Unavailable { target, source }
            }
            PostgresError::Database { operation, source } => {
                StoreError::Backend { operation, source }
            }
            other @ (PostgresError::Migration { .. } | PostgresError::ChangedMigration { .. }) => {
                StoreError::Backend {
                    operation: "initialize the event store schema".to_owned(),
                    source: Box::new(other),
                }
            }
        }
    }
}
