//! [`BlockingSqliteEventStore`]: the SQLite event store behind the blocking
//! [`EventStore`] contract, for programs without an async runtime.

use std::future::Future;
use std::path::Path;

use tokio::runtime::Runtime;

use super::SqliteEventStore;
use crate::message::AnyEnvelope;
use crate::sqlite::SqliteOptions;
use crate::store::{
    AppendOutcome, AsyncEventStore, EventStore, EventTypeFilter, GlobalPage, RawRecordedEvent,
    RecordedEvent, Snapshot, StoreError,
};

/// A blocking [`EventStore`] in a SQLite file: the same store as
/// [`SqliteEventStore`] (same file format, same promises, usable beside
/// async stores and other processes on one file), with calls that return
/// when they are done.
///
/// It keeps a small runtime of its own (one worker thread) that drives the
/// driver's timers and background work; each call runs its future on the
/// calling thread inside that runtime's context. So it needs no runtime
/// from the caller and works from any thread: a plain `main`, a thread of
/// the caller's, tokio's blocking pool (`spawn_blocking`), even an async
/// task, where it never panics but blocks that task's worker for the
/// length of the call (up to the busy timeout while another process
/// writes), as any blocking I/O would: async code should use
/// [`SqliteEventStore`] itself.
///
/// Why a type of its own rather than [`EventStore`] on
/// [`SqliteEventStore`]: an async store's pool belongs to the runtime it
/// was opened on, and a blocking call cannot wait on that runtime from
/// inside it (tokio refuses with a panic, `Handle::block_on` on a
/// single-threaded runtime never drives its timers). Owning the runtime
/// makes every call safe to wait on.
///
/// ```rust,standalone_crate
/// use orchestrix::prelude::*;
/// use orchestrix::store::sqlite::BlockingSqliteEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct AccountOpened { owner: String }
///
/// # fn main() -> Result<(), StoreError> {
/// // A file: `BlockingSqliteEventStore::connect("sqlite://bank.db")`.
/// let store = BlockingSqliteEventStore::connect("sqlite::memory:")?;
/// let opened = Envelope::new(AccountOpened { owner: "Ada".into() }).into_any();
/// EventStore::save(&store, "ACC-001", &[opened], Some(0))?;
/// assert_eq!(EventStore::load(&store, "ACC-001", 1)?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BlockingSqliteEventStore {
    store: SqliteEventStore,
    /// `Some` until dropped (see the `Drop` impl).
    runtime: Option<Runtime>,
}

impl BlockingSqliteEventStore {
    /// Opens `connection_string` (`sqlite://orders.db`, `sqlite::memory:`)
    /// with the default options and migrates it, as
    /// [`SqliteEventStore::connect`] does.
    pub fn connect(connection_string: &str) -> Result<Self, StoreError> {
        Self::connect_with(SqliteOptions::new(connection_string)?)
    }

    /// Opens the database as `options` describe and migrates it.
    pub fn connect_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("orchestrix-sqlite")
            .enable_all()
            .build()
            .map_err(|error| StoreError::Backend {
                operation: "start the blocking SQLite store's runtime".to_owned(),
                source: Box::new(error),
            })?;
        let store = run(&runtime, SqliteEventStore::connect_with(options));
        let store = match store {
            Ok(store) => store,
            Err(error) => {
                runtime.shutdown_background();
                return Err(error);
            }
        };
        Ok(Self {
            store,
            runtime: Some(runtime),
        })
    }

    /// The database file (for a memory database, its internal name).
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => run(runtime, future),
            // Only `drop` takes the runtime, and nothing calls after it.
            None => unreachable!("the runtime lives as long as the store"),
        }
    }
}

/// Polls `future` to completion on this thread, inside `runtime`'s context
/// (whose worker drives the timers and I/O it waits on). Unlike
/// `Runtime::block_on`, it works inside another runtime's task too.
fn run<F: Future>(runtime: &Runtime, future: F) -> F::Output {
    let _context = runtime.enter();
    futures::executor::block_on(future)
}

/// Stops the runtime without waiting for it: dropping a runtime the usual
/// way panics inside an async context, and the store may well be dropped
/// there.
impl Drop for BlockingSqliteEventStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl EventStore for BlockingSqliteEventStore {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.block_on(AsyncEventStore::save(
            &self.store,
            aggregate_id,
            events,
            expected_version,
        ))
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.block_on(AsyncEventStore::load(
            &self.store,
            aggregate_id,
            from_version,
        ))
    }

    fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.block_on(AsyncEventStore::load_range(
            &self.store,
            aggregate_id,
            from_version,
            to_version,
        ))
    }

    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.block_on(AsyncEventStore::read_all(&self.store, from_position, limit))
    }

    fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        self.block_on(AsyncEventStore::read_all_filtered(
            &self.store,
            from_position,
            limit,
            filter,
        ))
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.block_on(AsyncEventStore::save_snapshot(&self.store, snapshot))
    }

    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.block_on(AsyncEventStore::load_snapshot(&self.store, aggregate_id))
    }

    fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.block_on(AsyncEventStore::read_all_raw(
            &self.store,
            from_position,
            limit,
        ))
    }

    fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        self.block_on(AsyncEventStore::stream_version(&self.store, aggregate_id))
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.block_on(AsyncEventStore::ping(&self.store))
    }
}
