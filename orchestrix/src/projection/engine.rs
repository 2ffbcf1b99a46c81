//! [`ProjectionEngine`]: a projection's name, its handlers and its state
//! store, and how it treats failures.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::context::ProjectionContext;
use super::error::ProjectionError;
use super::handler::ProjectionHandler;
use super::state::ProjectionState;
use super::store::ProjectionStateStore;
use crate::bus::IntoHandlerResult;
use crate::message::{Envelope, Event};
use crate::retry::RetryPolicy;
use crate::store::EventTypeFilter;

/// What a projection does with an event its handler keeps failing on (after
/// the retries its [`RetryPolicy`] allows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// Stop, mark the projection unhealthy and keep the checkpoint before
    /// the event: nothing is skipped, a person (or a fix and a restart)
    /// must act.
    #[default]
    Stop,
    /// Park the event as a [`DeadLetter`](super::DeadLetter) and go on; it
    /// can be replayed later with
    /// [`replay_dead_letters`](ProjectionEngine::replay_dead_letters).
    Park,
}

/// How many events a projection reads per page unless
/// [`ProjectionEngine::with_batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// How long a runner's lease lasts unless
/// [`ProjectionEngine::with_lease_ttl`] says otherwise; it is renewed well
/// before.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// The longest a caught-up runner waits for an append before reading again
/// (the polling fallback when a wake-up is missed).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

