//! [`Dispatcher`]: runs the durable handlers from the event store.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::DeliveryError;
use super::options::DeliveryOptions;
use super::store::{DeliveryStore, ParkedEvent};
use crate::bus::handler::AsyncHandler;
use crate::bus::memory::{
    AsyncBusRegistration, BusKind, Chosen, Registration as _, find_unmet, ordered,
};
use crate::bus::{
    BusBuildError, Dependencies, HandlerContext, HandlerName, InMemoryAsyncMessageBus,
};
use crate::error::BoxError;
use crate::projection::handler::{HandlerCall, ProjectionHandler};
use crate::projection::{
    LeaseOutcome, ProjectionContext, ProjectionEngine, ProjectionError, ProjectionState,
};
use crate::registry::HandlerFn;
use crate::retry::RetryPolicy;
use crate::store::{AsyncEventStore, RecordedEvent, StoreError};

/// The prefix of a handler group's checkpoint name in the projection state
/// store: group `shop` keeps its checkpoint as `delivery:shop`.
pub const GROUP_PREFIX: &str = "delivery:";

/// What a group does with a stored event that does not decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undecodable {
    /// Park it for each handler of its type, with the decode error, and go
    /// on (the default).
    #[default]
    Park,
    /// Stop the group (it retries, paused, until the event is repaired).
    Stop,
}

/// A durable handler, ready to run.
struct DurableHandler {
    name: &'static str,
    path: &'static str,
    event_name: &'static str,
    group: Arc<str>,
    handler: AsyncHandler,
    options: DeliveryOptions,
}

/// One handler group: a projection engine whose handlers fan out.
struct Group {
    name: Arc<str>,
    engine: ProjectionEngine,
    handlers: Vec<Arc<DurableHandler>>,
}

/// What the handlers of every group share.
struct Shared {
    delivery: Arc<dyn DeliveryStore>,
    dependencies: Arc<Dependencies>,
}

struct Inner {
    store: Arc<dyn AsyncEventStore>,
    shared: Arc<Shared>,
    handlers: HashMap<&'static str, Arc<DurableHandler>>,
    groups: Vec<Group>,
    undecodable: Undecodable,
    restart: RetryPolicy,
    lease_ttl: Duration,
    /// How many times a group stopped (and was resumed).
    stops: watch::Sender<u64>,
}

/// Runs the durable handlers: follows the event store's global stream from
/// a checkpoint per handler group and hands each stored event to the
/// group's handlers for its type.
///
/// * **at least once, position order per group, across restarts**: the
///   checkpoint moves after the handlers ran (and their failures were
///   parked); a crash in between runs them again;
/// * **never stops on a handler**: an error or panic is a failed attempt;
///   after the last one the event is parked ([`ParkedEvent`]) unless the
///   handler asks for strict order;
/// * **pauses, never loses**: a lost database connection, a store error,
///   a strict handler's failure stop the group's run; it resumes from its
///   checkpoint after a backoff;
/// * **one runner per group**: a group's lease (in the delivery store) makes
///   a second dispatcher wait and take over when the first dies.
///
/// A handler group is named by `#[event_handler(group = "...")]`; by
/// default each handler is a group of its own.
///
/// ```standalone_crate
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use orchestrix::prelude::*;
/// use orchestrix::delivery::{Dispatcher, InMemoryDeliveryStore};
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: String }
///
/// #[event_handler(durable, idempotent)]
/// async fn count_orders(_event: &OrderPlaced, counter: Dep<AtomicU32>) {
///     counter.fetch_add(1, Ordering::SeqCst);
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(InMemoryAsyncEventStore::new());
/// let counter = Arc::new(AtomicU32::new(0));
/// let dispatcher = Dispatcher::builder(store.clone(), InMemoryDeliveryStore::new())
///     .dependency_arc(counter.clone())
///     .handler(count_orders)
///     .build()?;
/// let running = dispatcher.start();
///
/// let appended = store
///     .save("ORD-1", &[Envelope::new(OrderPlaced { order_id: "ORD-1".into() }).into()], None)
///     .await?;
/// running.dispatcher().caught_up(appended.positions[0]).await;
/// assert_eq!(counter.load(Ordering::SeqCst), 1);
/// running.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups: BTreeMap<&str, Vec<&str>> = self
            .inner
            .groups
            .iter()
            .map(|group| {
                let names = group.handlers.iter().map(|handler| handler.name).collect();
                (&*group.name, names)
            })
            .collect();
        f.debug_struct("Dispatcher")
            .field("groups", &groups)
            .field("undecodable", &self.inner.undecodable)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Dispatcher`]: the event store, the delivery store, the
/// handlers and their dependencies.
pub struct DispatcherBuilder {
    store: Arc<dyn AsyncEventStore>,
    delivery: Arc<dyn DeliveryStore>,
    dependencies: Dependencies,
    registrations: Vec<AsyncBusRegistration>,
    /// What `.handler(...)` was given that is no `#[event_handler]` fn (its
    /// path): refused by `build()`.
    not_handlers: Vec<&'static str>,
    batch_size: usize,
    lease_ttl: Duration,
    max_wait: Duration,
    undecodable: Undecodable,
    restart: RetryPolicy,
}

