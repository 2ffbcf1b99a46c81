//! SQLite plumbing shared by the SQLite-backed stores (the event store, the
//! saga state store): options, the connection pool, typed errors and the
//! migration runner. Feature `sqlite`; the SQLite library is compiled in,
//! so nothing needs installing.
//!
//! Every store that lives in a SQLite file goes through the same steps:
//!
//! 1. describe the file with [`SqliteOptions`] (`sqlite://orders.db`,
//!    `sqlite::memory:`; busy timeout, durability, pool size);
//! 2. open a pool with [`connect_pool`], which sets WAL mode and the busy
//!    timeout and turns a missing, unopenable or corrupt file into a typed
//!    [`SqliteError`];
//! 3. bring the schema up to date with [`migrate`].
//!
//! Stores of one file can share one pool:
//!
//! ```rust,standalone_crate
//! use orchestrix::saga::{SagaStateStore, SqliteSagaStateStore};
//! use orchestrix::sqlite::{SqliteOptions, connect_pool};
//! use orchestrix::store::sqlite::SqliteEventStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let options = SqliteOptions::new("sqlite::memory:")?;
//! let pool = connect_pool(&options).await?;
//! let events = SqliteEventStore::from_pool(pool.clone());
//! events.initialize().await?;
//! let sagas = SqliteSagaStateStore::from_pool(pool);
//! sagas.initialize().await?;
//! # drop((events, sagas));
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```

mod error;
mod migrate;
mod options;
mod pool;

pub use error::{SqliteError, WriteQueueTimeout};
pub use migrate::migrate;
pub use options::{SqliteOptions, SqliteOptionsBuilder};
pub use pool::connect_pool;

/// Milliseconds since the Unix epoch on the clock SQLite reads when the
/// statement runs: every process using the file compares leases (saga and
/// projection) on it, so they need not trust each other's clocks.
pub(crate) const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// The SQLite pool type every store uses (re-exported from sqlx so users
/// need no direct sqlx dependency to share one pool between stores).
pub use sqlx::SqlitePool;
/// SQLite's `synchronous` setting, for [`SqliteOptionsBuilder::synchronous`].
pub use sqlx::sqlite::SqliteSynchronous;
