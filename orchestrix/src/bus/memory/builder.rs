//! Building a bus: its shared dependencies and its registered handlers, with
//! every handler's dependencies checked before the bus exists.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::bus::context::Dependencies;
use crate::bus::error::{BusBuildError, UnmetDependency};
use crate::bus::extract::DependencyKey;
use crate::registry::{HandlerFn, SyncHandlerRegistration};

use super::commands::CommandRoutes;
use super::core::{AsyncBusRegistration, BusCore, Registration};
use super::{InMemoryAsyncMessageBus, InMemoryMessageBus};
use crate::command::{AsyncRepository, BlockingRepository, CommandHandlerRegistration};
use crate::store::{AsyncEventStore, EventStore};

/// A bus that [`BusBuilder`] can build: the in-memory sync and async buses.
pub trait BusKind: Sized {
    /// What `#[event_handler]` registers for this kind of bus.
    type Registration: Copy + fmt::Debug + 'static;

    /// Every handler registered in the linked program that this bus runs.
    fn registered() -> Vec<Self::Registration>;

    /// Every handler registered in the linked program that this bus cannot
    /// run: `register_handlers()` refuses to build while there are any.
    fn not_run() -> Vec<HandlerIdentity>;

    /// The repository `#[command_handler]`s load and save with on this bus.
    fn repository() -> DependencyKey;

    /// How this bus takes the `#[event_handler]` fn `handler`, given by
    /// value to [`BusBuilder::handler`].
    fn chosen(handler: HandlerFn) -> Chosen<Self::Registration>;

    /// What tells the handler apart from others.
    fn identity_of(registration: &Self::Registration) -> HandlerIdentity;

    /// What the handler needs from the bus.
    fn requirements_of(registration: &Self::Registration) -> &'static [&'static [DependencyKey]];

    /// The bus, with its dependencies and checked handlers.
    fn assemble(
        dependencies: Dependencies,
        registrations: Vec<Self::Registration>,
        commands: CommandRoutes,
    ) -> Self;
}

/// How a bus takes a fn given to [`BusBuilder::handler`].
#[derive(Clone, Copy, Debug)]
pub enum Chosen<R> {
    /// A handler this bus runs, with its registration.
    Runs(R),
    /// A handler this bus cannot run (an `async fn` one on the blocking bus).
    NotRun(HandlerIdentity),
    /// Not an `#[event_handler]` fn.
    Unknown,
}

/// Who a registration is: its name, its event type and the type standing
/// for its handler fn.
#[derive(Clone, Copy, Debug)]
pub struct HandlerIdentity {
    /// The handler's name.
    pub name: &'static str,
    /// The event type's registered name.
    pub event_name: &'static str,
    /// `TypeId` of the event type.
    pub event_type: TypeId,
    /// `TypeId` of the type standing for the handler fn.
    pub handler_type: TypeId,
    /// The Rust path of that type.
    pub handler_path: &'static str,
}

/// Builds an [`InMemoryAsyncMessageBus`] or [`InMemoryMessageBus`]: add the
/// shared dependencies, choose the handlers, then [`build`](Self::build),
/// which refuses a handler whose `Dep<T>` has no value.
///
/// ```standalone_crate
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Debug, Serialize, Deserialize)]
/// struct Pinged;
///
/// #[event_handler]
/// async fn count_pings(_event: &Pinged, counter: Dep<std::sync::atomic::AtomicU32>) {
///     counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
/// }
///
/// // No counter given: the bus is refused, naming the handler and the type.
/// let error = InMemoryAsyncMessageBus::builder().register_handlers().build().unwrap_err();
/// assert!(error.to_string().contains("count_pings"));
/// assert!(error.to_string().contains("AtomicU32"));
///
/// let bus = InMemoryAsyncMessageBus::builder()
///     .dependency(std::sync::atomic::AtomicU32::new(0))
///     .handler(count_pings)
///     .build()
///     .expect("every dependency is there");
/// ```
pub struct BusBuilder<B: BusKind> {
    dependencies: Dependencies,
    registrations: Vec<B::Registration>,
    commands: Vec<CommandHandlerRegistration>,
    not_run: Vec<HandlerIdentity>,
    /// What `.handler(...)` or `.command_handler(...)` was given that is no
    /// registered handler: refused by `build()`.
    not_handlers: Vec<NotAHandler>,
}

/// Something given to `.handler(...)` or `.command_handler(...)` that is no
/// registered handler.
#[derive(Clone, Copy, Debug)]
struct NotAHandler {
    given: &'static str,
    method: &'static str,
    attribute: &'static str,
}