impl std::fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("handlers", &self.registrations.len())
            .field("dependencies", &self.dependencies)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A builder over `store` (the outbox) and `delivery` (checkpoints,
    /// parked events, processed ids).
    pub fn builder(
        store: Arc<dyn AsyncEventStore>,
        delivery: impl DeliveryStore + 'static,
    ) -> DispatcherBuilder {
        DispatcherBuilder {
            store,
            delivery: Arc::new(delivery),
            dependencies: Dependencies::new(),
            registrations: Vec::new(),
            not_handlers: Vec::new(),
            batch_size: crate::projection::DEFAULT_BATCH_SIZE,
            lease_ttl: crate::projection::DEFAULT_LEASE_TTL,
            max_wait: crate::projection::DEFAULT_MAX_WAIT,
            undecodable: Undecodable::Park,
            restart: RetryPolicy::exponential(Duration::from_millis(50), u32::MAX)
                .with_max_delay(Duration::from_secs(5)),
        }
    }
}

impl DispatcherBuilder {
    /// Adds a shared dependency, which handlers ask for as `Dep<T>`.
    #[must_use]
    pub fn dependency<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.dependencies.insert(value);
        self
    }

    /// Adds an already shared dependency (`T` may be a trait object).
    #[must_use]
    pub fn dependency_arc<T: ?Sized + Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.dependencies.insert_arc(value);
        self
    }

    /// Runs every `#[event_handler(durable, ...)]` fn linked into the
    /// program (the buses' `register_handlers()` leaves them out).
    #[must_use]
    pub fn register_handlers(mut self) -> Self {
        let durable_async = crate::registry::async_handlers()
            .into_iter()
            .filter(|registration| registration.delivery.is_durable())
            .map(|registration| AsyncBusRegistration::from(*registration));
        let durable_sync = crate::registry::sync_handlers()
            .into_iter()
            .filter(|registration| registration.delivery.is_durable())
            .map(|registration| AsyncBusRegistration::from(*registration));
        self.registrations.extend(durable_async.chain(durable_sync));
        self
    }

    /// Runs the `#[event_handler]` fn `handler` (given by value:
    /// `.handler(send_receipt)`, `async fn` or plain) durably, whether or not
    /// it was declared `durable` (its retry, idempotency and order options
    /// apply): the one-line way to move a handler from inline to durable.
    /// Anything that is not an `#[event_handler]` fn is refused by
    /// [`build`](Self::build) with [`BusBuildError::NotAHandler`].
    #[must_use]
    pub fn handler<F: 'static>(mut self, handler: F) -> Self {
        let handler = HandlerFn::of(&handler);
        match <InMemoryAsyncMessageBus as BusKind>::chosen(handler) {
            Chosen::Runs(registration) => self.registrations.push(registration),
            Chosen::NotRun(_) | Chosen::Unknown => self.not_handlers.push(handler.path),
        }
        self
    }

    /// Runs one registration durably.
    #[must_use]
    pub fn registration(mut self, registration: impl Into<AsyncBusRegistration>) -> Self {
        self.registrations.push(registration.into());
        self
    }

    /// How many events a group reads per page (its checkpoint is saved once
    /// per page).
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How long a group's lease lasts (renewed every third of it): how soon
    /// another dispatcher takes over a dead one's groups.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The longest a caught-up group waits for an append before reading
    /// again (the polling fallback of stores that cannot wake it).
    #[must_use]
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// What to do with an event that does not decode.
    #[must_use]
    pub fn on_undecodable(mut self, undecodable: Undecodable) -> Self {
        self.undecodable = undecodable;
        self
    }

    /// How long a stopped group waits before it resumes (the n-th time in a
    /// row: `policy.delay_after(n)`).
    #[must_use]
    pub fn restart_backoff(mut self, policy: RetryPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Builds the dispatcher: checks the event registry, every handler's
    /// dependencies (all missing ones named) and that no two different
    /// handlers share a name. The same handler registered twice runs once.
    pub fn build(self) -> Result<Dispatcher, DeliveryError> {
        if let Some(given) = self.not_handlers.first() {
            return Err(BusBuildError::NotAHandler {
                given,
                method: "handler",
                attribute: "event_handler",
            }
            .into());
        }
        crate::registry::validate().map_err(BusBuildError::from)?;
        let mut handlers: HashMap<&'static str, Arc<DurableHandler>> = HashMap::new();
        let mut unmet = Vec::new();
        let mut by_group: BTreeMap<Arc<str>, Vec<Arc<DurableHandler>>> = BTreeMap::new();
        for registration in &self.registrations {
            let identity = registration.identity();
            if let Some(earlier) = handlers.get(identity.name) {
                if earlier.path == identity.handler_path {
                    continue;
                }
                let (first, second) = ordered(earlier.path, identity.handler_path);
                return Err(DeliveryError::DuplicateHandler {
                    name: identity.name.to_owned(),
                    first,
                    second,
                });
            }
            find_unmet(
                &self.dependencies,
                identity.name,
                registration.requires(),
                &mut unmet,
            );
            let options = registration.delivery();
            let group: Arc<str> = Arc::from(options.group().unwrap_or(identity.name));
            let handler = Arc::new(DurableHandler {
                name: identity.name,
                path: identity.handler_path,
                event_name: identity.event_name,
                group: Arc::clone(&group),
                handler: registration.handler(),
                options,
            });
            handlers.insert(identity.name, Arc::clone(&handler));
            by_group.entry(group).or_default().push(handler);
        }
        BusBuildError::from_unmet(unmet)?;
        let shared = Arc::new(Shared {
            delivery: self.delivery,
            dependencies: Arc::new(self.dependencies),
        });
        let groups = by_group
            .into_iter()
            .map(|(name, members)| {
                let mut engine = ProjectionEngine::new(
                    format!("{GROUP_PREFIX}{name}"),
                    shared.delivery.checkpoints(),
                )
                .with_batch_size(self.batch_size)
                .with_lease_ttl(self.lease_ttl)
                .with_max_wait(self.max_wait);
                let mut by_type: BTreeMap<&'static str, Vec<Arc<DurableHandler>>> = BTreeMap::new();
                for member in &members {
                    by_type
                        .entry(member.event_name)
                        .or_default()
                        .push(Arc::clone(member));
                }
                for (event_name, of_type) in by_type {
                    engine.add_handler(event_name, fan_out(Arc::clone(&shared), of_type));
                }
                Group {
                    name,
                    engine,
                    handlers: members,
                }
            })
            .collect();
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                store: self.store,
                shared,
                handlers,
                groups,
                undecodable: self.undecodable,
                restart: self.restart,
                lease_ttl: self.lease_ttl,
                stops: watch::Sender::new(0),
            }),
        })
    }
}

