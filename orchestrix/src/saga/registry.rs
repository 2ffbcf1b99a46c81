//! Saga types registered through `inventory` ([`register_saga!`]), so that
//! [`recover_sagas`] can resume every unfinished saga after a crash.
//!
//! [`register_saga!`]: crate::register_saga

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::SagaError;
use super::executor::Saga;
use super::state::SagaState;
use super::store::SagaStateStore;

/// A saga whose data type is hidden: what recovery needs of a [`Saga`].
#[async_trait::async_trait]
pub trait ResumableSaga: Send + Sync + std::fmt::Debug {
    /// The saga type.
    fn saga_type(&self) -> &str;
    /// See [`Saga::resume`].
    async fn resume(&self, saga_id: &str) -> Result<SagaState, SagaError>;
}

#[async_trait::async_trait]
impl<D> ResumableSaga for Saga<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn saga_type(&self) -> &str {
        Saga::saga_type(self)
    }

    async fn resume(&self, saga_id: &str) -> Result<SagaState, SagaError> {
        Saga::resume(self, saga_id).await
    }
}

/// What [`register_saga!`](crate::register_saga) submits: a saga type and
/// a fn that builds the saga on a given state store.
#[derive(Clone, Copy, Debug)]
pub struct SagaRegistration {
    /// The saga type.
    pub saga_type: &'static str,
    /// Builds the saga on a state store.
    pub build: fn(Arc<dyn SagaStateStore>) -> Box<dyn ResumableSaga>,
    /// Where it was registered (`module_path!()`), for error messages.
    pub module: &'static str,
}

inventory::collect!(SagaRegistration);

/// Registers a saga type for [`recover_sagas`]: give the saga type and a fn
/// `fn(Arc<dyn SagaStateStore>) -> Saga<D>` that builds it.
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
/// use orchestrix::saga::SagaStateStore;
///
/// #[derive(Serialize, Deserialize)]
/// struct Order { id: String }
/// fn ship(_: &Order) -> Result<(), StepFailure> { Ok(()) }
///
/// fn order_saga(store: Arc<dyn SagaStateStore>) -> Saga<Order> {
///     let steps = SagaStep::builder("ship", ship).build().into_iter().collect();
///     Saga::new("order-fulfillment", steps, store)
/// }
/// orchestrix::register_saga!("order-fulfillment", order_saga);
/// ```
#[macro_export]
macro_rules! register_saga {
    ($saga_type:expr, $build:path $(,)?) => {
        const _: () = {
            fn __orchestrix_build_saga(
                store: ::std::sync::Arc<dyn $crate::saga::SagaStateStore>,
            ) -> ::std::boxed::Box<dyn $crate::saga::ResumableSaga> {
                ::std::boxed::Box::new($build(store))
            }
            $crate::__private::inventory::submit! {
                $crate::saga::SagaRegistration {
                    saga_type: $saga_type,
                    build: __orchestrix_build_saga,
                    module: ::core::module_path!(),
                }
            }
        };
    };
}

/// Every registered saga type, by name; duplicates are an error naming both
/// registering modules.
pub fn registrations() -> Result<HashMap<&'static str, SagaRegistration>, SagaError> {
    let mut all: Vec<SagaRegistration> = inventory::iter::<SagaRegistration>
        .into_iter()
        .copied()
        .collect();
    all.sort_by_key(|r| (r.saga_type, r.module));
    let mut by_type: HashMap<&'static str, SagaRegistration> = HashMap::new();
    for registration in all {
        if let Some(existing) = by_type.get(registration.saga_type) {
            return Err(SagaError::DuplicateRegistration {
                saga_type: registration.saga_type.to_owned(),
                first: existing.module,
                second: registration.module,
            });
        }
        by_type.insert(registration.saga_type, registration);
    }
    Ok(by_type)
}

/// What [`recover_sagas`] did with each unfinished saga.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Sagas resumed to their end: their final states.
    pub resumed: Vec<SagaState>,
    /// Sagas that could not be resumed now, with why (another process
    /// holds the lease, the type is not registered, ...).
    pub skipped: Vec<(String, SagaError)>,
}

