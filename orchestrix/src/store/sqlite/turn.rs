//! A write's turn: the store's in-process queue, then the file's write lock,
//! together waiting no longer than the busy timeout.
//!
//! Every write of a store and its clones queues on `write_queue` before it
//! asks SQLite for the file's write lock, which SQLite's busy handler waits
//! for up to the connection's busy timeout. Waited one after the other, the
//! two would add up: the k-th queued write could wait its turn and then a
//! whole busy timeout more. So the queue is waited on for at most the busy
//! timeout (then the write fails as a locked file does, nothing written),
//! and a write that waited for its turn longer than [`SLACK_DIVISOR`]th of
//! the busy timeout gets from SQLite only what is left of it (`PRAGMA
//! busy_timeout` on its connection, set back when it is done). A shorter
//! wait is not passed on: the two statements cost a queued append about a
//! sixth of its time (W2, 8 tasks appending through one store: 0.96 and
//! 0.94 of raw before, 0.83 and 0.78 with them), and a turn behind this store's own writes, which
//! hold the lock for milliseconds, is short. So the bound is the busy
//! timeout plus at most a hundredth of it, plus any wait for a pooled
//! connection once the turn came (the pool's connections are all busy only
//! with reads, which never wait for a lock).
//!
//! The busy timeout is never shortened (the queue still waits up to it):
//! - before `initialize` read it from the pool: the pool's value is not
//!   known, so it could not be set back; the queue waits up to the default
//!   5 s then;
//! - on a memory database: its one connection holds the data, so a write
//!   cancelled with a short timeout could not close it, and no other
//!   connection can hold its lock for SQLite's busy handler to wait on.
//!
//! A busy timeout of 0 makes SQLite fail at once on another connection's
//! lock, but the queue then waits for its turn without a bound: the store's
//! own writes always take turns.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::sqlite::{SqliteError, WriteQueueTimeout};
use crate::store::StoreError;

/// The write queue of a store and its clones, and the busy timeout it
/// shares with the file's connections.
#[derive(Debug)]
pub(super) struct WriteQueue {
    lock: Arc<Mutex<()>>,
    /// The connections' busy timeout, in milliseconds (SQLite's unit): the
    /// options' until `initialize` reads it from the pool.
    busy_timeout_ms: AtomicU64,
    /// Whether a waited turn may shorten a connection's busy timeout: set
    /// by `initialize` once it read the pool's busy timeout, on a file
    /// (see the module docs).
    shortens: AtomicBool,
}

/// A wait for the turn up to the busy timeout divided by this is not
/// taken from SQLite's share (see the module docs).
pub(super) const SLACK_DIVISOR: u32 = 100;

/// The default busy timeout of [`SqliteOptions`](crate::sqlite::SqliteOptions).
const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;

impl Default for WriteQueue {
    fn default() -> Self {
        Self {
            lock: Arc::default(),
            busy_timeout_ms: AtomicU64::new(DEFAULT_BUSY_TIMEOUT_MS),
            shortens: AtomicBool::new(false),
        }
    }
}

/// A write's place at the head of the queue, and what is left of its busy
/// timeout for SQLite.
#[derive(Debug)]
pub(super) struct WriteTurn {
    _guard: OwnedMutexGuard<()>,
    /// `None` when the turn came at once: SQLite may wait the whole busy
    /// timeout.
    left: Option<Duration>,
    full: Duration,
}

