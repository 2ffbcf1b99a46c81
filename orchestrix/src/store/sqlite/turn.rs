//! A write's turn: the store's in-process queue, then the file's write lock,
//! together waiting no longer than the busy timeout.
//!
//! Every write of a store and its clones queues on `append_lock` before it
//! asks SQLite for the file's write lock, which SQLite's busy handler waits
//! for up to the connection's busy timeout. Waited one after the other, the
//! two would add up: the k-th queued write could wait its turn and then a
//! whole busy timeout more. So the queue is waited on for at most the busy
//! timeout (then the write fails as a locked file does, nothing written),
//! and a write that had to wait for its turn gets from SQLite only what is
//! left of it (`PRAGMA busy_timeout` on its connection, set back when it is
//! done). A write that gets its turn at once costs nothing extra.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::sqlite::SqliteError;
use crate::store::StoreError;

/// The write queue of a store and its clones, and the busy timeout it
/// shares with the file's connections.
#[derive(Debug)]
pub(super) struct WriteQueue {
    lock: Arc<Mutex<()>>,
    /// The connections' busy timeout, in milliseconds (SQLite's unit): the
    /// options' until `initialize` reads it from the pool.
    busy_timeout_ms: AtomicU64,
}

/// The default busy timeout of [`SqliteOptions`](crate::sqlite::SqliteOptions).
const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;

impl Default for WriteQueue {
    fn default() -> Self {
        Self {
            lock: Arc::default(),
            busy_timeout_ms: AtomicU64::new(DEFAULT_BUSY_TIMEOUT_MS),
        }
    }
}

/// Why a write failed before it reached SQLite: its turn did not come
/// within the busy timeout. The source of a [`SqliteError::Locked`].
#[derive(Debug, thiserror::Error)]
#[error(
    "waited {waited:?} (the busy timeout) behind earlier writes of this store, \
     which held the file's write lock"
)]
pub(crate) struct QueueTimeout {
    /// How long the write waited.
    waited: Duration,
}

/// A write's place at the head of the queue, and what is left of its busy
/// timeout for SQLite.
#[derive(Debug)]
pub(crate) struct WriteTurn {
    _guard: OwnedMutexGuard<()>,
    /// `None` when the turn came at once: SQLite may wait the whole busy
    /// timeout.
    left: Option<Duration>,
    full: Duration,
}

impl WriteQueue {
    /// Reads the busy timeout the pool's connections were opened with.
    pub(super) async fn learn_busy_timeout(&self, pool: &SqlitePool) -> Result<(), sqlx::Error> {
        let ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await?;
        self.busy_timeout_ms
            .store(u64::try_from(ms).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the write's turn, up to the busy timeout; past it, the
    /// same error as a file locked past the busy timeout
    /// ([`SqliteError::Locked`], a `StoreError::Unavailable`).
    pub(super) async fn turn(
        &self,
        path: &std::path::Path,
        operation: impl FnOnce() -> String,
    ) -> Result<WriteTurn, StoreError> {
        let full = Duration::from_millis(self.busy_timeout_ms.load(Ordering::Relaxed));
        if let Ok(guard) = Arc::clone(&self.lock).try_lock_owned() {
            return Ok(WriteTurn {
                _guard: guard,
                left: None,
                full,
            });
        }
        let started = Instant::now();
        match tokio::time::timeout(full, Arc::clone(&self.lock).lock_owned()).await {
            Ok(guard) => Ok(WriteTurn {
                _guard: guard,
                left: Some(full.saturating_sub(started.elapsed())),
                full,
            }),
            Err(_) => Err(SqliteError::Locked {
                path: path.to_owned(),
                operation: operation(),
                source: Box::new(QueueTimeout {
                    waited: started.elapsed(),
                }),
            }
            .into()),
        }
    }
}

impl WriteTurn {
    /// A connection for the write, whose busy timeout is what is left of
    /// the turn's.
    pub(super) async fn connection(
        &self,
        pool: &SqlitePool,
    ) -> Result<WriteConnection, sqlx::Error> {
        let mut connection = WriteConnection {
            connection: pool.acquire().await?,
            restore_ms: None,
        };
        if let Some(left) = self.left {
            // Rounded down: SQLite never waits longer than what is left.
            connection.set_busy_timeout(millis(left)).await?;
            connection.restore_ms = Some(millis(self.full));
        }
        Ok(connection)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A pooled connection for one write. When its busy timeout was shortened,
/// [`finish`](Self::finish) sets it back; dropped without that (an error,
/// a cancelled call), the connection is closed rather than handed to the
/// next caller with a short timeout.
pub(super) struct WriteConnection {
    connection: PoolConnection<Sqlite>,
    restore_ms: Option<u64>,
}

impl WriteConnection {
    async fn set_busy_timeout(&mut self, ms: u64) -> Result<(), sqlx::Error> {
        let ms = ms.min(i32::MAX as u64);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}")))
            .execute(&mut *self.connection)
            .await
            .map(drop)
    }

    /// Gives the connection back to the pool as it was taken.
    pub(super) async fn finish(mut self) {
        if let Some(ms) = self.restore_ms
            && self.set_busy_timeout(ms).await.is_ok()
        {
            self.restore_ms = None;
        }
    }
}

impl Drop for WriteConnection {
    fn drop(&mut self) {
        if self.restore_ms.is_some() {
            self.connection.close_on_drop();
        }
    }
}

impl Deref for WriteConnection {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }
}
