//! What a handler sees besides its message: the envelope, the bus's shared
//! dependencies and its own name.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::error::ExtractError;
use crate::message::{AnyEnvelope, Envelope, Message, Metadata};

/// The shared dependencies of a bus (a mailer, a database pool, a clock),
/// one value per type, handed to handlers through [`Dep<T>`](super::Dep).
///
/// Filled by the bus builders' `dependency` methods and frozen when the bus
/// is built, so handlers read it without locks.
#[derive(Default)]
pub struct Dependencies {
    by_type: HashMap<TypeId, StoredDependency>,
}

struct StoredDependency {
    /// An `Arc<T>` behind `dyn Any`, so `T` may be unsized (`dyn Mailer`).
    value: Box<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl Dependencies {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` as the dependency of type `T`, replacing any earlier one.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.insert_arc(Arc::new(value));
    }

    /// Adds an already shared value; `T` may be a trait object
    /// (`Arc<dyn Mailer>`), which handlers then ask for as `Dep<dyn Mailer>`.
    pub fn insert_arc<T: ?Sized + Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.by_type.insert(
            TypeId::of::<T>(),
            StoredDependency {
                value: Box::new(value),
                type_name: std::any::type_name::<T>(),
            },
        );
    }

    /// The dependency of type `T`, if there is one.
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.by_type
            .get(&TypeId::of::<T>())
            .and_then(|stored| stored.value.downcast_ref::<Arc<T>>())
            .cloned()
    }

    /// Whether a dependency of the given type is present.
    pub fn contains(&self, type_id: TypeId) -> bool {
        self.by_type.contains_key(&type_id)
    }
}

impl fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self
            .by_type
            .values()
            .map(|stored| stored.type_name)
            .collect();
        names.sort_unstable();
        f.debug_set().entries(names).finish()
    }
}

/// A handler's name, as errors report it: free to copy for `#[event_handler]`
/// fns (a `&'static str`), shared for names given at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandlerName {
    /// A name known at compile time.
    Static(&'static str),
    /// A name made at run time.
    Shared(Arc<str>),
}

impl HandlerName {
    /// The name.
    pub fn as_str(&self) -> &str {
        match self {
            HandlerName::Static(name) => name,
            HandlerName::Shared(name) => name,
        }
    }
}

impl fmt::Display for HandlerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for HandlerName {
    fn from(name: &'static str) -> Self {
        HandlerName::Static(name)
    }
}

impl From<String> for HandlerName {
    fn from(name: String) -> Self {
        HandlerName::Shared(Arc::from(name))
    }
}

impl From<Arc<str>> for HandlerName {
    fn from(name: Arc<str>) -> Self {
        HandlerName::Shared(name)
    }
}

/// Everything one handler call may draw its arguments from: the published
/// envelope, the bus's [`Dependencies`] and the handler's name (for errors).
///
/// Extractors ([`FromHandlerContext`](super::FromHandlerContext)) read it;
/// hand-written handlers rarely need it.
#[derive(Clone, Debug)]
///
/// It borrows the envelope and the dependencies (a publish makes one context
/// for all its handlers without touching a reference count); extractors
/// clone what they keep.
pub struct HandlerContext<'a> {
    envelope: &'a AnyEnvelope,
    dependencies: &'a Dependencies,
    /// The same dependencies, shared: set by the buses and the delivery
    /// dispatcher, so a retried handler can make a context of its own for
    /// its later attempts.
    shared: Option<&'a Arc<Dependencies>>,
    handler: NameOf<'a>,
}

/// The handler's name in a context: borrowed from the bus's handler list
/// while a publish goes through it (naming the next handler copies a
/// pointer), owned in a context made for one call.
#[derive(Clone, Debug)]
enum NameOf<'a> {
    Borrowed(&'a HandlerName),
    Owned(HandlerName),
}

impl<'a> HandlerContext<'a> {
    /// A context for one call of `handler` with `envelope`.
    pub fn new(
        envelope: &'a AnyEnvelope,
        dependencies: &'a Dependencies,
        handler: impl Into<HandlerName>,
    ) -> Self {
        Self {
            envelope,
            dependencies,
            shared: None,
            handler: NameOf::Owned(handler.into()),
        }
    }

    /// A context whose dependencies are shared, so a retried handler can
    /// outlive it (see [`owned_parts`](Self::owned_parts)).
    pub(crate) fn shared(
        envelope: &'a AnyEnvelope,
        dependencies: &'a Arc<Dependencies>,
        handler: impl Into<HandlerName>,
    ) -> Self {
        Self {
            envelope,
            dependencies,
            shared: Some(dependencies),
            handler: NameOf::Owned(handler.into()),
        }
    }

    /// The envelope and the shared dependencies, owned: what a retried
    /// handler keeps for its later attempts. `None` for a context made with
    /// [`new`](Self::new) (only one attempt is possible then).
    pub(crate) fn owned_parts(&self) -> Option<(AnyEnvelope, Arc<Dependencies>)> {
        self.shared
            .map(|dependencies| (self.envelope.clone(), Arc::clone(dependencies)))
    }

    /// The name of the handler being called.
    pub fn handler(&self) -> &str {
        match &self.handler {
            NameOf::Borrowed(name) => name.as_str(),
            NameOf::Owned(name) => name.as_str(),
        }
    }

    /// Points the context at the next handler of the same publish, so one
    /// context serves them all.
    #[inline]
    pub(crate) fn set_handler(&mut self, handler: &'a HandlerName) {
        self.handler = NameOf::Borrowed(handler);
    }

    /// The published envelope, type-erased.
    #[inline]
    pub fn envelope(&self) -> &'a AnyEnvelope {
        self.envelope
    }

    /// The published message's metadata.
    pub fn metadata(&self) -> &'a Metadata {
        self.envelope.metadata()
    }

    /// The bus's shared dependencies.
    pub fn dependencies(&self) -> &'a Dependencies {
        self.dependencies
    }

    /// The typed envelope; an error (never a panic) if the message inside is
    /// not an `M`, which the bus's routing by type rules out.
    pub fn typed_envelope<M: Message>(&self) -> Result<Envelope<M>, ExtractError> {
        self.envelope
            .downcast::<M>()
            .ok_or_else(|| self.unexpected_message::<M>())
    }

    /// The message, borrowed; same rule as [`typed_envelope`](Self::typed_envelope).
    pub fn message<M: Message>(&self) -> Result<&'a M, ExtractError> {
        self.envelope
            .downcast_ref::<M>()
            .ok_or_else(|| self.unexpected_message::<M>())
    }

    fn unexpected_message<M: Message>(&self) -> ExtractError {
        ExtractError::UnexpectedMessage {
            handler: self.handler().to_owned(),
            expected: std::any::type_name::<M>(),
            found: self.envelope.message().rust_type_name(),
        }
    }
}
