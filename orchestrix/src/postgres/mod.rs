//! PostgreSQL plumbing shared by the PostgreSQL-backed stores (the event
//! store, the saga state store): connection options, the connection pool,
//! validated SQL identifiers and the migration runner.
//!
//! Every store that lives in PostgreSQL goes through the same three steps:
//!
//! 1. describe where and how to connect with [`PostgresOptions`] (connection
//!    string, pool sizes, acquire timeout, the schema to live in);
//! 2. open a pool with [`connect_pool`], which turns a bad connection string
//!    into [`PostgresError::Configuration`] and an unreachable server into
//!    [`PostgresError::Unavailable`] naming the host it tried;
//! 3. bring the schema up to date with [`migrate`], which applies the store's
//!    own [`Migration`]s inside the configured schema, idempotently and safely
//!    from many processes at once.
//!
//! ```no_run
//! use orchestrix::postgres::{PostgresOptions, connect_pool};
//!
//! # async fn run() -> Result<(), orchestrix::postgres::PostgresError> {
//! let options = PostgresOptions::builder("postgres://postgres@127.0.0.1:5432/app")
//!     .pool_min_size(1)
//!     .pool_max_size(10)
//!     .schema("orchestrix")
//!     .build()?;
//! let pool = connect_pool(&options).await?;
//! # drop(pool);
//! # Ok(())
//! # }
//! ```

mod error;
mod gate;
mod health;
mod identifier;
mod migrate;
mod options;
mod pool;
mod tls;

pub use error::{PostgresError, is_connection_error};
pub use gate::ConnectGate;
pub use health::{evict_broken_connections, ping};
pub use identifier::SqlIdentifier;
pub use migrate::{Migration, SCHEMA_LITERAL_PLACEHOLDER, SCHEMA_PLACEHOLDER, migrate};
pub use options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_SCHEMA, PostgresOptions, PostgresOptionsBuilder,
};
pub use pool::{connect_pool, describe_target};

/// The PostgreSQL pool type every store uses (re-exported from sqlx so users
/// need no direct sqlx dependency to share one pool between stores).
pub use sqlx::PgPool;