/// The engine's handler for one event type: every handler of the group
/// for it, concurrently. It fails only when the event must not be passed
/// (a strict handler gave up, or the delivery store failed): the group
/// then stops before the event and resumes later.
fn fan_out(shared: Arc<Shared>, handlers: Vec<Arc<DurableHandler>>) -> ProjectionHandler {
    let handlers: Arc<[Arc<DurableHandler>]> = handlers.into();
    ProjectionHandler::from_call(move |context: &ProjectionContext| {
        let shared = Arc::clone(&shared);
        let handlers = Arc::clone(&handlers);
        let event = context.event().clone();
        HandlerCall::Pending(Box::pin(async move {
            let outcomes = futures::future::join_all(
                handlers
                    .iter()
                    .map(|handler| deliver(&shared, handler, &event)),
            )
            .await;
            outcomes
                .into_iter()
                .collect::<Result<Vec<()>, BoxError>>()?;
            Ok(())
        }))
    })
}

/// Runs one handler on one event: skipped when idempotent and done before;
/// parked after its last failed attempt, unless strict.
async fn deliver(
    shared: &Shared,
    handler: &DurableHandler,
    event: &RecordedEvent,
) -> Result<(), BoxError> {
    let event_id = event.metadata().id;
    let idempotent = handler.options.is_idempotent();
    if idempotent && shared.delivery.is_processed(handler.name, event_id).await? {
        return Ok(());
    }
    let outcome = {
        let context = HandlerContext::shared(
            &event.envelope,
            &shared.dependencies,
            HandlerName::Static(handler.name),
        );
        handler.handler.run_attempts(&context)
    }
    .await;
    match outcome.result {
        Ok(()) => {
            if idempotent {
                shared
                    .delivery
                    .mark_processed(handler.name, event_id)
                    .await?;
            }
            Ok(())
        }
        Err(failed) if handler.options.is_strict_order() => Err(failed.error),
        Err(failed) => {
            let now = OffsetDateTime::now_utc();
            let parked = ParkedEvent {
                handler: handler.name.to_owned(),
                group: handler.group.to_string(),
                position: event.position,
                stream_id: event.stream_id.to_string(),
                version: event.version,
                event_type: event.event_type().to_owned(),
                event_id: Some(event_id),
                error: failed.error.to_string(),
                attempts: outcome.attempts,
                first_failed_at: outcome.first_failed_at.unwrap_or(now),
                parked_at: now,
            };
            tracing::warn!(handler = handler.name, position = event.position, attempts = outcome.attempts, error = %failed.error, "handler gave up on an event; parked");
            shared.delivery.park(&parked).await?;
            Ok(())
        }
    }
}