impl WriteQueue {
    /// Reads the busy timeout the pool's connections were opened with, and
    /// whether the database is a file (a memory database's file name is
    /// empty).
    pub(super) async fn learn_busy_timeout(&self, pool: &SqlitePool) -> Result<(), sqlx::Error> {
        let mut connection = pool.acquire().await?;
        let ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *connection)
            .await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut *connection)
                .await?;
        self.busy_timeout_ms
            .store(u64::try_from(ms).unwrap_or(0), Ordering::Relaxed);
        self.shortens.store(!file.is_empty(), Ordering::Relaxed);
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
        if full.is_zero() {
            // No bound on the queue (see the module docs).
            return Ok(WriteTurn {
                _guard: Arc::clone(&self.lock).lock_owned().await,
                left: None,
                full,
            });
        }
        let shortens = self.shortens.load(Ordering::Relaxed);
        let started = Instant::now();
        match tokio::time::timeout(full, Arc::clone(&self.lock).lock_owned()).await {
            Ok(guard) => {
                let waited = started.elapsed();
                Ok(WriteTurn {
                    _guard: guard,
                    left: (shortens && waited > full / SLACK_DIVISOR)
                        .then(|| full.saturating_sub(waited)),
                    full,
                })
            }
            Err(_) => Err(SqliteError::Locked {
                path: path.to_owned(),
                operation: operation(),
                source: Box::new(WriteQueueTimeout {
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
            connection.shorten(left, self.full).await?;
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

    /// Sets the busy timeout to `left` until [`finish`](Self::finish) sets
    /// it back to `full`.
    async fn shorten(&mut self, left: Duration, full: Duration) -> Result<(), sqlx::Error> {
        // Set before the PRAGMA is sent: SQLite's worker runs it even when
        // this call is cancelled or fails while waiting for it, so from here
        // the connection is set back or closed.
        self.restore_ms = Some(millis(full));
        // Rounded down: SQLite never waits longer than what is left.
        self.set_busy_timeout(millis(left)).await
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sqlite::{SqliteOptions, connect_pool};

    fn queue(busy_timeout: Duration) -> WriteQueue {
        let queue = WriteQueue::default();
        queue
            .busy_timeout_ms
            .store(millis(busy_timeout), Ordering::Relaxed);
        queue.shortens.store(true, Ordering::Relaxed);
        queue
    }

    /// A second turn that waits `wait` behind a first (real time).
    async fn waited_turn(queue: &WriteQueue, wait: Duration) -> WriteTurn {
        let path = Path::new("t.db");
        let first = queue.turn(path, String::new).await.expect("at once");
        let mut second = Box::pin(queue.turn(path, String::new));
        assert!(futures::poll!(second.as_mut()).is_pending());
        tokio::time::sleep(wait).await;
        drop(first);
        second.await.expect("its turn came in time")
    }

    async fn file_pool(busy_timeout: Duration) -> (SqlitePool, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("orchestrix-turn-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let options = SqliteOptions::builder(format!("sqlite://{}", dir.join("t.db").display()))
            .busy_timeout(busy_timeout)
            .pool_max_size(1)
            .build()
            .expect("valid");
        (connect_pool(&options).await.expect("pool"), dir)
    }

    /// A write cancelled right after it sent the PRAGMA that shortens its
    /// busy timeout (SQLite's worker still runs it) does not hand the
    /// connection back with the short timeout: it is marked to be set back
    /// or closed before the PRAGMA is sent, and closed when dropped.
    #[tokio::test]
    async fn a_write_cancelled_while_shortening_never_leaves_a_short_timeout() {
        let (pool, dir) = file_pool(Duration::from_millis(4_000)).await;
        // The first poll sends the PRAGMA; the call is then cancelled. The
        // worker thread may answer before that poll looks for the answer
        // (the call is then not cancelled but done): such a try is dropped
        // (its connection is closed, as marked) and made again, so the
        // cancelled case is the one checked.
        let mut tries = 0;
        let mut connection = loop {
            tries += 1;
            let mut connection = WriteConnection {
                connection: pool.acquire().await.expect("connection"),
                restore_ms: None,
            };
            let cancelled = {
                let mut shortening = Box::pin(
                    connection.shorten(Duration::from_millis(1_234), Duration::from_millis(4_000)),
                );
                futures::poll!(shortening.as_mut()).is_pending()
            };
            if cancelled {
                break connection;
            }
            assert!(
                tries < 100,
                "SQLite's worker answered the PRAGMA before its first poll in {tries} tries"
            );
        };
        assert_eq!(connection.restore_ms, Some(4_000));
        // The worker runs the PRAGMA; the connection is closed, not reused.
        assert_eq!(busy_timeout_of(&mut connection).await, 1_234);
        drop(connection);
        let mut connection = pool.acquire().await.expect("a new connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 4_000);
        drop(connection);
        pool.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A memory database's one connection holds its data: a write whose
    /// turn waited never shortens its busy timeout, so a cancelled write
    /// does not close the connection, and the data stays.
    #[tokio::test]
    async fn a_cancelled_waited_write_keeps_a_memory_database() {
        let options = SqliteOptions::builder("sqlite::memory:")
            .busy_timeout(Duration::from_millis(1_000))
            .build()
            .expect("valid");
        let pool = connect_pool(&options).await.expect("pool");
        sqlx::raw_sql("CREATE TABLE kept (n INTEGER); INSERT INTO kept VALUES (1);")
            .execute(&pool)
            .await
            .expect("schema");
        let queue = WriteQueue::default();
        queue.learn_busy_timeout(&pool).await.expect("pragma");

        let turn = waited_turn(&queue, Duration::from_millis(50)).await;
        assert_eq!(turn.left, None, "a memory database is never shortened");
        // Cancelled: dropped before `finish`.
        drop(turn.connection(&pool).await.expect("connection"));
        drop(turn);
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM kept")
            .fetch_one(&pool)
            .await
            .expect("the table is still there");
        assert_eq!(kept, 1);
    }

    /// Before `initialize` read the pool's busy timeout, a waited turn
    /// leaves SQLite the connection's own (a pool set to 30 s is never
    /// changed to the default 5 s); after, a file's is shortened.
    #[tokio::test]
    async fn a_busy_timeout_not_read_from_the_pool_is_never_changed() {
        let (pool, dir) = file_pool(Duration::from_millis(30_000)).await;
        let queue = WriteQueue::default();
        let turn = waited_turn(&queue, Duration::from_millis(80)).await;
        assert_eq!(turn.left, None);
        drop(turn);

        queue.learn_busy_timeout(&pool).await.expect("pragma");
        let turn = waited_turn(&queue, Duration::from_millis(400)).await;
        assert!(turn.left.is_some_and(|left| left < Duration::from_secs(30)));
        drop(turn);
        pool.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }

    /// With a busy timeout of 0 the queue still waits for its turn (only
    /// SQLite fails at once, on another connection's lock).
    #[tokio::test(start_paused = true)]
    async fn a_zero_busy_timeout_still_queues() {
        let queue = queue(Duration::ZERO);
        let path = Path::new("t.db");
        let first = queue.turn(path, String::new).await.expect("at once");
        let mut second = Box::pin(queue.turn(path, String::new));
        assert!(futures::poll!(second.as_mut()).is_pending());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(futures::poll!(second.as_mut()).is_pending());
        drop(first);
        assert_eq!(second.await.expect("its turn").left, None);
    }

    /// On a paused clock: a turn that comes at once leaves SQLite the whole
    /// busy timeout; one that waited 1.5 s of 5 s leaves it 3.5 s; one that
    /// waited 50 ms (a hundredth) leaves it the whole; one that never comes
    /// fails after exactly the busy timeout, as `Locked` with the queue's
    /// timeout as its source.
    #[tokio::test(start_paused = true)]
    async fn the_queue_and_sqlite_share_one_busy_timeout() {
        let queue = queue(Duration::from_secs(5));
        let path = Path::new("orders.db");
        let first = queue.turn(path, String::new).await.expect("at once");
        assert_eq!(first.left, None);

        let mut second = Box::pin(queue.turn(path, String::new));
        assert!(futures::poll!(second.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(1_500)).await;
        drop(first);
        let second = second.await.expect("its turn came in time");
        assert_eq!(second.left, Some(Duration::from_millis(3_500)));

        // A wait of a hundredth of the busy timeout is not passed on.
        let mut third = Box::pin(queue.turn(path, String::new));
        assert!(futures::poll!(third.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(50)).await;
        drop(second);
        let third = third.await.expect("its turn came in time");
        assert_eq!(third.left, None);
        let second = third;

        let started = Instant::now();
        let error = queue
            .turn(path, || "append to stream `late`".to_owned())
            .await
            .expect_err("the turn ahead is never given back");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        match SqliteError::find(&error) {
            Some(SqliteError::Locked {
                operation, source, ..
            }) => {
                assert_eq!(operation, "append to stream `late`");
                assert!(source.downcast_ref::<WriteQueueTimeout>().is_some());
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(second);
        assert_eq!(
            queue.turn(path, String::new).await.expect("free").left,
            None
        );
    }

    async fn busy_timeout_of(connection: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(connection)
            .await
            .expect("pragma")
    }

    /// A turn that waited runs its write on a connection whose busy timeout
    /// is what is left, set back when the write is done; a write that ends
    /// without setting it back (cancelled, failed) closes the connection
    /// rather than hand a short timeout to the next caller.
    #[tokio::test]
    async fn a_shortened_busy_timeout_never_outlives_its_write() {
        let dir =
            std::env::temp_dir().join(format!("orchestrix-turn-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let options = SqliteOptions::builder(format!("sqlite://{}", dir.join("t.db").display()))
            .busy_timeout(Duration::from_millis(4_000))
            .pool_max_size(1)
            .build()
            .expect("valid");
        let pool = connect_pool(&options).await.expect("pool");
        let queue = WriteQueue::default();
        queue.learn_busy_timeout(&pool).await.expect("pragma");
        assert_eq!(queue.busy_timeout_ms.load(Ordering::Relaxed), 4_000);

        let path = Path::new("t.db");
        let mut turn = queue.turn(path, String::new).await.expect("at once");
        let mut connection = turn.connection(&pool).await.expect("connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 4_000);
        connection.finish().await;

        turn.left = Some(Duration::from_millis(1_234));
        let mut connection = turn.connection(&pool).await.expect("connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 1_234);
        connection.finish().await;
        let mut connection = pool.acquire().await.expect("the same connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 4_000);
        drop(connection);

        let mut connection = turn.connection(&pool).await.expect("connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 1_234);
        drop(connection);
        let mut connection = pool.acquire().await.expect("a new connection");
        assert_eq!(busy_timeout_of(&mut connection).await, 4_000);
        drop(connection);
        drop(turn);
        pool.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
}
