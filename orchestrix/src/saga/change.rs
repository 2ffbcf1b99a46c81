//! [`SagaChange`]: a state to save, and which of its steps changed since
//! the state its writer saved last.

use time::OffsetDateTime;

use super::state::{SagaState, StepState};

/// A saga state handed to [`SagaStateStore::save_change`], with what
/// changed since the last state its writer (the run holding the lease)
/// saved or found stored.
///
/// What may change between two saves of one run: the saga's own fields
/// ([`status`](SagaState::status), [`error`](SagaState::error),
/// [`compensation_error`](SagaState::compensation_error),
/// [`updated_at`](SagaState::updated_at)) and the steps the change names.
/// The saga's id, type, data, creation time, its number of steps and every
/// step the change does not name are as the writer last saved them.
///
/// A store that keeps states in memory writes just these parts over the
/// state it keeps; a store that writes whole rows reads
/// [`state`](Self::state) and ignores the rest.
///
/// # Correctness
///
/// The change is a promise by its writer, not something a store checks: if
/// a part of the state the change does not name (the saga's type, data or
/// creation time, or a step it does not name) differs from what the writer
/// last saved or found stored, a store may keep its old value and skip the
/// checks [`save`](super::SagaStateStore::save) would apply to it. The
/// in-memory store does both (debug builds assert the promise). When unsure
/// what changed, hand over [`SagaChange::whole`].
///
/// ```
/// use orchestrix::saga::{SagaChange, SagaState, StepStatus};
///
/// let mut state = SagaState::new("s-1", "orders", serde_json::Value::Null, ["reserve", "charge"]);
/// state.steps[1].status = StepStatus::Running;
/// let change = SagaChange::of_step(&state, 1);
/// assert_eq!(change.changed_steps().map(|(index, _)| index).collect::<Vec<_>>(), [1]);
/// assert!(!change.is_whole());
/// assert!(SagaChange::whole(&state).is_whole());
/// ```
///
/// [`SagaStateStore::save_change`]: super::SagaStateStore::save_change
#[derive(Clone, Copy, Debug)]
pub struct SagaChange<'a> {
    state: &'a SagaState,
    steps: ChangedSteps,
    /// The wall-clock reading the executor took for this write (its
    /// `updated_at`), read after the instant its lease counts as confirmed
    /// by the write; see [`read_at`](Self::read_at).
    read_at: Option<OffsetDateTime>,
}

/// Which steps a [`SagaChange`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangedSteps {
    /// None: only the saga's own fields changed.
    None,
    /// The step at this index.
    One(usize),
    /// Anything may have changed (the whole state is written).
    Whole,
}

impl<'a> SagaChange<'a> {
    /// `state`, any part of which may have changed.
    #[must_use]
    pub fn whole(state: &'a SagaState) -> Self {
        Self {
            state,
            steps: ChangedSteps::Whole,
            read_at: None,
        }
    }

    /// `state`, of which the saga's own fields changed and no step did.
    #[must_use]
    pub fn of_saga(state: &'a SagaState) -> Self {
        Self {
            state,
            steps: ChangedSteps::None,
            read_at: None,
        }
    }

    /// `state`, of which the saga's own fields and step `index` changed.
    /// An index past the last step makes the change [`whole`](Self::whole).
    #[must_use]
    pub fn of_step(state: &'a SagaState, index: usize) -> Self {
        Self {
            state,
            steps: if index < state.steps.len() {
                ChangedSteps::One(index)
            } else {
                ChangedSteps::Whole
            },
            read_at: None,
        }
    }

    /// This change, written by the executor at `at`: a wall-clock reading
    /// taken after the instant its run counts the lease as confirmed by
    /// this write. A store in this process may compute the lease's expiry
    /// from it instead of reading the clock again (the executor reads the
    /// clock once per transition, and the store then shares that reading):
    /// an expiry from an earlier reading than the store's own is earlier,
    /// so the lease only gets shorter, and it still ends no sooner than the
    /// run's confirmation plus the TTL (to the stored precision; the run's
    /// safety margin covers that and the difference between the monotonic
    /// and the wall clock), which the run's deadline is computed from. Crate-only: a caller of the public API cannot hand a
    /// store a time to compute an expiry from.
    #[must_use]
    pub(crate) fn read_at(mut self, at: OffsetDateTime) -> Self {
        self.read_at = Some(at);
        self
    }

    /// The executor's reading for this write, if it took one
    /// ([`read_at`](Self::read_at)).
    pub(crate) fn reading(&self) -> Option<OffsetDateTime> {
        self.read_at
    }

    /// The state after the change, complete.
    pub fn state(&self) -> &'a SagaState {
        self.state
    }

    /// Whether anything may have changed: the state is to be written
    /// whole.
    pub fn is_whole(&self) -> bool {
        self.steps == ChangedSteps::Whole
    }

    /// The steps that changed, with their index, in order (every step when
    /// the change is [`whole`](Self::is_whole)).
    pub fn changed_steps(&self) -> impl Iterator<Item = (usize, &'a StepState)> + use<'a> {
        let range = match self.steps {
            ChangedSteps::None => 0..0,
            ChangedSteps::One(index) => index..index + 1,
            ChangedSteps::Whole => 0..self.state.steps.len(),
        };
        let steps = &self.state.steps;
        range.filter_map(move |index| steps.get(index).map(|step| (index, step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SagaState {
        SagaState::new("s-1", "orders", serde_json::Value::Null, ["a", "b", "c"])
    }

    fn indexes(change: &SagaChange<'_>) -> Vec<usize> {
        change.changed_steps().map(|(index, _)| index).collect()
    }

    #[test]
    fn a_step_past_the_last_makes_the_change_whole() {
        let state = state();
        let last = SagaChange::of_step(&state, 2);
        assert!(!last.is_whole());
        assert_eq!(indexes(&last), [2]);
        for past in [3, 4, usize::MAX] {
            let change = SagaChange::of_step(&state, past);
            assert!(change.is_whole(), "step {past}");
            assert_eq!(indexes(&change), [0, 1, 2], "step {past}");
        }
    }

    #[test]
    fn the_sagas_own_fields_name_no_step_and_whole_names_every_step() {
        let state = state();
        let own = SagaChange::of_saga(&state);
        assert!(!own.is_whole());
        assert_eq!(indexes(&own), Vec::<usize>::new());
        let whole = SagaChange::whole(&state);
        assert!(whole.is_whole());
        assert_eq!(indexes(&whole), [0, 1, 2]);
        assert!(std::ptr::eq(whole.state(), &state));
    }
}