/// What [`Dispatcher::replay_all`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReplayReport {
    /// The parked events that were handled this time (and removed).
    pub replayed: Vec<ParkedEvent>,
    /// Those that failed again, with the error (they stay parked).
    pub failed: Vec<(ParkedEvent, DeliveryError)>,
}

/// A dispatcher running on a spawned task; see [`Dispatcher::start`].
#[derive(Debug)]
pub struct RunningDispatcher {
    dispatcher: Dispatcher,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), DeliveryError>>,
}

impl RunningDispatcher {
    /// The dispatcher (to wait for it, list or replay parked events).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Stops every group after the event it is handling and waits.
    pub async fn stop(self) -> Result<(), DeliveryError> {
        self.stop.send_replace(true);
        self.task.await?
    }
}

impl Dispatcher {
    /// Prepares the delivery store (creates tables); [`run`](Self::run)
    /// does it too.
    pub async fn initialize(&self) -> Result<(), DeliveryError> {
        self.inner.shared.delivery.initialize().await?;
        Ok(())
    }

    /// The names of the handler groups (checkpoint names without
    /// [`GROUP_PREFIX`]).
    pub fn groups(&self) -> Vec<&str> {
        self.inner.groups.iter().map(|group| &*group.name).collect()
    }

    /// The state (checkpoint, counts, health) of every group, as last saved
    /// or loaded by this dispatcher.
    pub fn states(&self) -> Vec<ProjectionState> {
        self.inner
            .groups
            .iter()
            .map(|group| group.engine.state())
            .collect()
    }

