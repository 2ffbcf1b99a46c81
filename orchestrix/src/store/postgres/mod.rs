//! The PostgreSQL event store (feature `postgres`): [`PostgreSQLEventStore`].
//!
//! Events live in one table per schema: the payload as JSONB with its type
//! name and schema version, the CloudEvents context in one compact binary
//! column (`store::context`; rows written before schema version 4 also
//! have it, or only have it, in typed columns or as JSON). Each
//! append is one round trip of one plain statement (`INSERT ... SELECT`)
//! that registers the append as in flight, checks the expected version and
//! inserts every event; the `(stream_id, version)` unique constraint settles
//! races. Readers of the global stream first wait for the appends that may
//! still commit below the last position handed out. See `docs/postgres.md`
//! for the design.

mod append;
mod decode;
mod encode;
mod failure;
mod notify;
mod read;
mod rewrite;
mod statements;

use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::PgPool;
use sqlx::types::Json;

use self::decode::RowDecoder;
use self::encode::EventBatch;
use self::failure::Failure;
use self::notify::Notifications;
use self::statements::Statements;
use crate::error::ConcurrencyError;
use crate::message::AnyEnvelope;
use crate::postgres::{
    ConnectGate, DEFAULT_SCHEMA, Migration, PostgresOptions, SqlIdentifier, connect_pool,
    describe_target, migrate,
};
use crate::store::ReplayedEvent;
use crate::store::{
    AppendOutcome, AsyncEventStore, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent,
    Snapshot, StoreError, checks,
};
use std::ops::ControlFlow;

/// The event store's migrations, shipped in the crate (versions `1..100`).
pub const EVENT_STORE_MIGRATIONS: &[Migration] = &[
    Migration::new(
        1,
        "event store",
        include_str!("../../../migrations/0001_event_store.sql"),
    ),
    Migration::new(
        2,
        "typed metadata, plain appends",
        include_str!("../../../migrations/0002_typed_metadata_plain_appends.sql"),
    ),
    Migration::new(
        3,
        "event context column",
        include_str!("../../../migrations/0003_event_context.sql"),
    ),
    Migration::new(
        4,
        "context-only appends",
        include_str!("../../../migrations/0004_context_only_appends.sql"),
    ),
];

/// The oldest server the store runs on, as `server_version_num`:
/// PostgreSQL 14 (see [`PostgreSQLEventStore::initialize`]).
pub const MIN_SERVER_VERSION_NUM: u32 = 140_000;

/// An [`AsyncEventStore`] in PostgreSQL: pooled, async, with optimistic
/// concurrency, a global stream that no reader can skip ahead in,
/// and snapshots.
///
/// Create it with a connection string (and pool sizes, through
/// [`PostgresOptions`]) or from an existing pool, then call
/// [`initialize`](Self::initialize) once before use: it creates or upgrades
/// the schema, and is safe to call from many processes at once.
///
/// ```no_run
/// use orchestrix::postgres::PostgresOptions;
/// use orchestrix::prelude::*;
/// use orchestrix::store::postgres::PostgreSQLEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct AccountOpened { owner: String }
///
/// # async fn run() -> Result<(), StoreError> {
/// let options = PostgresOptions::builder("postgres://postgres@127.0.0.1:5432/bank")
///     .pool_min_size(5)
///     .pool_max_size(20)
///     .build()?;
/// let store = PostgreSQLEventStore::connect_with(options).await?;
/// store.initialize().await?;
///
/// let opened = Envelope::new(AccountOpened { owner: "Ada".into() }).into_any();
/// store.save("ACC-001", &[opened], Some(0)).await?;
/// let events = store.load("ACC-001", 1).await?;
/// assert_eq!(events[0].downcast_ref::<AccountOpened>().map(|e| e.owner.as_str()), Some("Ada"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PostgreSQLEventStore {
    pool: PgPool,
    schema: SqlIdentifier,
    statements: Arc<Statements>,
    target: Arc<str>,
    notifications: Arc<Notifications>,
    gate: Arc<ConnectGate>,
}

impl PostgreSQLEventStore {
    /// Connects to `connection_string` with the default pool settings and
    /// schema (see [`PostgresOptions::builder`]).
    ///
    /// A connection string that does not parse is
    /// [`StoreError::Configuration`]; a server that cannot be reached is
    /// [`StoreError::Unavailable`] naming the host it tried.
    pub async fn connect(connection_string: &str) -> Result<Self, StoreError> {
        Self::connect_with(PostgresOptions::new(connection_string)?).await
    }

