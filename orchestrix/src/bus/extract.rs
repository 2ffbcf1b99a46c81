//! Extractors: the extra parameters of an `#[event_handler]` fn, resolved
//! from the [`HandlerContext`] before each call.

use std::any::TypeId;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::context::HandlerContext;
use super::error::ExtractError;
use crate::message::Metadata;

/// A value an event handler can take as a parameter after the event
/// reference, built from the [`HandlerContext`] of each call (like axum's
/// `FromRequestParts`).
///
/// Implemented for [`Dep<T>`] (a shared dependency of the bus) and
/// [`Metadata`] (the message's metadata). Implement it for your own types to
/// derive handler arguments from those.
///
/// ```
/// use orchestrix::bus::{ExtractError, FromHandlerContext, HandlerContext};
///
/// /// The subject of the message, or "" when it has none.
/// struct Subject(String);
///
/// impl FromHandlerContext for Subject {
///     fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
///         Ok(Subject(context.metadata().subject.as_deref().unwrap_or_default().to_owned()))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of an event handler",
    label = "not an extractor",
    note = "after the event reference, an `#[event_handler]` fn takes only extractors: \
            `Dep<T>` for a dependency registered on the bus, `Metadata` for the message's metadata"
)]
pub trait FromHandlerContext: Sized + Send + 'static {
    /// The dependencies this extractor needs from the bus (none by default);
    /// the bus builders check every one when the bus is built. An extractor
    /// built from several dependencies lists them all:
    /// `const REQUIRES: &'static [DependencyKey] = &[DependencyKey::of::<Db>(), DependencyKey::of::<Clock>()];`
    const REQUIRES: &'static [DependencyKey] = &[];

    /// Builds the value for one call.
    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError>;
}

/// Names a dependency type: what a handler requires from the bus.
#[derive(Clone, Copy)]
pub struct DependencyKey {
    /// `TypeId` of the dependency type.
    pub type_id: fn() -> TypeId,
    /// `std::any::type_name` of the dependency type, for errors.
    pub type_name: fn() -> &'static str,
}

impl DependencyKey {
    /// The key of `T`.
    pub const fn of<T: ?Sized + 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>,
            type_name: std::any::type_name::<T>,
        }
    }
}

impl fmt::Debug for DependencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DependencyKey")
            .field(&(self.type_name)())
            .finish()
    }
}

/// A shared dependency of the bus, asked for as a handler parameter.
///
/// The value is registered once on the bus builder (`.dependency(mailer)`)
/// and shared by every handler call; `Dep<T>` derefs to `T`.
///
/// ```standalone_crate
/// use orchestrix::prelude::*;
///
/// #[derive(Debug, Default)]
/// struct Mailer;
/// impl Mailer {
///     fn send(&self, to: &str) -> String { format!("mail to {to}") }
/// }
///
/// #[derive(Event, Debug, Serialize, Deserialize)]
/// struct AccountOpened { owner: String }
///
/// #[event_handler]
/// async fn welcome(event: &AccountOpened, mailer: Dep<Mailer>) {
///     mailer.send(&event.owner);
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let bus = InMemoryAsyncMessageBus::builder()
///     .dependency(Mailer)
///     .register_handlers()
///     .build()?;
/// bus.publish(AccountOpened { owner: "ada".into() }).await?;
/// # Ok(())
/// # }
/// ```
pub struct Dep<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Dep<T> {
    /// Wraps a shared value, e.g. to call a handler fn directly in a test.
    pub fn new(value: Arc<T>) -> Self {
        Self(value)
    }

    /// The shared value.
    pub fn into_inner(self) -> Arc<T> {
        self.0
    }
}

impl<T: ?Sized> Clone for Dep<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for Dep<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Dep<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dep").field(&&*self.0).finish()
    }
}

impl<T: ?Sized + Send + Sync + 'static> FromHandlerContext for Dep<T> {
    const REQUIRES: &'static [DependencyKey] = &[DependencyKey::of::<T>()];

    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
        context
            .dependencies()
            .get::<T>()
            .map(Dep)
            .ok_or_else(|| ExtractError::MissingDependency {
                handler: context.handler().to_owned(),
                dependency: std::any::type_name::<T>(),
            })
    }
}

impl FromHandlerContext for Metadata {
    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
        Ok(context.metadata().clone())
    }
}

impl FromHandlerContext for Arc<Metadata> {
    fn from_context(context: &HandlerContext<'_>) -> Result<Self, ExtractError> {
        Ok(Arc::clone(context.envelope().metadata_arc()))
    }
}

/// The event a generated handler takes, borrowed for as long as the
/// context lends the envelope; used by `#[event_handler]` expansions. It
/// asks nothing of `E` but `Any`, so a non-event parameter type is reported
/// once, by the registration, as "not an Orchestrix event" on the user's
/// type. Always inlined: every
/// handler call goes through it, and a call out of line (returning the
/// large error through memory) cost more than the check itself.
#[doc(hidden)]
#[inline(always)]
pub fn event_ref<'a, E: std::any::Any>(
    context: &HandlerContext<'a>,
) -> Result<&'a E, ExtractError> {
    let message: &dyn std::any::Any = context.envelope().message();
    message
        .downcast_ref::<E>()
        .ok_or_else(|| unexpected::<E>(context))
}

/// As [`event_ref`], its error already boxed, as a plain fn handler
/// returns it; used by `#[event_handler]` expansions of plain fns. The
/// boxing is out of line: inlined, it made every such call save registers
/// and keep stack room for an error that routing by type rules out.
#[doc(hidden)]
#[inline(always)]
pub fn event_ref_boxed<'a, E: std::any::Any>(
    context: &HandlerContext<'a>,
) -> Result<&'a E, crate::error::BoxError> {
    let message: &dyn std::any::Any = context.envelope().message();
    match message.downcast_ref::<E>() {
        Some(event) => Ok(event),
        None => Err(unexpected_boxed::<E>(context)),
    }
}

#[cold]
#[inline(never)]
fn unexpected_boxed<E>(context: &HandlerContext<'_>) -> crate::error::BoxError {
    unexpected::<E>(context).into()
}

#[cold]
#[inline(never)]
fn unexpected<E>(context: &HandlerContext<'_>) -> ExtractError {
    ExtractError::UnexpectedMessage {
        handler: context.handler().to_owned(),
        expected: std::any::type_name::<E>(),
        found: context.envelope().message().rust_type_name(),
    }
}

/// The future of a generated handler whose arguments could not be extracted.
#[doc(hidden)]
pub fn extraction_failed<'a>(error: ExtractError) -> super::HandlerFuture<'a> {
    super::HandlerFuture::ready(Err(error.into()))
}