type ResetHook = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Turns the events of the global stream into a read model.
///
/// A projection has a name (its checkpoint is stored under it), one handler
/// per event type it handles, and a [`ProjectionStateStore`]. It reads only
/// the event types it handles (filtered by the event store), applies each
/// event after its checkpoint exactly once, and keeps its state: checkpoint,
/// counts, health, lag.
///
/// * [`process_events`](Self::process_events) applies events handed to it;
/// * [`run`](Self::run) catches up from the checkpoint and then follows the
///   store live until a shutdown signal, holding the projection's lease so
///   that a second runner waits (and takes over when the first dies);
/// * [`rebuild`](Self::rebuild) replays everything into a reset read model.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use orchestrix::prelude::*;
/// use orchestrix::projection::{InMemoryProjectionStateStore, ProjectionEngine};
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct OrderCreated { order_id: String, total: u64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let totals = Arc::new(Mutex::new(HashMap::new()));
/// let mut engine = ProjectionEngine::new("order-summary", InMemoryProjectionStateStore::new());
/// engine.on::<OrderCreated, _, _>({
///     let totals = Arc::clone(&totals);
///     move |event, _context| {
///         let totals = Arc::clone(&totals);
///         async move {
///             totals.lock().unwrap().insert(event.message().order_id.clone(), event.message().total);
///         }
///     }
/// });
/// engine.initialize().await?;
///
/// let store = InMemoryAsyncEventStore::new();
/// store.save("ORD-001", &[Envelope::new(OrderCreated { order_id: "ORD-001".into(), total: 42 }).into()], None).await?;
/// let events = store.read_all(1, 100).await?;
/// engine.process_events(&events).await?;
/// assert_eq!(totals.lock().unwrap()["ORD-001"], 42);
/// assert_eq!(engine.state().position, 1);
/// # Ok(())
/// # }
/// ```
pub struct ProjectionEngine {
    pub(super) name: Arc<str>,
    pub(super) state_store: Arc<dyn ProjectionStateStore>,
    pub(super) handlers: HashMap<&'static str, ProjectionHandler>,
    /// The first event type registered twice, reported at start-up.
    pub(super) duplicate_handler: Option<&'static str>,
    pub(super) reset_hooks: Vec<ResetHook>,
    pub(super) retry: RetryPolicy,
    pub(super) on_failure: OnFailure,
    pub(super) batch_size: usize,
    pub(super) lease_ttl: Duration,
    pub(super) max_wait: Duration,
    /// Who this engine is when it holds the lease: unique per engine.
    pub(super) owner: String,
    pub(super) state: watch::Sender<ProjectionState>,
    /// Whether `state` was loaded from the state store.
    pub(super) loaded: std::sync::atomic::AtomicBool,
    /// The state store, when pages are applied in its transactions.
    #[cfg(feature = "postgres")]
    pub(super) transactional: Option<super::PostgreSQLProjectionStateStore>,
    /// One batch of events at a time (run, process_events, replay).
    pub(super) applying: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ProjectionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut event_types: Vec<_> = self.handlers.keys().collect();
        event_types.sort_unstable();
        f.debug_struct("ProjectionEngine")
            .field("name", &self.name)
            .field("event_types", &event_types)
            .field("on_failure", &self.on_failure)
            .field("retry", &self.retry)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl ProjectionEngine {
    /// A projection named `name` keeping its state in `state_store`, with
    /// no handlers yet.
    pub fn new(name: impl Into<String>, state_store: impl ProjectionStateStore + 'static) -> Self {
        let name: String = name.into();
        Self {
            state: watch::Sender::new(ProjectionState::new(name.clone())),
            name: name.into(),
            state_store: Arc::new(state_store),
            handlers: HashMap::new(),
            duplicate_handler: None,
            reset_hooks: Vec::new(),
            retry: RetryPolicy::none(),
            on_failure: OnFailure::Stop,
            batch_size: DEFAULT_BATCH_SIZE,
            lease_ttl: DEFAULT_LEASE_TTL,
            max_wait: DEFAULT_MAX_WAIT,
            owner: format!("projection-runner-{}", uuid::Uuid::new_v4()),
            loaded: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "postgres")]
            transactional: None,
            applying: tokio::sync::Mutex::new(()),
        }
    }

    /// A projection whose read model lives in the database of `state_store`:
    /// each page of events is applied in one transaction, which handlers
    /// reach through [`ProjectionContext::transaction`], and which also
    /// saves the checkpoint; every handler attempt runs in a savepoint. So a
    /// crash loses or doubles nothing, and a runner that lost its lease
    /// cannot commit.
    #[cfg(feature = "postgres")]
    pub fn transactional(
        name: impl Into<String>,
        state_store: super::PostgreSQLProjectionStateStore,
    ) -> Self {
        let mut engine = Self::new(name, state_store.clone());
        engine.transactional = Some(state_store);
        engine
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Handles events of type `E` with an async fn of the event and the
    /// [`ProjectionContext`]; it returns `()` or `Result<(), E>`.
    ///
    /// A second handler for the same event type is an error reported by
    /// [`initialize`](Self::initialize) (and by every run).
    pub fn on<E, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        E: Event,
        F: Fn(Envelope<E>, ProjectionContext) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        self.add_handler(E::NAME, ProjectionHandler::future(handler))
    }

    /// Handles events of type `E` with a sync fn of the event and the
    /// [`ProjectionContext`], run inline (keep it short: it runs on the
    /// runner's task); it returns `()` or `Result<(), E>`.
    pub fn on_sync<E, F, R>(&mut self, handler: F) -> &mut Self
    where
        E: Event,
        F: Fn(&E, &ProjectionContext) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        self.add_handler(E::NAME, ProjectionHandler::sync(handler))
    }

    pub(crate) fn add_handler(
        &mut self,
        event_type: &'static str,
        handler: ProjectionHandler,
    ) -> &mut Self {
        if self.handlers.insert(event_type, handler).is_some() {
            self.duplicate_handler.get_or_insert(event_type);
        }
        self
    }

    /// Runs `reset` before a [`rebuild`](Self::rebuild) replays history:
    /// it empties the read model.
    pub fn on_reset<F, Fut>(&mut self, reset: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.reset_hooks.push(Arc::new(move || {
            Box::pin(reset()) as futures::future::BoxFuture<'static, ()>
        }));
        self
    }

    /// Retries a failing handler as `policy` says before giving up on the
    /// event (then [`OnFailure`] decides).
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// What to do with an event the handler keeps failing on.
    pub fn with_on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// How many events to read per page (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How long a runner's lease lasts; it is renewed every third of it.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// The longest a caught-up runner waits for an append before reading
    /// again (a third of the lease TTL at most).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Who this engine is when it holds the projection's lease (unique per
    /// engine): what [`LeaseOutcome::Held`](super::LeaseOutcome::Held)
    /// names, for logs and health pages.
    pub fn runner_id(&self) -> &str {
        &self.owner
    }

    /// The event types the projection handles, as a store filter.
    pub fn event_types(&self) -> EventTypeFilter {
        EventTypeFilter::only(self.handlers.keys().copied())
    }

    /// Prepares the state store and loads the projection's state; reports
    /// a registration error (two handlers for one event type).
    pub async fn initialize(&self) -> Result<ProjectionState, ProjectionError> {
        self.check_registration()?;
        self.state_store
            .initialize()
            .await
            .map_err(|source| ProjectionError::state(&self.name, source))?;
        self.reload_state().await
    }

    pub(super) fn check_registration(&self) -> Result<(), ProjectionError> {
        match self.duplicate_handler {
            Some(event_type) => Err(ProjectionError::DuplicateHandler {
                projection: self.name.to_string(),
                event_type: event_type.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Reads the state back from the state store (another runner may have
    /// moved it).
    pub(super) async fn reload_state(&self) -> Result<ProjectionState, ProjectionError> {
        let state = self
            .state_store
            .load(&self.name)
            .await
            .map_err(|source| ProjectionError::state(&self.name, source))?
            .unwrap_or_else(|| ProjectionState::new(self.name.to_string()));
        self.state.send_replace(state.clone());
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(state)
    }

    /// The state as this engine last saved or loaded it.
    pub fn state(&self) -> ProjectionState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state this engine saves: for health
    /// endpoints, and for waiting until the projection has caught up.
    pub fn watch_state(&self) -> watch::Receiver<ProjectionState> {
        self.state.subscribe()
    }

    /// The state store.
    pub fn state_store(&self) -> &Arc<dyn ProjectionStateStore> {
        &self.state_store
    }
}