/// Resumes one saga for recovery.
fn resume_one(
    saga_id: String,
    saga: Arc<dyn ResumableSaga>,
) -> futures::future::BoxFuture<'static, (String, Result<SagaState, SagaError>)> {
    Box::pin(async move {
        let outcome = saga.resume(&saga_id).await;
        (saga_id, outcome)
    })
}

/// How many sagas [`recover_sagas`] resumes at once.
pub const DEFAULT_RECOVERY_CONCURRENCY: usize = 16;

/// Finds every unfinished saga in `store` and resumes it with the saga
/// registered for its type (see [`register_saga!`](crate::register_saga)),
/// up to [`DEFAULT_RECOVERY_CONCURRENCY`] at once, so one slow saga does
/// not hold the others up. A saga another live process holds (valid lease)
/// is skipped, as is one whose type is not registered, or whose
/// registration builds a saga of another type
/// ([`SagaError::RegistrationMismatch`]); all are reported.
///
/// Call it at start-up, after the state store is initialized:
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::saga::{InMemorySagaStateStore, SagaStateStore, recover_sagas};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
/// let report = recover_sagas(store).await?;
/// for (saga_id, why) in &report.skipped {
///     eprintln!("saga {saga_id} not resumed: {why}");
/// }
/// assert!(report.resumed.is_empty());
/// # Ok::<(), orchestrix::saga::SagaError>(())
/// # }).unwrap();
/// ```
pub async fn recover_sagas(store: Arc<dyn SagaStateStore>) -> Result<RecoveryReport, SagaError> {
    recover_sagas_concurrently(store, DEFAULT_RECOVERY_CONCURRENCY).await
}

/// [`recover_sagas`], resuming up to `concurrency` sagas at once (at least
/// one).
pub async fn recover_sagas_concurrently(
    store: Arc<dyn SagaStateStore>,
    concurrency: usize,
) -> Result<RecoveryReport, SagaError> {
    let registrations = registrations()?;
    // Per registered type: the saga, or the type its build fn made instead.
    let mut built: HashMap<&'static str, Result<Arc<dyn ResumableSaga>, String>> = HashMap::new();
    let mut report = RecoveryReport::default();
    let mut to_resume = Vec::new();
    for state in store.unfinished().await? {
        let Some(registration) = registrations.get(state.saga_type.as_str()) else {
            report.skipped.push((
                state.saga_id.clone(),
                SagaError::UnregisteredSagaType {
                    saga_id: state.saga_id,
                    saga_type: state.saga_type,
                },
            ));
            continue;
        };
        let saga = built.entry(registration.saga_type).or_insert_with(|| {
            let saga: Arc<dyn ResumableSaga> = Arc::from((registration.build)(Arc::clone(&store)));
            if saga.saga_type() == registration.saga_type {
                Ok(saga)
            } else {
                Err(saga.saga_type().to_owned())
            }
        });
        match saga {
            Ok(saga) => to_resume.push((state.saga_id, Arc::clone(saga))),
            Err(built_type) => report.skipped.push((
                state.saga_id,
                SagaError::RegistrationMismatch {
                    registered: registration.saga_type.to_owned(),
                    built: built_type.clone(),
                    module: registration.module,
                },
            )),
        }
    }
    // Boxed futures in a Vec (not a `map` over the stream), which keeps the
    // whole recovery future `Send`, so it can be spawned.
    let mut resumes = Vec::with_capacity(to_resume.len());
    for (saga_id, saga) in to_resume {
        resumes.push(resume_one(saga_id, saga));
    }
    let mut outcomes = futures::stream::iter(resumes).buffer_unordered(concurrency.max(1));
    while let Some((saga_id, outcome)) = outcomes.next().await {
        match outcome {
            Ok(final_state) => report.resumed.push(final_state),
            Err(error) => report.skipped.push((saga_id, error)),
        }
    }
    Ok(report)
}
