//! The persisted state of a saga and of each of its steps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a saga is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// Steps are running forward.
    Running,
    /// A step failed; completed steps are being compensated.
    Compensating,
    /// Every step succeeded.
    Completed,
    /// A step failed and every completed step was compensated.
    Compensated,
    /// A step failed and then a compensation failed too: a person must look
    /// at it. Both errors are kept.
    Failed,
}

impl SagaStatus {
    /// Whether the saga has ended (recovery leaves it alone).
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Compensated | Self::Failed)
    }

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Compensating => "compensating",
            Self::Completed => "completed",
            Self::Compensated => "compensated",
            Self::Failed => "failed",
        }
    }
}

/// Where one step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// An attempt is running (found on recovery: it was interrupted).
    Running,
    /// Done; its output is kept.
    Completed,
    /// Its last attempt returned an error.
    Failed,
    /// Its last attempt ran out of time; what it did is unknown.
    TimedOut,
    /// Its compensation is running.
    Compensating,
    /// Its compensation succeeded.
    Compensated,
    /// Its compensation failed.
    CompensationFailed,
}

/// The persisted state of one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// The step's name.
    pub name: String,
    /// Where it is.
    pub status: StepStatus,
    /// Attempts of the action so far, over all runs of the saga.
    pub attempts: u32,
    /// Attempts of the compensation so far.
    pub compensation_attempts: u32,
    /// The action's output as JSON, once completed; handed to the
    /// compensation.
    pub output: Option<serde_json::Value>,
    /// The last attempt's error text.
    pub error: Option<String>,
    /// The last compensation attempt's error text.
    pub compensation_error: Option<String>,
    /// Whether the step may have had effects although it did not complete
    /// (an attempt timed out or was interrupted): then it is compensated too.
    pub outcome_unknown: bool,
    /// When the last attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When the last attempt ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// When the compensation succeeded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub compensated_at: Option<OffsetDateTime>,
}

impl StepState {
    /// Makes `self` equal to `source`, reusing its allocations (a save
    /// rewrites a kept state that differs from the new one in a field or
    /// two).
    pub(crate) fn assign_from(&mut self, source: &Self) {
        // Every field named, without `..`: a field added to `StepState`
        // fails to compile here until it is copied too.
        let Self {
            name,
            status,
            attempts,
            compensation_attempts,
            output,
            error,
            compensation_error,
            outcome_unknown,
            started_at,
            finished_at,
            compensated_at,
        } = self;
        name.clone_from(&source.name);
        *status = source.status;
        *attempts = source.attempts;
        *compensation_attempts = source.compensation_attempts;
        if *output != source.output {
            output.clone_from(&source.output);
        }
        error.clone_from(&source.error);
        compensation_error.clone_from(&source.compensation_error);
        *outcome_unknown = source.outcome_unknown;
        *started_at = source.started_at;
        *finished_at = source.finished_at;
        *compensated_at = source.compensated_at;
    }

    /// A step that has not run.
    pub fn pending(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: StepStatus::Pending,
            attempts: 0,
            compensation_attempts: 0,
            output: None,
            error: None,
            compensation_error: None,
            outcome_unknown: false,
            started_at: None,
            finished_at: None,
            compensated_at: None,
        }
    }
}

/// Who runs a saga, and until when: only the holder may write its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder (one id per [`Saga`](super::Saga) value, i.e. per process).
    pub owner: String,
    /// When the lease runs out unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The persisted state of one saga run: written after every transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SagaState {
    /// The saga's id (unique in the store).
    pub saga_id: String,
    /// The saga type (the name the saga was defined with).
    pub saga_type: String,
    /// Where the saga is.
    pub status: SagaStatus,
    /// The saga's input data as JSON (recovery rebuilds it from here).
    pub data: serde_json::Value,
    /// One entry per step, in order.
    pub steps: Vec<StepState>,
    /// The step failure that started compensation.
    pub error: Option<String>,
    /// The compensation failure that made the saga [`SagaStatus::Failed`].
    pub compensation_error: Option<String>,
    /// The current lease, if any (maintained by the store).
    pub lease: Option<Lease>,
    /// When the saga was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the state was last written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl SagaState {
    /// A new saga, running, with every step pending.
    pub fn new(
        saga_id: impl Into<String>,
        saga_type: impl Into<String>,
        data: serde_json::Value,
        step_names: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let now = crate::limits::now();
        Self {
            saga_id: saga_id.into(),
            saga_type: saga_type.into(),
            status: SagaStatus::Running,
            data,
            steps: step_names.into_iter().map(StepState::pending).collect(),
            error: None,
            compensation_error: None,
            lease: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Makes `self` equal to `source` except for the lease, which stays as
    /// it is, reusing `self`'s allocations: how a store that keeps states
    /// in memory saves one.
    pub(crate) fn assign_from(&mut self, source: &Self) {
        // Every field named, without `..`: a field added to `SagaState`
        // fails to compile here until it is copied (or left out on
        // purpose, as the lease is).
        let Self {
            saga_id,
            saga_type,
            status: _,
            data,
            steps,
            error: _,
            compensation_error: _,
            lease: _,
            created_at,
            updated_at: _,
        } = self;
        saga_id.clone_from(&source.saga_id);
        saga_type.clone_from(&source.saga_type);
        if *data != source.data {
            data.clone_from(&source.data);
        }
        if steps.len() == source.steps.len() {
            for (step, source) in steps.iter_mut().zip(&source.steps) {
                step.assign_from(source);
            }
        } else {
            steps.clone_from(&source.steps);
        }
        *created_at = source.created_at;
        self.assign_own_fields_from(source);
    }

    /// Makes the saga's own fields (those a [`SagaChange`] may always
    /// change: status, error texts, `updated_at`) equal to `source`'s,
    /// leaving its id, type, data, steps, lease and creation time as they
    /// are: how a store that keeps states in memory writes a change.
    ///
    /// [`SagaChange`]: super::SagaChange
    pub(crate) fn assign_own_fields_from(&mut self, source: &Self) {
        // Every field named, without `..`: a field added to `SagaState`
        // fails to compile here until it is sorted into the saga's own
        // fields or the ones a change leaves as they are.
        let Self {
            saga_id: _,
            saga_type: _,
            status,
            data: _,
            steps: _,
            error,
            compensation_error,
            lease: _,
            created_at: _,
            updated_at,
        } = self;
        *status = source.status;
        error.clone_from(&source.error);
        compensation_error.clone_from(&source.compensation_error);
        *updated_at = source.updated_at;
    }

    /// The state of the step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepState> {
        self.steps.iter().find(|step| step.name == name)
    }

    /// The step names, in order.
    pub fn step_names(&self) -> Vec<String> {
        self.steps.iter().map(|step| step.name.clone()).collect()
    }
}