impl<B: BusKind> BusBuilder<B> {
    pub(crate) fn new() -> Self {
        Self {
            dependencies: Dependencies::new(),
            registrations: Vec::new(),
            commands: Vec::new(),
            not_run: Vec::new(),
            not_handlers: Vec::new(),
        }
    }

    /// Adds a shared dependency, which handlers ask for as `Dep<T>`.
    #[must_use]
    pub fn dependency<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.dependencies.insert(value);
        self
    }

    /// Adds an already shared dependency; `T` may be a trait object, asked
    /// for as `Dep<dyn Trait>`.
    #[must_use]
    pub fn dependency_arc<T: ?Sized + Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.dependencies.insert_arc(value);
        self
    }

    /// Subscribes every `#[event_handler]` fn and every `#[command_handler]`
    /// linked into the program, in the order of their names, then of their
    /// fns' paths (so the order is the same on every run).
    ///
    /// The async bus runs both kinds of event handler fns: `async fn`s
    /// concurrently, and plain fns inline on the publishing task, one after
    /// another, before the async ones are awaited. The blocking bus runs
    /// only plain fns: if the program has `async fn` handlers,
    /// [`build`](Self::build) refuses with
    /// [`BusBuildError::HandlersNotRun`] naming each, rather than leave them
    /// silently unrun; subscribe its handlers by name with
    /// [`handler`](Self::handler) instead, or leave the async ones to an
    /// async bus explicitly with
    /// [`register_plain_fn_handlers`](BusBuilder::register_plain_fn_handlers).
    ///
    /// Every handler in the binary is registered, wherever it is declared:
    /// one declared inside a fn body (a test) too, for every bus of the
    /// program that calls `register_handlers()`. A test that wants only its
    /// own handlers builds its bus without `register_handlers()`, naming
    /// them with [`handler`](Self::handler) and
    /// [`command_handler`](Self::command_handler).
    ///
    /// `inventory` only sees handlers in code that is linked: a handler in a
    /// crate the program never references may be missing. Reference such a
    /// crate from the program (call or re-export one of its items).
    /// `inventory` documents which platforms it supports; on a platform
    /// where its constructors do not run (check `inventory`'s docs for
    /// yours, e.g. Wasm hosts must call `__wasm_call_ctors`),
    /// `register_handlers()` and [`handler`](Self::handler) find nothing.
    /// See the messaging guide, "Choosing handlers by hand, and inventory's
    /// limits".
    #[must_use]
    pub fn register_handlers(mut self) -> Self {
        self.registrations.extend(B::registered());
        self.commands
            .extend(crate::command::command_handlers().into_iter().copied());
        self.not_run.extend(B::not_run());
        self
    }

    /// Subscribes one registration (as built by `#[event_handler]`).
    #[must_use]
    pub fn registration(mut self, registration: impl Into<B::Registration>) -> Self {
        self.registrations.push(registration.into());
        self
    }

    /// Subscribes the `#[event_handler]` fn `handler`, given by value:
    /// `.handler(send_receipt)`. The async bus runs `async fn` and plain fn
    /// handlers alike (plain ones inline on the publishing task); the
    /// blocking bus runs plain fns only, and [`build`](Self::build) refuses
    /// an `async fn` one with [`BusBuildError::HandlersNotRun`]. Anything
    /// that is not an `#[event_handler]` fn (a closure, an unmarked fn) is
    /// refused by `build` with [`BusBuildError::NotAHandler`].
    ///
    /// The fn is found among the registrations `inventory` collected, by
    /// the type of the fn item: like [`register_handlers`](Self::register_handlers),
    /// it cannot find a handler in code the linker left out, nor on a
    /// platform where `inventory`'s constructors do not run (see
    /// `register_handlers`).
    #[must_use]
    pub fn handler<F: 'static>(mut self, handler: F) -> Self {
        let handler = HandlerFn::of(&handler);
        match B::chosen(handler) {
            Chosen::Runs(registration) => self.registrations.push(registration),
            Chosen::NotRun(identity) => self.not_run.push(identity),
            Chosen::Unknown => self.not_handlers.push(NotAHandler {
                given: handler.path,
                method: "handler",
                attribute: "event_handler",
            }),
        }
        self
    }

    /// Subscribes the `#[command_handler]` fn `handler`, given by value:
    /// `.command_handler(deposit)` (or, for one written as an aggregate
    /// method, `.command_handler(Account::deposit)`). The command is then
    /// handled by `send`; the bus needs an event store
    /// ([`event_store`](BusBuilder::event_store)). Anything else is refused
    /// by [`build`](Self::build) with [`BusBuildError::NotAHandler`].
    #[must_use]
    pub fn command_handler<F: 'static>(mut self, handler: F) -> Self {
        let handler = HandlerFn::of(&handler);
        match crate::command::find_command_handler(handler) {
            Some(registration) => self.commands.push(*registration),
            None => self.not_handlers.push(NotAHandler {
                given: handler.path,
                method: "command_handler",
                attribute: "command_handler",
            }),
        }
        self
    }

    /// Builds the bus. The same handler fn subscribed twice (by
    /// `register_handlers()` and `handler(f)`) is kept once.
    ///
    /// Fails if `handler(...)` or `command_handler(...)` was given something
    /// that is no registered handler ([`BusBuildError::NotAHandler`]), if the
    /// event registry has two Rust types under one event name
    /// ([`BusBuildError::Registry`]), if two different handler fns share a
    /// name and an event type ([`BusBuildError::DuplicateHandler`]), or if
    /// handlers ask for `Dep<T>`s that were not added with
    /// [`dependency`](Self::dependency) (every missing one is named).
    pub fn build(self) -> Result<B, BusBuildError> {
        if let Some(given) = self.not_handlers.first() {
            return Err(BusBuildError::NotAHandler {
                given: given.given,
                method: given.method,
                attribute: given.attribute,
            });
        }
        crate::registry::validate()?;
        if !self.not_run.is_empty() {
            return Err(BusBuildError::HandlersNotRun {
                bus: std::any::type_name::<B>(),
                handlers: self
                    .not_run
                    .iter()
                    .map(|identity| identity.handler_path)
                    .collect(),
            });
        }
        let mut seen: HashMap<(&'static str, TypeId), HandlerIdentity> = HashMap::new();
        let mut registrations = Vec::with_capacity(self.registrations.len());
        let mut unmet = Vec::new();
        for registration in self.registrations {
            let identity = B::identity_of(&registration);
            if let Some(earlier) = seen.get(&(identity.name, identity.event_type)) {
                if earlier.handler_type == identity.handler_type {
                    continue;
                }
                let (first, second) = ordered(earlier.handler_path, identity.handler_path);
                return Err(BusBuildError::DuplicateHandler {
                    name: identity.name.to_owned(),
                    event_type: identity.event_name,
                    first,
                    second,
                });
            }
            seen.insert((identity.name, identity.event_type), identity);
            find_unmet(
                &self.dependencies,
                identity.name,
                B::requirements_of(&registration),
                &mut unmet,
            );
            registrations.push(registration);
        }
        BusBuildError::from_unmet(unmet)?;
        let commands = CommandRoutes::checked(self.commands, &self.dependencies, B::repository())?;
        Ok(B::assemble(self.dependencies, registrations, commands))
    }
}

