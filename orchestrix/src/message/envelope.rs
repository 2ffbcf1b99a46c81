//! A message paired with its metadata, typed or type-erased.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{AnyMessage, Message, Metadata, SharedStr};

/// A message together with its [`Metadata`].
///
/// Both parts sit behind `Arc`s, so cloning an envelope (as the bus does once
/// per handler) never copies the message. `Envelope<M>` is typed;
/// [`AnyEnvelope`] is the type-erased form that buses and stores move around,
/// and [`AnyEnvelope::downcast`] gets the typed form back.
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
///
/// let envelope = Envelope::new(Deposited { amount: 5 });
/// assert_eq!(envelope.metadata().message_type, "Deposited");
///
/// let erased: AnyEnvelope = envelope.into();
/// let typed = erased.downcast::<Deposited>().expect("a Deposited");
/// assert_eq!(typed.message().amount, 5);
/// ```
pub struct Envelope<M: ?Sized> {
    metadata: Arc<Metadata>,
    message: Arc<M>,
}

/// An envelope whose message type is known only at run time.
pub type AnyEnvelope = Envelope<dyn AnyMessage>;

impl<M: ?Sized> Clone for Envelope<M> {
    fn clone(&self) -> Self {
        Self {
            metadata: Arc::clone(&self.metadata),
            message: Arc::clone(&self.message),
        }
    }
}

impl<M: ?Sized> Envelope<M> {
    /// The message's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, shared.
    pub fn metadata_arc(&self) -> &Arc<Metadata> {
        &self.metadata
    }

    /// The message.
    #[inline]
    pub fn message(&self) -> &M {
        &self.message
    }

    /// The message, shared.
    pub fn message_arc(&self) -> &Arc<M> {
        &self.message
    }

    /// Changes the metadata (copying it first if it is shared).
    #[must_use]
    pub fn map_metadata(mut self, change: impl FnOnce(Metadata) -> Metadata) -> Self {
        let metadata = Arc::unwrap_or_clone(self.metadata);
        self.metadata = Arc::new(change(metadata));
        self
    }
}

impl<M: Message> Envelope<M> {
    /// Wraps `message` with fresh metadata whose `type` is the message's
    /// registered name.
    pub fn new(message: M) -> Self {
        Self::with_metadata(message, Metadata::new(SharedStr::from_static(M::NAME)))
    }

    /// Wraps `message` with the given metadata. The metadata's `type` is
    /// set to the message's registered name, so the two cannot disagree.
    pub fn with_metadata(message: M, mut metadata: Metadata) -> Self {
        if metadata.message_type != M::NAME {
            metadata.message_type = SharedStr::from_static(M::NAME);
        }
        Self {
            metadata: Arc::new(metadata),
            message: Arc::new(message),
        }
    }

    /// Wraps `message` with fresh metadata that names `cause` as its cause
    /// and joins its conversation (see [`Metadata::caused_by`]).
    pub fn caused_by(message: M, cause: &Metadata) -> Self {
        Self::with_metadata(
            message,
            Metadata::new(SharedStr::from_static(M::NAME)).caused_by(cause),
        )
    }

    /// Erases the message type.
    pub fn into_any(self) -> AnyEnvelope {
        Envelope {
            metadata: self.metadata,
            message: self.message,
        }
    }
}

impl AnyEnvelope {
    /// Builds an erased envelope from an already shared message.
    pub fn from_parts(message: Arc<dyn AnyMessage>, metadata: Arc<Metadata>) -> Self {
        Self { metadata, message }
    }

    /// The registered name of the message inside.
    pub fn message_name(&self) -> &'static str {
        self.message.message_name()
    }

    /// Whether the message inside is an `M`.
    pub fn is<M: Message>(&self) -> bool {
        let message: &dyn Any = &*self.message;
        message.is::<M>()
    }

    /// The typed envelope, if the message inside is an `M`. Cheap: both parts
    /// stay shared.
    pub fn downcast<M: Message>(&self) -> Option<Envelope<M>> {
        let message: Arc<dyn Any + Send + Sync> = Arc::clone(&self.message) as _;
        let message = message.downcast::<M>().ok()?;
        Some(Envelope {
            metadata: Arc::clone(&self.metadata),
            message,
        })
    }

    /// A reference to the message, if it is an `M`.
    pub fn downcast_ref<M: Message>(&self) -> Option<&M> {
        let message: &dyn Any = &*self.message;
        message.downcast_ref::<M>()
    }
}

impl<M: Message> From<M> for Envelope<M> {
    fn from(message: M) -> Self {
        Self::new(message)
    }
}

impl<M: Message> From<Envelope<M>> for AnyEnvelope {
    fn from(envelope: Envelope<M>) -> Self {
        envelope.into_any()
    }
}

impl<M: ?Sized + fmt::Debug> fmt::Debug for Envelope<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("metadata", &self.metadata)
            .field("message", &&*self.message)
            .finish()
    }
}
