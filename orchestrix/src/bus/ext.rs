//! `publish(message)` for any bus, including `dyn MessageBus` /
//! `dyn AsyncMessageBus`.

use crate::message::{Envelope, Message};

use super::{AsyncMessageBus, HandlerError, MessageBus};

/// Publishing typed messages on any [`MessageBus`].
pub trait MessageBusExt: MessageBus {
    /// Wraps `message` with fresh metadata and publishes it.
    fn publish<M: Message>(&self, message: M) -> Result<(), HandlerError> {
        self.publish_envelope(Envelope::new(message).into_any())
    }
}

impl<B: MessageBus + ?Sized> MessageBusExt for B {}

/// Publishing typed messages on any [`AsyncMessageBus`].
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Debug, Serialize, Deserialize)]
/// struct Shipped;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), HandlerError> {
/// let bus: Arc<dyn AsyncMessageBus> = Arc::new(InMemoryAsyncMessageBus::new());
/// bus.publish(Shipped).await?;
/// # Ok(())
/// # }
/// ```
#[async_trait::async_trait]
pub trait AsyncMessageBusExt: AsyncMessageBus {
    /// Wraps `message` with fresh metadata and publishes it.
    async fn publish<M: Message>(&self, message: M) -> Result<(), HandlerError> {
        self.publish_envelope(Envelope::new(message).into_any())
            .await
    }
}

impl<B: AsyncMessageBus + ?Sized> AsyncMessageBusExt for B {}