/// Two paths in a stable order, for errors naming both.
pub(crate) fn ordered(a: &'static str, b: &'static str) -> (&'static str, &'static str) {
    if a <= b { (a, b) } else { (b, a) }
}

impl BusBuilder<InMemoryAsyncMessageBus> {
    /// The event store `#[command_handler]`s load aggregates from and save
    /// them to (a repository without snapshots); to use snapshots, add an
    /// [`AsyncRepository`] with `.dependency(...)` instead.
    #[must_use]
    pub fn event_store(self, store: Arc<dyn AsyncEventStore>) -> Self {
        self.dependency(AsyncRepository::shared(store))
    }
}

impl BusBuilder<InMemoryMessageBus> {
    /// As [`register_handlers`](Self::register_handlers), but leaves the
    /// program's `async fn` handlers out on purpose (they belong to an
    /// [`InMemoryAsyncMessageBus`] of the same program), instead of refusing
    /// to build while there are any.
    #[must_use]
    pub fn register_plain_fn_handlers(mut self) -> Self {
        self = self.register_handlers();
        self.not_run.clear();
        self
    }

    /// The event store `#[command_handler]`s load aggregates from and save
    /// them to (a repository without snapshots); to use snapshots, add a
    /// [`BlockingRepository`] with `.dependency(...)` instead.
    #[must_use]
    pub fn event_store(self, store: Arc<dyn EventStore>) -> Self {
        self.dependency(BlockingRepository::shared(store))
    }
}

