//! The SQLite event store (feature `sqlite`): [`SqliteEventStore`].
//!
//! Events live in one table of a single file (or in memory, for tests), as
//! JSON text with their type name, schema version, CloudEvents metadata,
//! correlation and causation ids. See `docs/sqlite.md` for the design.
//!
//! # How positions are assigned, and why a reader never skips one
//!
//! Each append is one transaction that takes the file's write lock before it
//! reads anything (waiting up to the busy timeout for another connection or
//! process to finish), then reads the stream's version and the last global
//! position, checks the expected version and inserts the events at
//! positions `last + 1, last + 2, ...`. A one-event append is a single
//! `INSERT` statement (one round trip, its own transaction: with an expected
//! version an `INSERT ... VALUES` whose version is NULL on a conflict, else
//! an `INSERT ... SELECT ... RETURNING`); a
//! batch is a `BEGIN IMMEDIATE` transaction with as few multi-row `INSERT`s
//! as the batch allows. SQLite runs one write transaction at
//! a time per file, so positions are handed out in the order the appends
//! commit, and without gaps (a rolled-back append hands its positions to the
//! next one). A reader sees a snapshot of the file as of its read: every
//! transaction committed before it, none after. Since commits come in
//! position order, that snapshot is always a prefix of the global stream:
//! `read_all` can never return position `n + 1` without `n`.

mod blocking;
mod decode;
mod read;
mod rewrite;
mod statements;
mod turn;

use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::{Row as _, SqlitePool};
use time::OffsetDateTime;

pub use self::blocking::BlockingSqliteEventStore;
use self::decode::{RowDecoder, StreamCursor};
use self::turn::{WriteQueue, WriteTurn};
use crate::error::ConcurrencyError;
use crate::evolution::RowEvents;
use crate::limits::stored_precision;
use crate::message::AnyEnvelope;
use crate::migration::Migration;
use crate::sqlite::{SqliteError, SqliteOptions, connect_pool, migrate};
use crate::store::{
    AppendOutcome, AsyncEventStore, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent,
    Snapshot, StoreError, checks, context,
};

/// The event store's SQLite migrations, shipped in the crate (versions
/// `1..100`).
pub const EVENT_STORE_MIGRATIONS: &[Migration] = &[
    Migration::new(
        1,
        "event store",
        include_str!("../../../migrations/sqlite/0001_event_store.sql"),
    ),
    Migration::new(
        2,
        "event type index",
        include_str!("../../../migrations/sqlite/0002_event_type_index.sql"),
    ),
    Migration::new(
        3,
        "event context column",
        include_str!("../../../migrations/sqlite/0003_event_context.sql"),
    ),
    Migration::new(
        4,
        "event load record",
        include_str!("../../../migrations/sqlite/0004_load_record.sql"),
    ),
];

/// How often [`SqliteEventStore::wait_for_append`] reads the last position
/// while it waits, to see appends by other processes.
pub const APPEND_POLL_INTERVAL: std::time::Duration = crate::store::global::DEFAULT_POLL_INTERVAL;

/// An [`AsyncEventStore`] in a SQLite file: durable events with no server,
/// optimistic concurrency, a global stream that no reader can skip ahead
/// in, and snapshots.
///
/// [`connect`](Self::connect) opens the file (creating it if missing) and
/// brings its schema up to date. Many tasks, and many processes, may use one
/// file: the writes of one store and its clones queue in-process, in order;
/// other stores and processes take turns with them on the file's write lock;
/// a write waits for its turn and the lock together up to the busy timeout
/// and a hundredth of it (then [`SqliteError::Locked`], nothing written),
/// not counting a wait for a free pooled connection once its turn came
/// (all of them busy reading; sqlx's acquire timeout bounds it). So a
/// store's queued writes must fit in one busy timeout together; with a busy
/// timeout of 0 the queue waits without a bound (SQLite still fails at once
/// on another connection's lock). Readers never wait (WAL mode).
///
/// ```rust,standalone_crate
/// use orchestrix::prelude::*;
/// use orchestrix::store::sqlite::SqliteEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct AccountOpened { owner: String }
///
/// # async fn run() -> Result<(), StoreError> {
/// // A file: `SqliteEventStore::connect("sqlite://bank.db")`.
/// let store = SqliteEventStore::connect("sqlite::memory:").await?;
///
/// let opened = Envelope::new(AccountOpened { owner: "Ada".into() }).into_any();
/// store.save("ACC-001", &[opened], Some(0)).await?;
/// let events = store.load("ACC-001", 1).await?;
/// assert_eq!(events[0].downcast_ref::<AccountOpened>().map(|e| e.owner.as_str()), Some("Ada"));
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SqliteEventStore {
    pool: SqlitePool,
    path: Arc<Path>,
    /// Every write of this store (and its clones: appends, snapshots,
    /// rewrite batches) queues here, in order, before it asks the file for
    /// its write lock: the store's tasks take turns in-process instead of
    /// racing in SQLite's busy handler (which sleeps in growing steps, so a
    /// writer can lose the race for longer than the busy timeout). Only
    /// other stores and processes on the file wait in the busy handler.
    /// The queue and the busy handler together wait at most the busy
    /// timeout and a hundredth of it (see `turn`).
    write_queue: Arc<WriteQueue>,
    /// The highest position this store (and its clones) appended: wakes
    /// its followers at once (see [`wait_for_append`](Self::wait_for_append)).
    appended: Arc<tokio::sync::watch::Sender<u64>>,
    /// How often a waiting follower reads the last position.
    append_poll_interval: std::time::Duration,
}

