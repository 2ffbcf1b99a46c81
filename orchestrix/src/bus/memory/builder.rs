//! Building a bus: its shared dependencies and its registered handlers, with
//! every handler's dependencies checked before the bus exists.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::bus::context::Dependencies;
use crate::bus::error::{BusBuildError, UnmetDependency};
use crate::bus::extract::DependencyKey;
use crate::registry::{
    AsyncHandlerFn, AsyncHandlerRegistration, SyncHandlerFn, SyncHandlerRegistration,
};

use super::core::{BusCore, Registration};
use super::{InMemoryAsyncMessageBus, InMemoryMessageBus};

/// A bus that [`BusBuilder`] can build: the in-memory sync and async buses.
pub trait BusKind: Sized {
    /// What `#[event_handler]` registers for this kind of bus.
    type Registration: Copy + fmt::Debug + 'static;

    /// Every handler of this kind registered in the linked program.
    fn registered() -> Vec<&'static Self::Registration>;

    /// What tells the handler apart from others.
    fn identity_of(registration: &Self::Registration) -> HandlerIdentity;

    /// What the handler needs from the bus.
    fn requirements_of(registration: &Self::Registration) -> &'static [&'static [DependencyKey]];

    /// The bus, with its dependencies and checked handlers.
    fn assemble(dependencies: Dependencies, registrations: Vec<Self::Registration>) -> Self;
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
///     .handler::<count_pings>()
///     .build()
///     .expect("every dependency is there");
/// ```
pub struct BusBuilder<B: BusKind> {
    dependencies: Dependencies,
    registrations: Vec<B::Registration>,
}

impl<B: BusKind> BusBuilder<B> {
    pub(crate) fn new() -> Self {
        Self {
            dependencies: Dependencies::new(),
            registrations: Vec::new(),
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

    /// Subscribes every `#[event_handler]` fn of this bus's kind that is
    /// linked into the program (`async fn`s for the async bus, plain fns for
    /// the sync bus), in the order of their names, then of
    /// their fns' paths (so the order is the same on every run).
    ///
    /// `inventory` only sees handlers in code that is linked: a handler in a
    /// crate the program never references may be missing; subscribe it with
    /// [`handler`](Self::handler) (which also links it).
    #[must_use]
    pub fn register_handlers(mut self) -> Self {
        self.registrations
            .extend(B::registered().into_iter().copied());
        self
    }

    /// Subscribes one registration (as built by `#[event_handler]`).
    #[must_use]
    pub fn registration(mut self, registration: B::Registration) -> Self {
        self.registrations.push(registration);
        self
    }

    /// Builds the bus. The same handler fn subscribed twice (by
    /// `register_handlers()` and `handler::<f>()`) is kept once.
    ///
    /// Fails if the event registry has two Rust types under one event name
    /// ([`BusBuildError::Registry`]), if two different handler fns share a
    /// name and an event type ([`BusBuildError::DuplicateHandler`]), or if
    /// handlers ask for `Dep<T>`s that were not added with
    /// [`dependency`](Self::dependency) (every missing one is named).
    pub fn build(self) -> Result<B, BusBuildError> {
        crate::registry::validate()?;
        let mut seen: HashMap<(&'static str, TypeId), HandlerIdentity> = HashMap::new();
        let mut registrations = Vec::with_capacity(self.registrations.len());
        let mut unmet = Vec::new();
        for registration in self.registrations {
            let identity = B::identity_of(&registration);
            if let Some(earlier) = seen.get(&(identity.name, identity.event_type)) {
                if earlier.handler_type == identity.handler_type {
                    continue;
                }
                let (first, second) = if earlier.handler_path <= identity.handler_path {
                    (earlier.handler_path, identity.handler_path)
                } else {
                    (identity.handler_path, earlier.handler_path)
                };
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
        Ok(B::assemble(self.dependencies, registrations))
    }
}

impl BusBuilder<InMemoryAsyncMessageBus> {
    /// Subscribes the `async fn` handler `H` by its name:
    /// `.handler::<send_receipt>()`. Works whether or not `inventory` saw it.
    #[must_use]
    pub fn handler<H: AsyncHandlerFn>(self) -> Self {
        self.registration(H::REGISTRATION)
    }
}

impl BusBuilder<InMemoryMessageBus> {
    /// Subscribes the plain fn handler `H` by its name: `.handler::<audit>()`.
    /// Works whether or not `inventory` saw it.
    #[must_use]
    pub fn handler<H: SyncHandlerFn>(self) -> Self {
        self.registration(H::REGISTRATION)
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
    type Registration = AsyncHandlerRegistration;

    fn registered() -> Vec<&'static AsyncHandlerRegistration> {
        crate::registry::async_handlers()
    }

    fn identity_of(registration: &AsyncHandlerRegistration) -> HandlerIdentity {
        registration.identity()
    }

    fn requirements_of(
        registration: &AsyncHandlerRegistration,
    ) -> &'static [&'static [DependencyKey]] {
        registration.requires()
    }

    fn assemble(dependencies: Dependencies, registrations: Vec<AsyncHandlerRegistration>) -> Self {
        Self::from_core(assemble(dependencies, &registrations))
    }
}

impl BusKind for InMemoryMessageBus {
    type Registration = SyncHandlerRegistration;

    fn registered() -> Vec<&'static SyncHandlerRegistration> {
        crate::registry::sync_handlers()
    }

    fn identity_of(registration: &SyncHandlerRegistration) -> HandlerIdentity {
        registration.identity()
    }

    fn requirements_of(
        registration: &SyncHandlerRegistration,
    ) -> &'static [&'static [DependencyKey]] {
        registration.requires()
    }

    fn assemble(dependencies: Dependencies, registrations: Vec<SyncHandlerRegistration>) -> Self {
        Self::from_core(assemble(dependencies, &registrations))
    }
}

/// The core of a bus holding `registrations` (already checked).
fn assemble<R: Registration>(
    dependencies: Dependencies,
    registrations: &[R],
) -> BusCore<R::Handler> {
    let core = BusCore::new(dependencies);
    for registration in registrations {
        core.add_registration(registration);
    }
    core
}
