//! What `#[event_handler(durable, retry = ..., idempotent, strict_order, group = "...")]`
//! declares about how a handler is delivered to.

use crate::retry::RetryPolicy;

/// How one event handler is delivered to: inline on publish or durably from
/// the store, how often it is tried, whether it runs at most once per event
/// id, and whether a failure blocks its later events.
///
/// Declared with the handler (`#[event_handler(durable, retry = fixed(delay_ms = 10, max_attempts = 3))]`)
/// and carried by its registration; the default is today's behaviour: inline,
/// one attempt.
///
/// ```
/// use std::time::Duration;
/// use orchestrix::delivery::DeliveryOptions;
/// use orchestrix::retry::RetryPolicy;
///
/// let options = DeliveryOptions::INLINE
///     .durable()
///     .idempotent()
///     .with_retry(RetryPolicy::fixed(Duration::from_millis(10), 3));
/// assert!(options.is_durable() && options.is_idempotent());
/// assert_eq!(options.retry().max_attempts(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    durable: bool,
    idempotent: bool,
    strict_order: bool,
    retry: RetryPolicy,
    group: Option<&'static str>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self::INLINE
    }
}

impl DeliveryOptions {
    /// Inline on publish, one attempt: what a plain `#[event_handler]` gets.
    pub const INLINE: Self = Self {
        durable: false,
        idempotent: false,
        strict_order: false,
        retry: RetryPolicy::none(),
        group: None,
    };

    /// Run by a [`Dispatcher`](super::Dispatcher) from the store, not by the
    /// bus on publish.
    #[must_use]
    pub const fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// At most once per event id (the processed ids are kept per handler).
    #[must_use]
    pub const fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// A failed event (after its last attempt) blocks the handler's later
    /// events instead of being parked: the group stops and tries again.
    #[must_use]
    pub const fn strict_order(mut self) -> Self {
        self.strict_order = true;
        self
    }

    /// Tries the handler as `policy` says; an error or a panic is a failed
    /// attempt.
    #[must_use]
    pub const fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Shares the checkpoint (and the reader) of the durable group `group`;
    /// by default a durable handler is a group of its own.
    #[must_use]
    pub const fn in_group(mut self, group: &'static str) -> Self {
        self.group = Some(group);
        self
    }

    /// Whether a dispatcher runs the handler from the store.
    pub const fn is_durable(&self) -> bool {
        self.durable
    }

    /// Whether it runs at most once per event id.
    pub const fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// Whether a failed event blocks the later ones.
    pub const fn is_strict_order(&self) -> bool {
        self.strict_order
    }

    /// The retry policy.
    pub const fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// The durable group, if named.
    pub const fn group(&self) -> Option<&'static str> {
        self.group
    }
}
