//! [`SagaStep`]: one named action with its optional compensation, retry
//! policy and timeout; [`StepBuilder`] makes one from plain fns.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::handler::{ActionFuture, Compensation, CompensationFuture, StepAction};
use crate::error::BoxError;
use crate::retry::RetryPolicy;

/// Which half of a step runs: its action or its compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepPhase {
    /// The step's action.
    Action,
    /// The step's compensation (undoing the action).
    Compensate,
}

/// What a step (or compensation) knows about the run it is part of.
///
/// Its [`idempotency_key`](Self::idempotency_key) is the same on every
/// attempt and after a crash, so a call to another service can be made safe
/// to repeat. The action and the compensation of a step have different
/// keys, so a service that deduplicates by key does not take the undo for
/// a repeat of the action.
///
/// ```
/// use orchestrix::saga::{StepContext, StepPhase};
///
/// let action = StepContext::new("order-1", "order-fulfillment", "charge", 1);
/// assert_eq!(action.idempotency_key(), "order-1/charge");
/// let undo = action.for_compensation(1);
/// assert_eq!(undo.phase(), StepPhase::Compensate);
/// assert_eq!(undo.idempotency_key(), "order-1/charge/compensate");
/// ```
#[derive(Clone, Debug)]
pub struct StepContext {
    saga_id: Arc<str>,
    saga_type: Arc<str>,
    step_name: Arc<str>,
    attempt: u32,
    phase: StepPhase,
}

impl StepContext {
    /// The context of a step's action (the executor makes these; tests may
    /// too).
    pub fn new(saga_id: &str, saga_type: &str, step_name: &str, attempt: u32) -> Self {
        Self {
            saga_id: saga_id.into(),
            saga_type: saga_type.into(),
            step_name: step_name.into(),
            attempt,
            phase: StepPhase::Action,
        }
    }

    /// The context of an action from ids the run already shares (no
    /// allocation per attempt).
    pub(crate) fn shared(
        saga_id: &Arc<str>,
        saga_type: &Arc<str>,
        step_name: &Arc<str>,
        attempt: u32,
    ) -> Self {
        Self {
            saga_id: Arc::clone(saga_id),
            saga_type: Arc::clone(saga_type),
            step_name: Arc::clone(step_name),
            attempt,
            phase: StepPhase::Action,
        }
    }

    /// The context of the same step's compensation, at compensation attempt
    /// `attempt`.
    pub fn for_compensation(&self, attempt: u32) -> Self {
        Self {
            attempt,
            phase: StepPhase::Compensate,
            ..self.clone()
        }
    }

    /// Whether the action or the compensation runs.
    pub fn phase(&self) -> StepPhase {
        self.phase
    }

    /// Whether this is the context of a compensation.
    pub fn is_compensation(&self) -> bool {
        self.phase == StepPhase::Compensate
    }

    /// The saga's id.
    pub fn saga_id(&self) -> &str {
        &self.saga_id
    }

    /// The saga's type.
    pub fn saga_type(&self) -> &str {
        &self.saga_type
    }

    /// The step's name.
    pub fn step_name(&self) -> &str {
        &self.step_name
    }

    pub(crate) fn step_name_arc(&self) -> Arc<str> {
        Arc::clone(&self.step_name)
    }

    /// The attempt number, from 1, counted over every run of the saga (for
    /// a compensation: its own attempts).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The key of the step's action, `"<saga id>/<step name>"`, in either
    /// phase: a compensation whose output is `None` (the action's outcome
    /// is unknown) undoes by it whatever the action may have done.
    ///
    /// ```
    /// use orchestrix::saga::StepContext;
    ///
    /// let undo = StepContext::new("order-1", "order-fulfillment", "reserve", 1).for_compensation(1);
    /// assert_eq!(undo.action_idempotency_key(), "order-1/reserve");
    /// ```
    pub fn action_idempotency_key(&self) -> String {
        format!("{}/{}", self.saga_id, self.step_name)
    }

    /// `"<saga id>/<step name>"` for the action,
    /// `"<saga id>/<step name>/compensate"` for the compensation: stable
    /// over attempts and restarts.
    pub fn idempotency_key(&self) -> String {
        match self.phase {
            StepPhase::Action => self.action_idempotency_key(),
            StepPhase::Compensate => {
                format!("{}/{}/compensate", self.saga_id, self.step_name)
            }
        }
    }
}

/// A step's action, type-erased.
pub(crate) type ActionFn<D> = dyn Fn(Arc<D>, StepContext) -> ActionFuture + Send + Sync;
/// A step's compensation, type-erased (it gets the stored output as JSON).
pub(crate) type CompensationFn<D> =
    dyn Fn(Arc<D>, Option<serde_json::Value>, StepContext) -> CompensationFuture + Send + Sync;

/// One step of a saga over data `D`: a named action, its optional
/// compensation, a retry policy and an optional timeout.
///
/// Made by `#[saga_step]` (which generates a `<fn>_step()` fn returning
/// one) or by hand with [`SagaStep::builder`].
pub struct SagaStep<D> {
    /// Shared with every attempt's [`StepContext`].
    pub(crate) name: Arc<str>,
    pub(crate) action: Arc<ActionFn<D>>,
    pub(crate) compensation: Option<Arc<CompensationFn<D>>>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
}

