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

/// What [`register_saga!`](crate::register_saga) submits: a fn that builds
/// the saga on a given state store, and the saga type when the registration
/// names it.
#[derive(Clone, Copy, Debug)]
pub struct SagaRegistration {
    /// The saga type, if the registration names it; `None`: the type of the
    /// saga the build fn makes.
    pub saga_type: Option<&'static str>,
    /// Builds the saga on a state store.
    pub build: BuildSaga,
    /// Where it was registered (`module_path!()`), for error messages.
    pub module: &'static str,
}

/// A registered saga's build fn, type-erased.
pub type BuildSaga = fn(Arc<dyn SagaStateStore>) -> Result<Box<dyn ResumableSaga>, SagaError>;

inventory::collect!(SagaRegistration);

/// What a saga build fn may return: the saga, or the result of
/// [`Saga::new`].
pub trait IntoResumableSaga {
    /// The saga, type-erased.
    fn into_resumable(self) -> Result<Box<dyn ResumableSaga>, SagaError>;
}

impl<D> IntoResumableSaga for Saga<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn into_resumable(self) -> Result<Box<dyn ResumableSaga>, SagaError> {
        Ok(Box::new(self))
    }
}

impl<D> IntoResumableSaga for Result<Saga<D>, SagaError>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn into_resumable(self) -> Result<Box<dyn ResumableSaga>, SagaError> {
        self.map(|saga| Box::new(saga) as Box<dyn ResumableSaga>)
    }
}

/// Registers a saga for [`recover_sagas`]: give the fn
/// `fn(Arc<dyn SagaStateStore>) -> Result<Saga<D>, SagaError>` that builds
/// it. The saga type is written once, in `Saga::new`: recovery builds the
/// saga to learn it. (The older form `register_saga!("type", build_fn)`
/// still works and is checked against the built saga.)
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
/// use orchestrix::saga::{SagaError, SagaStateStore};
///
/// #[derive(Serialize, Deserialize)]
/// struct Order { id: String }
/// fn ship(_: &Order) -> Result<(), StepFailure> { Ok(()) }
///
/// fn order_saga(store: Arc<dyn SagaStateStore>) -> Result<Saga<Order>, SagaError> {
///     let steps = SagaStep::builder("ship", ship).build().into_iter().collect();
///     Saga::new("order-fulfillment", steps, store)
/// }
/// orchestrix::register_saga!(order_saga);
/// ```
#[macro_export]
macro_rules! register_saga {
    ($build:path $(,)?) => {
        $crate::register_saga!(@submit ::core::option::Option::None, $build);
    };
    ($saga_type:expr, $build:path $(,)?) => {
        $crate::register_saga!(@submit ::core::option::Option::Some($saga_type), $build);
    };
    (@submit $saga_type:expr, $build:path) => {
        const _: () = {
            fn __orchestrix_build_saga(
                store: ::std::sync::Arc<dyn $crate::saga::SagaStateStore>,
            ) -> ::core::result::Result<
                ::std::boxed::Box<dyn $crate::saga::ResumableSaga>,
                $crate::saga::SagaError,
            > {
                $crate::saga::IntoResumableSaga::into_resumable($build(store))
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

/// A registered saga, built on the recovery's store: the saga, or why it
/// cannot resume sagas of its type.
type Registered = Result<Arc<dyn ResumableSaga>, SagaError>;

/// The error to report for each saga a registration cannot resume.
fn not_resumable(why: &SagaError) -> SagaError {
    match why {
        SagaError::RegistrationMismatch {
            registered,
            built,
            module,
        } => SagaError::RegistrationMismatch {
            registered: registered.clone(),
            built: built.clone(),
            module,
        },
        SagaError::Unbuildable {
            saga_type,
            module,
            reason,
        } => SagaError::Unbuildable {
            saga_type: saga_type.clone(),
            module,
            reason: reason.clone(),
        },
        other => SagaError::Unbuildable {
            saga_type: String::new(),
            module: "",
            reason: other.to_string(),
        },
    }
}

/// Every registered saga built on `store`, by saga type; two registrations
/// of one type are an error naming both registering modules.
fn registered_sagas(
    store: &Arc<dyn SagaStateStore>,
) -> Result<HashMap<String, Registered>, SagaError> {
    let mut all: Vec<SagaRegistration> = inventory::iter::<SagaRegistration>
        .into_iter()
        .copied()
        .collect();
    all.sort_by_key(|r| (r.saga_type, r.module));
    let mut by_type: HashMap<String, (Registered, &'static str)> = HashMap::new();
    for registration in all {
        let built: Registered = (registration.build)(Arc::clone(store)).map(Arc::from);
        let (saga_type, saga) = match (registration.saga_type, built) {
            (Some(registered), Ok(saga)) if saga.saga_type() != registered => {
                let mismatch = SagaError::RegistrationMismatch {
                    registered: registered.to_owned(),
                    built: saga.saga_type().to_owned(),
                    module: registration.module,
                };
                (registered.to_owned(), Err(mismatch))
            }
            (_, Ok(saga)) => (saga.saga_type().to_owned(), Ok(saga)),
            (Some(registered), Err(error)) => {
                let unbuildable = SagaError::Unbuildable {
                    saga_type: registered.to_owned(),
                    module: registration.module,
                    reason: error.to_string(),
                };
                (registered.to_owned(), Err(unbuildable))
            }
            // A build fn that fails without naming its type: nothing to
            // recover by; its sagas are reported as unregistered.
            (None, Err(error)) => {
                tracing::warn!(module = registration.module, %error, "a registered saga cannot be built");
                continue;
            }
        };
        if let Some((_, first)) = by_type.get(&saga_type) {
            return Err(SagaError::DuplicateRegistration {
                saga_type,
                first,
                second: registration.module,
            });
        }
        by_type.insert(saga_type, (saga, registration.module));
    }
    Ok(by_type
        .into_iter()
        .map(|(saga_type, (saga, _))| (saga_type, saga))
        .collect())
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
    let sagas = registered_sagas(&store)?;
    let mut report = RecoveryReport::default();
    let mut to_resume = Vec::new();
    for state in store.unfinished().await? {
        match sagas.get(state.saga_type.as_str()) {
            Some(Ok(saga)) => to_resume.push((state.saga_id, Arc::clone(saga))),
            Some(Err(why)) => report.skipped.push((state.saga_id, not_resumable(why))),
            None => report.skipped.push((
                state.saga_id.clone(),
                SagaError::UnregisteredSagaType {
                    saga_id: state.saga_id,
                    saga_type: state.saga_type,
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