    /// Runs every group until `shutdown` completes: each takes its lease,
    /// catches up from its checkpoint and follows the store live. Nothing
    /// ends the run but `shutdown`: a delivery store that cannot be prepared
    /// (unreachable at start) is tried again, and a group that stops (lost
    /// connection, strict handler failure, store error) resumes from its
    /// checkpoint, each after a backoff (counted by
    /// [`watch_stops`](Self::watch_stops)).
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), DeliveryError> {
        let (stop, stopped) = watch::channel(false);
        let work = async {
            if self.prepare(stopped.clone()).await {
                futures::future::join_all(
                    self.inner
                        .groups
                        .iter()
                        .map(|group| self.supervise(group, stopped.clone())),
                )
                .await;
            }
        };
        let signal = async move {
            shutdown.await;
            stop.send_replace(true);
        };
        tokio::pin!(work);
        tokio::pin!(signal);
        tokio::select! {
            () = &mut work => return Ok(()),
            () = &mut signal => {}
        }
        work.await;
        Ok(())
    }

    /// Prepares the delivery store, trying again after a backoff until it
    /// works; `false` if stopped first.
    async fn prepare(&self, mut stopped: watch::Receiver<bool>) -> bool {
        let mut failures = 0;
        loop {
            let error = match self.initialize().await {
                Ok(()) => return true,
                Err(error) => error,
            };
            failures += 1;
            self.inner.stops.send_modify(|stops| *stops += 1);
            let delay = self.inner.restart.delay_after(failures);
            tracing::warn!(%error, ?delay, "could not prepare the delivery store; trying again");
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return false,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Spawns [`run`](Self::run) on the current tokio runtime.
    ///
    /// Run one dispatcher value once at a time (its groups hold their leases
    /// under one runner id); for more runners build more dispatchers: they
    /// share the groups through the leases.
    pub fn start(&self) -> RunningDispatcher {
        let (stop, mut stopped) = watch::channel(false);
        let dispatcher = self.clone();
        let task = tokio::spawn(async move {
            dispatcher
                .run(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        RunningDispatcher {
            dispatcher: self.clone(),
            stop,
            task,
        }
    }

    /// How many times a group stopped (a lost connection, a strict
    /// handler's failure, a store error) and was resumed, as it changes: for
    /// health checks and alerts.
    pub fn watch_stops(&self) -> watch::Receiver<u64> {
        self.inner.stops.subscribe()
    }

    /// Waits until every group's checkpoint is at or past `position`: every
    /// event up to it was handled (or parked). It watches this dispatcher's
    /// own runs: while another dispatcher holds a group's lease, it waits
    /// until this one takes the group over.
    pub async fn caught_up(&self, position: u64) {
        for group in &self.inner.groups {
            let mut state = group.engine.watch_state();
            let _ = state.wait_for(|state| state.position >= position).await;
        }
    }

    /// Keeps one group running: runs its engine, and after a stop waits and
    /// runs it again (parking an event that does not decode first).
    async fn supervise(&self, group: &Group, mut stopped: watch::Receiver<bool>) {
        let mut failures = 0;
        loop {
            if *stopped.borrow() {
                return;
            }
            let started = Instant::now();
            let mut signal = stopped.clone();
            let shutdown = async move {
                let _ = signal.wait_for(|stop| *stop).await;
            };
            let error = match group.engine.run(&*self.inner.store, shutdown).await {
                Ok(_) => return,
                Err(error) => error,
            };
            if started.elapsed() > Duration::from_secs(10) {
                failures = 0;
            }
            let decode =
                undecodable(&error).filter(|_| self.inner.undecodable == Undecodable::Park);
            if let Some(decode) = decode {
                match self.park_undecodable(group, decode).await {
                    Ok(()) => continue,
                    Err(park_error) => {
                        tracing::error!(group = %group.name, error = %park_error, "could not park an event that does not decode");
                    }
                }
            }
            failures += 1;
            self.inner.stops.send_modify(|stops| *stops += 1);
            let delay = self.inner.restart.delay_after(failures);
            tracing::warn!(group = %group.name, %error, ?delay, "delivery group stopped; resuming from its checkpoint");
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Parks the event that does not decode for each of the group's
    /// handlers of its type, after handling the group's events before it,
    /// and moves the checkpoint past it.
    async fn park_undecodable(
        &self,
        group: &Group,
        decode: Undecoded<'_>,
    ) -> Result<(), DeliveryError> {
        let checkpoints = self.inner.shared.delivery.checkpoints();
        let name = group.engine.name();
        let owner = group.engine.runner_id();
        let lease = checkpoints
            .acquire_lease(name, owner, self.inner.lease_ttl)
            .await
            .map_err(|source| ProjectionError::state(name, source))?;
        if matches!(lease, LeaseOutcome::Held { .. }) {
            return Ok(());
        }
        let outcome = async {
            let state = checkpoints
                .load(name)
                .await
                .map_err(|source| ProjectionError::state(name, source))?
                .unwrap_or_else(|| ProjectionState::new(name));
            if state.position >= decode.position {
                return Ok(());
            }
            let filter = group.engine.event_types();
            let from = state.position + 1;
            let gap = usize::try_from(decode.position - from).unwrap_or(usize::MAX);
            // A count, not a bound: with positions burnt between (lost
            // races), this reads on to the undecodable event itself and
            // past it, which a raw read reads all the same (stores keep
            // raw reads total); the events past it are not counted.
            let before = self.inner.store.read_all_raw(from, gap).await?;
            let wanted = before
                .iter()
                .filter(|raw| raw.position < decode.position && filter.matches(&raw.event_type))
                .count();
            if wanted > 0 {
                let page = self
                    .inner
                    .store
                    .read_all_filtered(from, wanted, &filter)
                    .await?;
                group.engine.process_events(&page.events).await?;
            }
            let now = OffsetDateTime::now_utc();
            for handler in group
                .handlers
                .iter()
                .filter(|handler| handler.event_name == decode.event_type)
            {
                self.inner
                    .shared
                    .delivery
                    .park(&ParkedEvent {
                        handler: handler.name.to_owned(),
                        group: group.name.to_string(),
                        position: decode.position,
                        stream_id: decode.stream_id.to_owned(),
                        version: decode.version,
                        event_type: decode.event_type.to_owned(),
                        event_id: None,
                        error: decode.error.clone(),
                        attempts: 0,
                        first_failed_at: now,
                        parked_at: now,
                    })
                    .await?;
                tracing::error!(
                    handler = handler.name,
                    position = decode.position,
                    error = decode.error,
                    "event does not decode; parked"
                );
            }
            let mut state = checkpoints
                .load(name)
                .await
                .map_err(|source| ProjectionError::state(name, source))?
                .unwrap_or_else(|| ProjectionState::new(name));
            state.position = state.position.max(decode.position);
            state.head_position = state.head_position.max(state.position);
            state.updated_at = now;
            checkpoints
                .save(&state, owner)
                .await
                .map_err(|source| ProjectionError::state(name, source))?;
            Ok::<(), DeliveryError>(())
        }
        .await;
        if let Err(error) = checkpoints.release_lease(name, owner).await {
            tracing::warn!(group = %group.name, %error, "could not release a delivery group's lease; it expires on its own");
        }
        outcome
    }

    fn durable_handler(&self, handler: &str) -> Result<&Arc<DurableHandler>, DeliveryError> {
        self.inner
            .handlers
            .get(handler)
            .ok_or_else(|| DeliveryError::UnknownHandler {
                handler: handler.to_owned(),
            })
    }

    /// The parked events of `handler` (of every handler when `None`), in
    /// (handler, position) order.
    pub async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryError> {
        Ok(self.inner.shared.delivery.parked(handler).await?)
    }

    /// Runs `handler` again on its parked event at `position` (with its
    /// retry policy). On success the event is no longer parked; on failure
    /// it stays, with the new error and attempts added.
    pub async fn replay(&self, handler: &str, position: u64) -> Result<(), DeliveryError> {
        let durable = self.durable_handler(handler)?;
        let parked = self
            .inner
            .shared
            .delivery
            .parked(Some(handler))
            .await?
            .into_iter()
            .find(|parked| parked.position == position)
            .ok_or_else(|| DeliveryError::NotParked {
                handler: handler.to_owned(),
                position,
            })?;
        self.replay_parked(durable, parked).await
    }

    async fn replay_parked(
        &self,
        durable: &DurableHandler,
        mut parked: ParkedEvent,
    ) -> Result<(), DeliveryError> {
        let delivery = &self.inner.shared.delivery;
        let position = parked.position;
        let event = self
            .inner
            .store
            .read_all(position, 1)
            .await?
            .into_iter()
            .find(|event| event.position == position)
            .ok_or(DeliveryError::EventGone { position })?;
        let event_id = event.metadata().id;
        let idempotent = durable.options.is_idempotent();
        if !(idempotent && delivery.is_processed(durable.name, event_id).await?) {
            let outcome = {
                let context = HandlerContext::shared(
                    &event.envelope,
                    &self.inner.shared.dependencies,
                    HandlerName::Static(durable.name),
                );
                durable.handler.run_attempts(&context)
            }
            .await;
            if let Err(failed) = outcome.result {
                parked.attempts = parked.attempts.saturating_add(outcome.attempts);
                parked.error = failed.error.to_string();
                parked.event_id = Some(event_id);
                parked.parked_at = OffsetDateTime::now_utc();
                delivery.park(&parked).await?;
                return Err(DeliveryError::HandlerFailed {
                    handler: durable.name.to_owned(),
                    position,
                    attempts: outcome.attempts,
                    source: failed.error,
                });
            }
            if idempotent {
                delivery.mark_processed(durable.name, event_id).await?;
            }
        }
        delivery.remove_parked(durable.name, position).await?;
        Ok(())
    }

    /// Replays every parked event of `handler` (of every durable handler
    /// when `None`), in position order; failures stay parked and are
    /// reported, the others are removed.
    pub async fn replay_all(&self, handler: Option<&str>) -> Result<ReplayReport, DeliveryError> {
        if let Some(handler) = handler {
            self.durable_handler(handler)?;
        }
        let mut report = ReplayReport::default();
        for parked in self.inner.shared.delivery.parked(handler).await? {
            let Some(durable) = self.inner.handlers.get(parked.handler.as_str()) else {
                continue;
            };
            match self.replay_parked(durable, parked.clone()).await {
                Ok(()) => report.replayed.push(parked),
                Err(error) => report.failed.push((parked, error)),
            }
        }
        Ok(report)
    }

    /// Gives up on a parked event for good: removes it without running the
    /// handler; whether there was one.
    pub async fn discard(&self, handler: &str, position: u64) -> Result<bool, DeliveryError> {
        Ok(self
            .inner
            .shared
            .delivery
            .remove_parked(handler, position)
            .await?)
    }
}

/// The stored event that stopped a group because it does not decode.
struct Undecoded<'a> {
    position: u64,
    stream_id: &'a str,
    version: u64,
    event_type: &'a str,
    error: String,
}

fn undecodable(error: &ProjectionError) -> Option<Undecoded<'_>> {
    let ProjectionError::Read { source, .. } = error else {
        return None;
    };
    match &**source {
        decode @ StoreError::Decode {
            stream_id,
            version,
            position: Some(position),
            event_type,
            ..
        } => Some(Undecoded {
            position: *position,
            stream_id,
            version: *version,
            event_type,
            error: decode.to_string(),
        }),
        _ => None,
    }
}