impl SqliteEventStore {
    /// Opens `connection_string` (`sqlite://orders.db`, `sqlite::memory:`)
    /// with the default options (see [`SqliteOptions`]) and migrates it.
    ///
    /// A connection string that does not parse is
    /// [`StoreError::Configuration`]; a file that is missing (with
    /// creating turned off), cannot be opened or is not a database is
    /// [`StoreError::Unavailable`] with the [`SqliteError`] as its source.
    pub async fn connect(connection_string: &str) -> Result<Self, StoreError> {
        Self::connect_with(SqliteOptions::new(connection_string)?).await
    }

    /// Opens the database as `options` describe and migrates it.
    pub async fn connect_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let store = Self::from_pool(connect_pool(&options).await?);
        store.initialize().await?;
        Ok(store)
    }

    /// Uses an existing pool (e.g. the saga state store's); call
    /// [`initialize`](Self::initialize) before use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let path = Arc::from(pool.connect_options().get_filename());
        Self {
            pool,
            path,
            write_queue: Arc::default(),
            appended: Arc::new(tokio::sync::watch::Sender::new(0)),
            append_poll_interval: APPEND_POLL_INTERVAL,
        }
    }

    /// Creates the tables, or upgrades them, from the migrations shipped in
    /// the crate. Idempotent; safe from many processes at once.
    ///
    /// First checks the event registry: two Rust types under one event name
    /// fail with [`StoreError::Registry`] before anything is stored.
    pub async fn initialize(&self) -> Result<(), StoreError> {
        crate::registry::validate()?;
        migrate(&self.pool, &self.path, EVENT_STORE_MIGRATIONS).await?;
        self.write_queue
            .learn_busy_timeout(&self.pool)
            .await
            .map_err(|error| self.failed(error, "read the busy timeout".to_owned()))?;
        Ok(())
    }

    /// How often [`wait_for_append`](Self::wait_for_append) reads the last
    /// position while it waits, to see appends by other processes (default
    /// [`APPEND_POLL_INTERVAL`]). Longer: fewer reads, later wake-ups for
    /// appends by other processes; appends through this store (and its
    /// clones) wake followers at once either way.
    #[must_use]
    pub fn with_append_poll_interval(mut self, interval: std::time::Duration) -> Self {
        self.append_poll_interval = interval;
        self
    }

    /// The pool, e.g. to share it with the saga state store.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stream's current version (0 for a stream that does not exist).
    pub async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        checks::stream_id(aggregate_id)?;
        sqlx::query_scalar::<_, i64>(statements::STREAM_VERSION)
            .bind(aggregate_id)
            .fetch_one(&self.pool)
            .await
            .map(to_u64)
            .map_err(|error| {
                self.failed(
                    error,
                    format!("read the version of stream `{aggregate_id}`"),
                )
            })
    }

    /// Whether the database answers (a trivial query on a pooled
    /// connection).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|error| self.failed(error, "ping the database".to_owned()))
    }

    /// Reads the global stream like
    /// [`read_all`](AsyncEventStore::read_all), only the events of
    /// `filter`'s types: the type test runs in SQL on the
    /// `(event_type, position)` index, so rows of other types are never
    /// read, let alone decoded (an event whose type this process does not
    /// know does not stop a reader that does not ask for it).
    pub async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        // Rows stored under an alias (or split into a wanted type) are
        // fetched too; what they decode into is filtered again.
        let stored = crate::evolution::stored_filter(filter);
        let (rows, scanned_through) = self
            .read_global(
                from_position,
                limit,
                Some(stored.as_ref().unwrap_or(filter)),
                |decoder, row| decoder.global_row(row),
            )
            .await?;
        let events = RowEvents::flatten(rows, stored.is_some().then_some(filter));
        Ok(GlobalPage {
            events,
            scanned_through,
        })
    }

    /// Reads the global stream like [`read_all`](AsyncEventStore::read_all)
    /// (same promise), without decoding anything: the stored JSON text of
    /// each event and its metadata, e.g. for events whose type this process
    /// does not know.
    pub async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        let (events, _) = self
            .read_global(from_position, limit, None, |decoder, row| {
                let event = decoder.raw_row(row)?;
                let position = event.position;
                Ok((event, position))
            })
            .await?;
        Ok(events)
    }

    /// Returns when an event with a position after `after_position` may have
    /// been appended, or after `max_wait` at the latest: a follower then
    /// reads again. Spurious wake-ups are allowed.
    ///
    /// An append through this store (or a clone) wakes its waiters at once.
    /// SQLite has no notifications, so appends by other processes (or other
    /// stores on the same file) are seen by reading the last position, a
    /// one-entry read, every [`APPEND_POLL_INTERVAL`] while waiting (see
    /// [`with_append_poll_interval`](Self::with_append_poll_interval)).
    pub async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: std::time::Duration,
    ) -> Result<(), StoreError> {
        let now = tokio::time::Instant::now();
        // A wait too long to represent is as good as forever.
        let deadline = now
            .checked_add(max_wait)
            .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365));
        let mut appended = self.appended.subscribe();
        loop {
            if self.last_position().await? > after_position {
                return Ok(());
            }
            let poll = tokio::time::Instant::now()
                .checked_add(self.append_poll_interval)
                .map_or(deadline, |poll| poll.min(deadline));
            // `wait_for` looks at the current value first, so an append
            // between the read above and this wait is not missed.
            let woken =
                tokio::time::timeout_at(poll, appended.wait_for(|&last| last > after_position))
                    .await;
            if matches!(woken, Ok(Ok(_))) || tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// The last position handed out (0 for an empty store).
    async fn last_position(&self) -> Result<u64, StoreError> {
        sqlx::query_scalar::<_, i64>(statements::LAST_POSITION)
            .fetch_one(&self.pool)
            .await
            .map(to_u64)
            .map_err(|error| self.failed(error, "read the last position".to_owned()))
    }

    /// Loads one stream's events from `from_version` (up to `to_version`),
    /// in order: by load record (two values per row), and from the first
    /// row without a usable record on (written before migration 4, updated
    /// since, or damaged) with the rows' own columns, which decode every
    /// form and name a damaged row.
    async fn fetch_stream(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: Option<u64>,
        operation: impl Fn() -> String,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let by_record = match to_version {
            None => sqlx::query(statements::LOAD_RECORDS),
            Some(_) => sqlx::query(statements::LOAD_RANGE_RECORDS),
        };
        let mut decoder = RowDecoder::default();
        let mut events = Vec::new();
        let mut cursor = StreamCursor::from_version(from_version);
        let mut rows =
            bind_versions(by_record, aggregate_id, from_version, to_version).fetch(&self.pool);
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    if !decoder.record_row(aggregate_id, &row, &mut cursor, &mut events)? {
                        break;
                    }
                }
                Ok(None) => return Ok(events),
                Err(error) => return Err(self.failed(error, operation())),
            }
        }
        drop(rows);
        // A second statement, so a second read of the file: it may see
        // events appended since the first began. Harmless: it starts at
        // the version the first stopped before, so the result is still
        // the stream's rows in order without a gap, a prefix of it as of
        // this read.
        let by_columns = match to_version {
            None => sqlx::query(statements::LOAD),
            Some(_) => sqlx::query(statements::LOAD_RANGE),
        };
        let mut rows = bind_versions(by_columns, aggregate_id, cursor.next_version, to_version)
            .fetch(&self.pool);
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => decoder.stream_row(aggregate_id, &row, &mut events)?,
                Ok(None) => return Ok(events),
                Err(error) => return Err(self.failed(error, operation())),
            }
        }
    }

    /// Writes one event with one statement (its own transaction);
    /// `Ok(Err(actual))` is a version conflict, nothing written.
    async fn append_one(
        &self,
        turn: WriteTurn,
        aggregate_id: &str,
        event: &mut EncodedEvent,
        expected_version: Option<u64>,
    ) -> Result<Result<AppendOutcome, u64>, sqlx::Error> {
        let mut connection = turn.connection(&self.pool).await?;
        // Taken in turn, so `recorded_at` follows the position order.
        event.stamp(nanos(OffsetDateTime::now_utc()));
        // Both statements take the same parameters (`?2`: the expected
        // version, NULL for any).
        let statement = match expected_version {
            Some(_) => statements::APPEND_ONE_EXPECTED,
            None => statements::APPEND_ONE,
        };
        let query = sqlx::query(statement)
            .bind(aggregate_id)
            .bind(expected_version.map(to_i64))
            .bind(event.event_id)
            .bind(event.event_type)
            .bind(event.schema_version)
            .bind(&event.payload)
            .bind(&event.metadata)
            .bind(event.correlation_id)
            .bind(event.causation_id)
            .bind(event.recorded_at)
            .bind(&event.record);
        let Some(expected) = expected_version else {
            // Any version will do: the statement always inserts its row.
            let row = query.fetch_one(&mut *connection).await;
            connection.finish().await;
            drop(turn);
            let row = row?;
            return Ok(Ok(AppendOutcome {
                new_version: to_u64(row.try_get(1)?),
                positions: vec![to_u64(row.try_get(0)?)],
            }));
        };
        let inserted = query.execute(&mut *connection).await;
        connection.finish().await;
        drop(turn);
        match inserted {
            Ok(done) => Ok(Ok(AppendOutcome {
                new_version: expected + 1,
                positions: vec![to_u64(done.last_insert_rowid())],
            })),
            // The version is NULL only when the stream is not at `expected`.
            Err(error)
                if error.as_database_error().is_some_and(|e| {
                    matches!(e.kind(), sqlx::error::ErrorKind::NotNullViolation)
                }) =>
            {
                let actual: i64 = sqlx::query_scalar(statements::STREAM_VERSION)
                    .bind(aggregate_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(Err(to_u64(actual)))
            }
            Err(error) => Err(error),
        }
    }

    /// Writes `events` in one `BEGIN IMMEDIATE` transaction (see the module
    /// docs); `Ok(Err(actual))` is a version conflict, nothing written.
    async fn append(
        &self,
        turn: WriteTurn,
        aggregate_id: &str,
        events: &mut [EncodedEvent],
        expected_version: Option<u64>,
    ) -> Result<Result<AppendOutcome, u64>, sqlx::Error> {
        let mut connection = turn.connection(&self.pool).await?;
        let appended = self
            .append_on(&mut connection, aggregate_id, events, expected_version)
            .await;
        connection.finish().await;
        drop(turn);
        appended
    }

    /// [`append`](Self::append)'s transaction, on the turn's connection.
    async fn append_on(
        &self,
        connection: &mut sqlx::SqliteConnection,
        aggregate_id: &str,
        events: &mut [EncodedEvent],
        expected_version: Option<u64>,
    ) -> Result<Result<AppendOutcome, u64>, sqlx::Error> {
        use sqlx::Connection as _;
        let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
        // Taken in turn, so `recorded_at` follows the position order.
        let recorded_at = nanos(OffsetDateTime::now_utc());
        for event in events.iter_mut() {
            event.stamp(recorded_at);
        }
        let (current, last_position): (i64, i64) = sqlx::query_as(statements::APPEND_HEAD)
            .bind(aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
        let current = to_u64(current);
        if expected_version.is_some_and(|expected| expected != current) {
            tx.rollback().await?;
            return Ok(Err(current));
        }
        let mut offset = 0_i64;
        for chunk in events.chunks_mut(statements::MAX_ROWS_PER_INSERT) {
            let mut insert = sqlx::query(statements::insert_events(chunk.len()));
            for event in chunk.iter_mut() {
                offset += 1;
                event.finish_record(to_i64(current) + offset, last_position + offset);
                insert = insert
                    .bind(last_position + offset)
                    .bind(aggregate_id)
                    .bind(to_i64(current) + offset)
                    .bind(event.event_id)
                    .bind(event.event_type)
                    .bind(event.schema_version)
                    .bind(&event.payload)
                    .bind(&event.metadata)
                    .bind(event.correlation_id)
                    .bind(event.causation_id)
                    .bind(event.recorded_at)
                    .bind(&event.record);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(AppendOutcome {
            new_version: current + events.len() as u64,
            positions: (1..=offset)
                .map(|offset| to_u64(last_position + offset))
                .collect(),
        }))
    }

    fn failed(&self, error: sqlx::Error, operation: String) -> StoreError {
        SqliteError::from_sqlx(error, &self.path, operation).into()
    }
}

/// One event, serialized for its row.
#[derive(Debug)]
struct EncodedEvent {
    event_id: uuid::Uuid,
    event_type: &'static str,
    schema_version: i64,
    payload: String,
    metadata: String,
    correlation_id: uuid::Uuid,
    causation_id: Option<uuid::Uuid>,
    /// When the store accepted it (nanoseconds since the Unix epoch): set
    /// by [`EncodedEvent::stamp`] once the append has its turn.
    recorded_at: i64,
    /// The load record (`store::context::record`): metadata and
    /// `recorded_at`, type and schema version, checksum, then (past
    /// `record_started`) the version and position, which a one-event
    /// append adds in SQL.
    record: Vec<u8>,
    record_started: usize,
}

impl EncodedEvent {
    /// The event's row, its `recorded_at` still to [`stamp`](Self::stamp).
    fn encode(stream_id: &str, envelope: &AnyEnvelope) -> Result<Self, StoreError> {
        let message = envelope.message();
        let event_type = envelope.message_name();
        let failed = |source| StoreError::Serialize {
            stream_id: stream_id.to_owned(),
            event_type: event_type.to_owned(),
            source,
        };
        let metadata = envelope.metadata();
        let schema_version = message.message_version();
        let record = context::record::start(metadata, schema_version, event_type);
        Ok(Self {
            event_id: metadata.id,
            event_type,
            schema_version: i64::from(schema_version),
            payload: into_text(message.to_json_bytes().map_err(failed)?),
            metadata: serde_json::to_string(metadata).map_err(failed)?,
            correlation_id: metadata.correlation_id,
            causation_id: metadata.causation_id,
            recorded_at: 0,
            record_started: record.len(),
            record,
        })
    }

    /// Sets when the store accepted the event, in its row and its record
    /// (which it seals with the record's checksum).
    fn stamp(&mut self, recorded_at: i64) {
        self.recorded_at = recorded_at;
        context::record::stamp(&mut self.record, self.record_started, recorded_at);
    }

    /// Ends the load record with the row's version and position (a batch
    /// knows them before its insert).
    fn finish_record(&mut self, version: i64, position: i64) {
        context::record::finish(&mut self.record, self.record_started, version, position);
    }
}

/// A stream load's query with its stream and versions bound.
fn bind_versions<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    aggregate_id: &'q str,
    from_version: u64,
    to_version: Option<u64>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let query = query.bind(aggregate_id).bind(to_i64(from_version));
    match to_version {
        None => query,
        Some(to_version) => query.bind(to_i64(to_version)),
    }
}

/// serde_json writes UTF-8, so this never copies; the lossy path is only a
/// total fallback.
fn into_text(json: Vec<u8>) -> String {
    String::from_utf8(json)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Nanoseconds since the Unix epoch (saturating; `i64` holds 1677..2262),
/// of `at` cut to the [`stored_precision`] every store keeps (whole
/// microseconds), so a time reads back as it would from any other store.
pub(crate) fn nanos(at: OffsetDateTime) -> i64 {
    let at = stored_precision(at);
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(if at.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The inverse of [`nanos`] (shared with the stored context).
pub(crate) use crate::store::context::time_from_nanos;

#[async_trait::async_trait]
impl AsyncEventStore for SqliteEventStore {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        checks::append(aggregate_id, events)?;
        let mut encoded = events
            .iter()
            .map(|envelope| EncodedEvent::encode(aggregate_id, envelope))
            .collect::<Result<Vec<_>, _>>()?;
        let conflict = |actual| {
            StoreError::from(ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected: expected_version.unwrap_or(0),
                actual,
            })
        };
        if encoded.is_empty() {
            let current = self.stream_version(aggregate_id).await?;
            return match expected_version {
                Some(expected) if expected != current => Err(conflict(current)),
                _ => Ok(AppendOutcome {
                    new_version: current,
                    positions: Vec::new(),
                }),
            };
        }
        let operation = || format!("append to stream `{aggregate_id}`");
        let turn = self.write_queue.turn(&self.path, operation).await?;
        let appended = match encoded.as_mut_slice() {
            [event] => {
                self.append_one(turn, aggregate_id, event, expected_version)
                    .await
            }
            events => {
                self.append(turn, aggregate_id, events, expected_version)
                    .await
            }
        };
        match appended {
            Ok(Ok(outcome)) => {
                if let Some(&last) = outcome.positions.last() {
                    self.appended.send_if_modified(|known| {
                        let newer = last > *known;
                        if newer {
                            *known = last;
                        }
                        newer
                    });
                }
                Ok(outcome)
            }
            Ok(Err(actual)) => Err(conflict(actual)),
            // Only a writer bypassing this store (not taking the write lock
            // first) can make the insert meet an existing version.
            Err(error)
                if error
                    .as_database_error()
                    .is_some_and(|e| e.is_unique_violation()) =>
            {
                Err(conflict(self.stream_version(aggregate_id).await?))
            }
            Err(error) => Err(self.failed(error, operation())),
        }
    }

    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        checks::stream_id(aggregate_id)?;
        self.fetch_stream(aggregate_id, from_version, None, || {
            format!("load stream `{aggregate_id}` from version {from_version}")
        })
        .await
    }

    async fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        checks::stream_id(aggregate_id)?;
        self.fetch_stream(aggregate_id, from_version, Some(to_version), || {
            format!("load stream `{aggregate_id}` versions {from_version}..={to_version}")
        })
        .await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut rows = sqlx::query(statements::READ_ALL)
            .bind(to_i64(from_position))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch(&self.pool);
        let mut decoder = RowDecoder::default();
        let mut events = Vec::with_capacity(limit.min(1024));
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => decoder.global_row(&row)?.0.push_into(&mut events),
                Ok(None) => return Ok(events),
                Err(error) => {
                    return Err(self.failed(
                        error,
                        format!("read the global stream from position {from_position}"),
                    ));
                }
            }
        }
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        checks::snapshot(&snapshot)?;
        let version = i64::try_from(snapshot.version).map_err(|_| {
            StoreError::Configuration(format!(
                "snapshot of stream `{}` has version {}, more than SQLite's INTEGER holds",
                snapshot.aggregate_id, snapshot.version
            ))
        })?;
        let state =
            serde_json::to_string(&snapshot.state).map_err(|source| StoreError::Serialize {
                stream_id: snapshot.aggregate_id.clone(),
                event_type: format!("snapshot of {}", snapshot.aggregate_type),
                source,
            })?;
        let operation = || format!("save the snapshot of stream `{}`", snapshot.aggregate_id);
        let turn = self.write_queue.turn(&self.path, operation).await?;
        let saved = async {
            let mut connection = turn.connection(&self.pool).await?;
            let saved = sqlx::query(statements::SAVE_SNAPSHOT)
                .bind(&snapshot.aggregate_id)
                .bind(&snapshot.aggregate_type)
                .bind(version)
                .bind(state)
                .bind(nanos(snapshot.taken_at))
                .execute(&mut *connection)
                .await;
            connection.finish().await;
            saved
        }
        .await;
        drop(turn);
        saved
            .map(drop)
            .map_err(|error| self.failed(error, operation()))
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        checks::stream_id(aggregate_id)?;
        let row: Option<(String, i64, String, i64)> = sqlx::query_as(statements::LOAD_SNAPSHOT)
            .bind(aggregate_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| {
                self.failed(
                    error,
                    format!("load the snapshot of stream `{aggregate_id}`"),
                )
            })?;
        let Some((aggregate_type, version, state, taken_at)) = row else {
            return Ok(None);
        };
        let state = serde_json::from_str(&state).map_err(|source| StoreError::Backend {
            operation: format!(
                "decode the snapshot of stream `{aggregate_id}` at version {version}"
            ),
            source: Box::new(source),
        })?;
        Ok(Some(Snapshot {
            aggregate_id: aggregate_id.to_owned(),
            aggregate_type,
            version: to_u64(version),
            state,
            taken_at: time_from_nanos(taken_at),
        }))
    }
    async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        SqliteEventStore::stream_version(self, aggregate_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SqliteEventStore::ping(self).await
    }

    async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        SqliteEventStore::read_all_filtered(self, from_position, limit, filter).await
    }

    async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: std::time::Duration,
    ) -> Result<(), StoreError> {
        SqliteEventStore::wait_for_append(self, after_position, max_wait).await
    }

    async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        SqliteEventStore::read_all_raw(self, from_position, limit).await
    }
}