    /// Connects as `options` describe (pool sizes, timeouts, schema).
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        let pool = connect_pool(&options).await?;
        let store = Self::from_pool_in(pool, options.schema().clone());
        Ok(Self {
            gate: Arc::new(ConnectGate::new(&options)),
            ..store
        })
    }

    /// Uses an existing pool, with the tables in the default schema
    /// (`orchestrix`).
    pub fn from_pool(pool: PgPool) -> Self {
        Self::from_pool_in(pool, default_schema())
    }

    /// Uses an existing pool, with the tables in `schema` (a plain
    /// lower-case identifier, see [`SqlIdentifier`]).
    pub fn from_pool_with_schema(pool: PgPool, schema: &str) -> Result<Self, StoreError> {
        Ok(Self::from_pool_in(pool, SqlIdentifier::new(schema)?))
    }

    fn from_pool_in(pool: PgPool, schema: SqlIdentifier) -> Self {
        let target = describe_target(&pool.connect_options()).into();
        let statements = Statements::new(&schema, false);
        let notifications = Notifications::new(pool.clone(), &schema, statements.notify.clone());
        Self {
            statements: Arc::new(statements),
            notifications: Arc::new(notifications),
            gate: Arc::new(ConnectGate::for_pool(&pool)),
            pool,
            schema,
            target,
        }
    }

    /// Sets how long opening a connection may take before a call fails as
    /// unavailable (see [`PostgresOptions::connect_timeout`]; a store made
    /// with [`connect_with`](Self::connect_with) takes it from the options,
    /// one made from a pool has [`DEFAULT_CONNECT_TIMEOUT`](crate::postgres::DEFAULT_CONNECT_TIMEOUT)).
    #[must_use]
    pub fn with_connect_timeout(self, timeout: std::time::Duration) -> Self {
        let connect = (*self.pool.connect_options()).clone();
        Self {
            gate: Arc::new(ConnectGate::for_server(connect, timeout)),
            ..self
        }
    }

    /// Whether appends also write each event's metadata into the typed
    /// columns of schema version 2 (`event_id`, `source`, `occurred_at`,
    /// `correlation_id`, ...), as appends of versions 2 and 3 did, beside
    /// the compact `context`. Off by default: since version 4 the context
    /// is the only copy (the typed columns cost about 73 WAL and 79 heap
    /// bytes per event; see `docs/postgres.md`).
    ///
    /// Turn it on for a rolling upgrade, while processes of version 3 or
    /// earlier still run against the same schema: they read the typed
    /// columns of the rows they read raw, and a `Dispatcher` reads raw
    /// when it parks an event that does not decode (the default), so
    /// without them such a process fails on every row this one appends
    /// (a version-2 process cannot load them at all). SQL that reads the
    /// typed columns keeps working too. Turn it off once every process
    /// runs this version; the rows written meanwhile keep their typed
    /// columns and read as version 3's do.
    ///
    /// ```no_run
    /// use orchestrix::postgres::PostgresOptions;
    /// use orchestrix::store::StoreError;
    /// use orchestrix::store::postgres::PostgreSQLEventStore;
    ///
    /// # async fn run() -> Result<(), StoreError> {
    /// let options = PostgresOptions::new("postgres://postgres@127.0.0.1:5432/bank")?;
    /// // Processes of version 3 still run their Dispatchers on this schema.
    /// let store = PostgreSQLEventStore::connect_with(options)
    ///     .await?
    ///     .write_typed_metadata_columns(true);
    /// store.initialize().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn write_typed_metadata_columns(self, write: bool) -> Self {
        Self {
            statements: Arc::new(Statements::new(&self.schema, write)),
            ..self
        }
    }

    /// Creates the schema and its tables, or upgrades them, from the
    /// migrations shipped in the crate. Idempotent; safe to run from many
    /// processes at once (they wait for each other on an advisory lock).
    ///
    /// First checks the event registry: two Rust types under one event name
    /// fail with [`StoreError::Registry`] before anything is stored. Then
    /// checks the server is PostgreSQL 14 or later
    /// ([`MIN_SERVER_VERSION_NUM`]): a [`StoreError::Configuration`]
    /// otherwise.
    pub async fn initialize(&self) -> Result<(), StoreError> {
        crate::registry::validate()?;
        self.check_server_version().await?;
        migrate(&self.pool, &self.schema, EVENT_STORE_MIGRATIONS).await?;
        Ok(())
    }

    /// Loads build the context of a row stored without one with exact
    /// arithmetic on `extract(epoch FROM ...)`, which is `numeric` only
    /// from PostgreSQL 14 on (before, `double precision`: its text is
    /// `1.79e+18` and its `bigint` off by up to ~128 ns).
    async fn check_server_version(&self) -> Result<(), StoreError> {
        let version: Result<String, _> =
            sqlx::query_scalar("SELECT current_setting('server_version_num')")
                .fetch_one(&self.pool)
                .await;
        let version = match version {
            Ok(version) => version,
            Err(error) => {
                return Err(self
                    .failure(error, "read the server's version".to_owned())
                    .report()
                    .await);
            }
        };
        if supported_server(&version) {
            Ok(())
        } else {
            Err(StoreError::Configuration(format!(
                "the PostgreSQL event store needs PostgreSQL 14 or later \
                 (server_version_num {MIN_SERVER_VERSION_NUM} or more); the server reports `{version}`"
            )))
        }
    }

    /// Fills the `context` column of rows stored without one by schema
    /// version 2 (before migration 0003, or by a process of version 2
    /// during a rolling upgrade), so they load as fast as new rows: loads
    /// build the same bytes for such rows on every read (see the design
    /// notes in docs/postgres.md for the cost). Returns how many rows it
    /// filled.
    ///
    /// Runs in batches of `batch_size` positions (0 counts as 1), one
    /// `UPDATE` and transaction each, from position 1 to the highest at
    /// the start: each batch locks only the rows it fills, so appends go on
    /// meanwhile, and an interrupted run loses at most its current batch.
    /// Safe to re-run (it fills only rows still without a context; a
    /// second run fills what a process of version 2 wrote since). Version-1
    /// rows (the `metadata` JSON) and rows whose typed columns make no
    /// context (written past the store: they fail alone as
    /// [`StoreError::Decode`]) are left as they are. A filled row's
    /// CloudEvents `type` is then frozen as it is now, as for a new row:
    /// a later `rewrite_to_current` renaming it no longer changes it.
    pub async fn backfill_contexts(&self, batch_size: usize) -> Result<u64, StoreError> {
        self.gate.check(&self.pool).await?;
        let operation = "fill the context of old rows";
        let last: i64 = match sqlx::query_scalar(self.statements.last_position.clone())
            .fetch_one(&self.pool)
            .await
        {
            Ok(last) => last,
            Err(error) => return Err(self.failure(error, operation.to_owned()).report().await),
        };
        let step = i64::try_from(batch_size.max(1)).unwrap_or(i64::MAX);
        let mut filled = 0;
        let mut from = 1_i64;
        while from <= last {
            let to = from.saturating_add(step - 1);
            let done = sqlx::query(self.statements.backfill_contexts.clone())
                .bind(from)
                .bind(to)
                .execute(&self.pool)
                .await;
            match done {
                Ok(done) => filled += done.rows_affected(),
                Err(error) => {
                    let operation = format!("{operation} at positions {from} to {to}");
                    return Err(self.failure(error, operation).report().await);
                }
            }
            let Some(next) = to.checked_add(1) else { break };
            from = next;
        }
        Ok(filled)
    }

    /// The pool, e.g. to share it with the saga state store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// The stream's current version (0 for a stream that does not exist).
    pub async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        checks::stream_id(aggregate_id)?;
        self.gate.check(&self.pool).await?;
        let version: Result<i64, _> = sqlx::query_scalar(self.statements.stream_version.clone())
            .bind(aggregate_id)
            .fetch_one(&self.pool)
            .await;
        match version {
            Ok(version) => Ok(to_u64(version)),
            Err(error) => Err(self
                .failure(
                    error,
                    format!("read the version of stream `{aggregate_id}`"),
                )
                .report()
                .await),
        }
    }

    /// Whether the server answers: [`StoreError::Unavailable`] when it
    /// cannot be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(crate::postgres::ping(&self.pool, &self.gate).await?)
    }

    /// Reads the global stream from `from_position`: up to `limit` events of
    /// `filter`'s types, in position order, and how far the read looked.
    ///
    /// The type filter runs in SQL on the `(event_type, position)` index:
    /// rows of other types are neither fetched nor decoded (their types need
    /// not even be registered in this process). Keeps the promise of
    /// [`read_all`](AsyncEventStore::read_all): no event is ever skipped.
    pub async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        self.read_page(from_position, limit, filter).await
    }

    /// Reads the global stream like [`read_all`](AsyncEventStore::read_all)
    /// (same promise), without decoding the events: the stored JSON text of
    /// each event and its metadata as JSON, e.g. for events whose type this
    /// process does not know. Total: a row whose stored context does not
    /// decode is read too (see [`RawRecordedEvent::metadata`]).
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
    /// been appended (by any process), or after `max_wait` at the latest: a
    /// follower then reads again (the polling fallback). Spurious wake-ups
    /// happen (for example when the listener reconnects).
    ///
    /// Woken by PostgreSQL notifications: every append is announced on the
    /// store's channel, and one listener connection per store (opened on the
    /// first wait, outside the pool, reconnected when it drops) wakes every
    /// waiter. See `notify` in the source and `docs/postgres.md`.
    pub async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.notifications.wait(after_position, max_wait).await;
        Ok(())
    }

    /// The PostgreSQL channel this store announces its appends on (the
    /// payload is the last appended position).
    pub fn notification_channel(&self) -> &str {
        self.notifications.channel()
    }

    /// Appends like [`save`](AsyncEventStore::save), inside the caller's
    /// transaction (for example to write other rows atomically with the
    /// events). The events become visible, and their positions readable by
    /// followers, when the caller commits; followers waiting in
    /// [`wait_for_append`](Self::wait_for_append) notice them at their next
    /// read (no notification is sent). A version conflict is a
    /// [`ConcurrencyError`], and a conflict found by the unique constraint
    /// aborts the caller's transaction (as any failed statement does).
    pub async fn save_in_transaction(
        &self,
        transaction: &mut sqlx::PgConnection,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            checks::stream_id(aggregate_id)?;
            return self.empty_append(aggregate_id, expected_version).await;
        }
        let batch = EventBatch::encode(aggregate_id, events, self.statements.typed_columns)?;
        self.append_once(transaction, aggregate_id, &batch, expected_version)
            .await
    }

    /// An append of no events: checks the expected version, writes nothing.
    async fn empty_append(
        &self,
        aggregate_id: &str,
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        let actual = self.stream_version(aggregate_id).await?;
        match expected_version {
            Some(expected) if expected != actual => Err(ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected,
                actual,
            }
            .into()),
            _ => Ok(AppendOutcome {
                new_version: actual,
                positions: Vec::new(),
            }),
        }
    }

    /// Runs a query for one stream's events and decodes its rows, then
    /// returns the events in version order.
    ///
    /// The load statements have no `ORDER BY`: sorting in the server holds
    /// every row back until the last one is read (the client decodes
    /// nothing meanwhile) and, with the statistics of a young table, sorts
    /// the whole stream's rows, payloads and contexts included, on every
    /// load. The rows arrive in the order the plan reads them: the index's
    /// (version order) or the table's (the order they were written in,
    /// which is version order too unless a row was rewritten since, by
    /// `backfill_contexts` or by hand). So the events are checked here, in
    /// one pass, and sorted only when they are out of order. The sort is
    /// stable: the events an upcaster split one row into keep their order.
    async fn fetch_stream<'q>(
        &self,
        aggregate_id: &str,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        operation: impl FnOnce() -> String,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut rows = query.fetch(&self.pool);
        let mut decoder = RowDecoder::new();
        let mut events = Vec::new();
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => decoder.stream_row(aggregate_id, &row, &mut events)?,
                Ok(None) => break,
                Err(error) => {
                    drop(rows);
                    return Err(self.failure(error, operation()).report().await);
                }
            }
        }
        if !events.is_sorted_by_key(|event| event.version) {
            events.sort_by_key(|event| event.version);
        }
        Ok(events)
    }

    fn failure(&self, error: sqlx::Error, operation: String) -> Failure<'_> {
        Failure::new(&self.pool, &self.gate, &self.target, error, operation)
    }
}