impl<B: BusKind> fmt::Debug for BusBuilder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusBuilder")
            .field("dependencies", &self.dependencies)
            .field(
                "handlers",
                &self
                    .registrations
                    .iter()
                    .map(|registration| B::identity_of(registration).name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Records each dependency of `handler` that is not present (once each).
pub(crate) fn find_unmet(
    dependencies: &Dependencies,
    handler: &str,
    requires: &[&[DependencyKey]],
    unmet: &mut Vec<UnmetDependency>,
) {
    for key in requires.iter().copied().flatten() {
        if dependencies.contains((key.type_id)()) {
            continue;
        }
        let missing = UnmetDependency {
            handler: handler.to_owned(),
            dependency: (key.type_name)(),
        };
        if !unmet.contains(&missing) {
            unmet.push(missing);
        }
    }
}

/// Refuses a handler whose dependencies are not all present, naming every
/// missing one.
pub(crate) fn check_requirements(
    dependencies: &Dependencies,
    handler: &str,
    requires: &[&[DependencyKey]],
) -> Result<(), BusBuildError> {
    let mut unmet = Vec::new();
    find_unmet(dependencies, handler, requires, &mut unmet);
    BusBuildError::from_unmet(unmet)
}

impl BusKind for InMemoryAsyncMessageBus {
    type Registration = AsyncBusRegistration;

    fn registered() -> Vec<AsyncBusRegistration> {
        let sync = crate::registry::sync_handlers().into_iter().copied();
        let all = crate::registry::async_handlers()
            .into_iter()
            .copied()
            .map(AsyncBusRegistration::from)
            .chain(sync.map(AsyncBusRegistration::from));
        // Durable handlers are run by a delivery dispatcher, from the store.
        let mut all: Vec<_> = all
            .filter(|registration| !registration.delivery().is_durable())
            .collect();
        all.sort_by_key(|registration| {
            let identity = registration.identity();
            (identity.name, identity.handler_path)
        });
        all
    }

    fn not_run() -> Vec<HandlerIdentity> {
        Vec::new()
    }

    fn repository() -> DependencyKey {
        DependencyKey::of::<AsyncRepository>()
    }

    fn chosen(handler: HandlerFn) -> Chosen<AsyncBusRegistration> {
        if let Some(registration) = crate::registry::find_async_handler(handler) {
            return Chosen::Runs(AsyncBusRegistration::from(*registration));
        }
        match crate::registry::find_sync_handler(handler) {
            Some(registration) => Chosen::Runs(AsyncBusRegistration::from(*registration)),
            None => Chosen::Unknown,
        }
    }

    fn identity_of(registration: &AsyncBusRegistration) -> HandlerIdentity {
        registration.identity()
    }

    fn requirements_of(registration: &AsyncBusRegistration) -> &'static [&'static [DependencyKey]] {
        registration.requires()
    }

    fn assemble(
        dependencies: Dependencies,
        registrations: Vec<AsyncBusRegistration>,
        commands: CommandRoutes,
    ) -> Self {
        Self::from_core(assemble(dependencies, &registrations, commands))
    }
}

impl BusKind for InMemoryMessageBus {
    type Registration = SyncHandlerRegistration;

    fn registered() -> Vec<SyncHandlerRegistration> {
        crate::registry::sync_handlers()
            .into_iter()
            .filter(|registration| !registration.delivery.is_durable())
            .copied()
            .collect()
    }

    fn not_run() -> Vec<HandlerIdentity> {
        crate::registry::async_handlers()
            .into_iter()
            .filter(|registration| !registration.delivery.is_durable())
            .map(|registration| registration.identity())
            .collect()
    }

    fn repository() -> DependencyKey {
        DependencyKey::of::<BlockingRepository>()
    }

    fn chosen(handler: HandlerFn) -> Chosen<SyncHandlerRegistration> {
        if let Some(registration) = crate::registry::find_sync_handler(handler) {
            return Chosen::Runs(*registration);
        }
        match crate::registry::find_async_handler(handler) {
            Some(registration) => Chosen::NotRun(registration.identity()),
            None => Chosen::Unknown,
        }
    }

    fn identity_of(registration: &SyncHandlerRegistration) -> HandlerIdentity {
        registration.identity()
    }

    fn requirements_of(
        registration: &SyncHandlerRegistration,
    ) -> &'static [&'static [DependencyKey]] {
        registration.requires()
    }

    fn assemble(
        dependencies: Dependencies,
        registrations: Vec<SyncHandlerRegistration>,
        commands: CommandRoutes,
    ) -> Self {
        Self::from_core(assemble(dependencies, &registrations, commands))
    }
}

/// The core of a bus holding `registrations` (already checked).
fn assemble<R: Registration>(
    dependencies: Dependencies,
    registrations: &[R],
    commands: CommandRoutes,
) -> BusCore<R::Handler> {
    let mut core = BusCore::new(dependencies).with_commands(commands);
    for registration in registrations {
        core.build_registration(registration);
    }
    core
}