impl<D> Clone for SagaStep<D> {
    fn clone(&self) -> Self {
        Self {
            name: Arc::clone(&self.name),
            action: Arc::clone(&self.action),
            compensation: self.compensation.clone(),
            retry: self.retry,
            timeout: self.timeout,
        }
    }
}

impl<D> fmt::Debug for SagaStep<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaStep")
            .field("name", &self.name)
            .field("compensation", &self.compensation.is_some())
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<D: Send + Sync + 'static> SagaStep<D> {
    /// Starts a step called `name` whose action is `action` (a sync or
    /// async fn of `&D`, see [`StepAction`]).
    ///
    /// ```
    /// use orchestrix::saga::{SagaStep, StepFailure};
    /// use orchestrix::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// struct Order { id: u32 }
    ///
    /// async fn reserve(order: &Order) -> Result<String, StepFailure> {
    ///     Ok(format!("reservation-{}", order.id))
    /// }
    /// async fn release(_order: &Order, reservation: Option<String>) -> Result<(), StepFailure> {
    ///     let Some(_reservation) = reservation else { return Ok(()) }; // nothing to undo
    ///     Ok(())
    /// }
    ///
    /// let step = SagaStep::builder("reserve", reserve)
    ///     .compensate(release)
    ///     .retry(RetryPolicy::exponential(Duration::from_millis(10), 5))
    ///     .timeout(Duration::from_secs(2))
    ///     .build()?;
    /// assert_eq!(step.name(), "reserve");
    /// # Ok::<(), orchestrix::saga::StepDefinitionError>(())
    /// ```
    pub fn builder<A, M>(name: impl Into<String>, action: A) -> StepBuilder<D, A::Output>
    where
        A: StepAction<D, M>,
    {
        let action = Arc::new(action);
        StepBuilder {
            name: name.into(),
            action: Arc::new(move |data, context| action.run(data, context)),
            compensation: None,
            retry: RetryPolicy::none(),
            timeout: None,
            output: PhantomData,
        }
    }
}

impl<D> SagaStep<D> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it has a compensation.
    pub fn has_compensation(&self) -> bool {
        self.compensation.is_some()
    }

    /// Its retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Its timeout per attempt.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// A step definition is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepDefinitionError {
    /// The name is empty.
    #[error("a saga step needs a non-empty name")]
    EmptyName,
    /// The timeout is zero.
    #[error("saga step `{step}`: a timeout of zero would fail every attempt")]
    ZeroTimeout {
        /// The step.
        step: String,
    },
}

/// Builds a [`SagaStep`]; see [`SagaStep::builder`]. `O` is the action's
/// output type, which the compensation receives.
pub struct StepBuilder<D, O> {
    name: String,
    action: Arc<ActionFn<D>>,
    compensation: Option<Arc<CompensationFn<D>>>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    output: PhantomData<fn() -> O>,
}

impl<D, O> fmt::Debug for StepBuilder<D, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<D, O> StepBuilder<D, O>
where
    D: Send + Sync + 'static,
    O: DeserializeOwned + Send + 'static,
{
    /// Sets the compensation, run when a later step fails (or this step
    /// timed out). Its parameters must match the step's data and output
    /// (see [`Compensation`]); this is checked at compile time.
    pub fn compensate<C, M>(mut self, compensation: C) -> Self
    where
        C: Compensation<D, O, M>,
    {
        let compensation = Arc::new(compensation);
        self.compensation = Some(Arc::new(move |data, output, context: StepContext| {
            let output = match output.map(serde_json::from_value::<O>).transpose() {
                Ok(output) => output,
                Err(error) => {
                    let error: BoxError = format!(
                        "stored output of step `{}` does not decode into `{}`: {error}",
                        context.step_name(),
                        std::any::type_name::<O>()
                    )
                    .into();
                    return Box::pin(async move { Err(error) });
                }
            };
            compensation.run(data, output, context)
        }));
        self
    }

    /// Sets the retry policy of the action (and of the compensation).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Fails an attempt that takes longer than `timeout`. A timed-out step's
    /// outcome is unknown, so it is compensated too. Sync step fns run on
    /// tokio's blocking pool, so the timeout applies to them as well; their
    /// thread cannot be interrupted though, and runs the fn to its end in
    /// the background.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The step, if its definition is valid.
    pub fn build(self) -> Result<SagaStep<D>, StepDefinitionError> {
        if self.name.trim().is_empty() {
            return Err(StepDefinitionError::EmptyName);
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(StepDefinitionError::ZeroTimeout { step: self.name });
        }
        Ok(self.build_unchecked())
    }

    /// The step without checks; `#[saga_step]` checked its arguments at
    /// compile time.
    #[doc(hidden)]
    pub fn build_unchecked(self) -> SagaStep<D> {
        SagaStep {
            name: self.name.into(),
            action: self.action,
            compensation: self.compensation,
            retry: self.retry,
            timeout: self.timeout,
        }
    }
}