/// Whether a server reporting `server_version_num` as `version` is one
/// the store runs on ([`MIN_SERVER_VERSION_NUM`]).
fn supported_server(version: &str) -> bool {
    version
        .trim()
        .parse::<u32>()
        .is_ok_and(|number| number >= MIN_SERVER_VERSION_NUM)
}

fn default_schema() -> SqlIdentifier {
    SqlIdentifier::trusted(DEFAULT_SCHEMA)
}

/// What a stream load (or replay) was doing, for its errors: `from_version`
/// on, or up to `to_version` when bounded.
fn stream_load(aggregate_id: &str, from_version: u64, to_version: Option<u64>) -> String {
    match to_version {
        None => format!("load stream `{aggregate_id}` from version {from_version}"),
        Some(to_version) => {
            format!("load stream `{aggregate_id}` versions {from_version}..={to_version}")
        }
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait::async_trait]
impl AsyncEventStore for PostgreSQLEventStore {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            checks::stream_id(aggregate_id)?;
            self.gate.check(&self.pool).await?;
            return self.empty_append(aggregate_id, expected_version).await;
        }
        // Checks the limits and serializes each payload, in one pass.
        let batch = EventBatch::encode(aggregate_id, events, self.statements.typed_columns)?;
        self.gate.check(&self.pool).await?;
        let outcome = match expected_version {
            Some(_) => {
                self.append_once(&self.pool, aggregate_id, &batch, expected_version)
                    .await?
            }
            None => self.append_at_any_version(aggregate_id, &batch).await?,
        };
        if let Some(&last) = outcome.positions.last() {
            self.notifications.appended(last);
        }
        Ok(outcome)
    }

    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        checks::stream_id(aggregate_id)?;
        self.gate.check(&self.pool).await?;
        let query = sqlx::query(self.statements.load.clone())
            .bind(aggregate_id)
            .bind(to_i64(from_version));
        self.fetch_stream(aggregate_id, query, || {
            stream_load(aggregate_id, from_version, None)
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
        self.gate.check(&self.pool).await?;
        let query = sqlx::query(self.statements.load_range.clone())
            .bind(aggregate_id)
            .bind(to_i64(from_version))
            .bind(to_i64(to_version));
        self.fetch_stream(aggregate_id, query, || {
            stream_load(aggregate_id, from_version, Some(to_version))
        })
        .await
    }

    async fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut (dyn for<'e> FnMut(ReplayedEvent<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        self.replay_stream(aggregate_id, from_version, to_version, apply)
            .await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(self
            .read_page(from_position, limit, &EventTypeFilter::all())
            .await?
            .events)
    }

    async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        PostgreSQLEventStore::read_all_filtered(self, from_position, limit, filter).await
    }

    async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: std::time::Duration,
    ) -> Result<(), StoreError> {
        PostgreSQLEventStore::wait_for_append(self, after_position, max_wait).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        checks::snapshot(&snapshot)?;
        self.gate.check(&self.pool).await?;
        let version = i64::try_from(snapshot.version).map_err(|_| {
            StoreError::Configuration(format!(
                "snapshot of stream `{}` has version {}, more than PostgreSQL's bigint holds",
                snapshot.aggregate_id, snapshot.version
            ))
        })?;
        let result = sqlx::query(self.statements.save_snapshot.clone())
            .bind(&snapshot.aggregate_id)
            .bind(&snapshot.aggregate_type)
            .bind(version)
            .bind(Json(&snapshot.state))
            .bind(snapshot.taken_at)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(self
                .failure(
                    error,
                    format!("save the snapshot of stream `{}`", snapshot.aggregate_id),
                )
                .report()
                .await),
        }
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        checks::stream_id(aggregate_id)?;
        self.gate.check(&self.pool).await?;
        let row: Option<(String, i64, String, time::OffsetDateTime)> =
            match sqlx::query_as(self.statements.load_snapshot.clone())
                .bind(aggregate_id)
                .fetch_optional(&self.pool)
                .await
            {
                Ok(row) => row,
                Err(error) => {
                    return Err(self
                        .failure(
                            error,
                            format!("load the snapshot of stream `{aggregate_id}`"),
                        )
                        .report()
                        .await);
                }
            };
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
            taken_at,
        }))
    }

    async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        PostgreSQLEventStore::stream_version(self, aggregate_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        PostgreSQLEventStore::ping(self).await
    }

    async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        PostgreSQLEventStore::read_all_raw(self, from_position, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgresql_14_or_later_is_supported() {
        for version in ["140000", "150020", "170002", " 160001\n"] {
            assert!(supported_server(version), "{version}");
        }
        for version in ["130018", "90624", "", "15.2", "-1"] {
            assert!(!supported_server(version), "{version}");
        }
    }

    #[test]
    fn the_default_schema_is_a_valid_identifier() {
        assert!(SqlIdentifier::new(DEFAULT_SCHEMA).is_ok());
    }
}
