//! The [`limits`] every saga state store applies before its
//! backend sees anything, so that every store accepts and refuses the same
//! calls with the same errors. Both stores of this crate call them first
//! thing; a custom store should too.

use time::OffsetDateTime;

use super::change::SagaChange;
use super::error::SagaStoreError;
use super::state::{SagaState, StepState};
use crate::limits::{self, IdKind, JsonCheckError, shorten, stored_precision};

/// A saga id: see [`limits::check_id`].
///
/// ```
/// use orchestrix::saga::{SagaStoreError, checks};
///
/// assert!(checks::saga_id("order-7").is_ok());
/// assert!(matches!(checks::saga_id("a\0b"), Err(SagaStoreError::Limit(_))));
/// ```
pub fn saga_id(id: &str) -> Result<(), SagaStoreError> {
    Ok(limits::check_id(IdKind::Saga, id)?)
}

/// A lease owner: the same rules as ids.
pub fn owner(owner: &str) -> Result<(), SagaStoreError> {
    Ok(limits::check_id(IdKind::LeaseOwner, owner)?)
}

/// A state about to be written by `owner`: its id, the owner, its texts
/// (no NUL), its data and every step's output (JSON within the limits).
pub fn state(state: &SagaState, lease_owner: &str) -> Result<(), SagaStoreError> {
    texts(state, lease_owner)?;
    state_json(state, None)
}

/// The texts of a state about to be written by `owner` (its id, the owner,
/// its type, step names and error texts): the part of [`state`] that
/// needs no serialization.
pub(crate) fn texts(state: &SagaState, lease_owner: &str) -> Result<(), SagaStoreError> {
    saga_id(&state.saga_id)?;
    owner(lease_owner)?;
    // The id is shortened for a message only, not on every check.
    let id = || shorten(&state.saga_id);
    let what = |part: &str| format!("the {part} of saga `{}`", id());
    limits::check_text(&state.saga_type, || what("type"))?;
    errors(&state.error, &state.compensation_error, what)?;
    for step in &state.steps {
        step_texts(state, step)?;
    }
    Ok(())
}

/// The texts of one step of `state`: its name and error texts.
fn step_texts(state: &SagaState, step: &StepState) -> Result<(), SagaStoreError> {
    step_texts_but_a_checked_name(state, step, None)
}

/// [`step_texts`], but for a name equal to `checked_name` (one that passed
/// these checks), which is not checked again.
fn step_texts_but_a_checked_name(
    state: &SagaState,
    step: &StepState,
    checked_name: Option<&str>,
) -> Result<(), SagaStoreError> {
    let step_part = |part: &str| {
        format!(
            "the {part} of step `{}` of saga `{}`",
            shorten(&step.name),
            shorten(&state.saga_id)
        )
    };
    if checked_name != Some(step.name.as_str()) {
        limits::check_text(&step.name, || {
            format!("the step names of saga `{}`", shorten(&state.saga_id))
        })?;
    }
    errors(&step.error, &step.compensation_error, step_part)
}

/// The texts [`texts`] checks that `change` may have changed: the saga's
/// error texts and the changed steps' texts (the id and the owner are the
/// caller's to check). A changed step's name equal to the same step's name
/// in `checked` (the state the change is written over, whose texts passed
/// these checks) is not checked again: a run never renames a step, so this
/// is a compare where a check would walk the name.
pub(crate) fn changed_texts(
    change: &SagaChange<'_>,
    checked: &SagaState,
) -> Result<(), SagaStoreError> {
    let state = change.state();
    errors(&state.error, &state.compensation_error, |part: &str| {
        format!("the {part} of saga `{}`", shorten(&state.saga_id))
    })?;
    for (index, step) in change.changed_steps() {
        let checked_name = checked.steps.get(index).map(|kept| kept.name.as_str());
        step_texts_but_a_checked_name(state, step, checked_name)?;
    }
    Ok(())
}

/// The JSON [`state_json`] checks that `change` may have changed: the
/// outputs of the changed steps that differ from those of `checked` (the
/// state the change is written over, whose JSON passed the checks).
pub(crate) fn changed_json(
    change: &SagaChange<'_>,
    checked: &SagaState,
) -> Result<(), SagaStoreError> {
    outputs(change.state(), change.changed_steps(), Some(checked))
}

/// The JSON of a state (its data, every step's output) within the limits.
/// A value equal to its counterpart in `checked` (a state whose JSON passed
/// these checks, as a store keeps it) is not walked again: a saga's data
/// and its completed steps' outputs do not change from one save to the
/// next.
pub(crate) fn state_json(
    state: &SagaState,
    checked: Option<&SagaState>,
) -> Result<(), SagaStoreError> {
    let id = || shorten(&state.saga_id);
    if checked.is_none_or(|checked| checked.data != state.data) {
        json(state, &state.data, || {
            format!("the data of saga `{}`", id())
        })?;
    }
    outputs(state, state.steps.iter().enumerate(), checked)
}

/// The outputs of `steps` (with their indexes) of `state` within the
/// limits, but for those equal to the same step's output in `checked`.
fn outputs<'s>(
    state: &SagaState,
    steps: impl Iterator<Item = (usize, &'s StepState)>,
    checked: Option<&SagaState>,
) -> Result<(), SagaStoreError> {
    for (index, step) in steps {
        let unchanged = checked
            .and_then(|checked| checked.steps.get(index))
            .is_some_and(|kept| kept.output == step.output);
        if !unchanged {
            output(state, step)?;
        }
    }
    Ok(())
}

/// A step's output within the limits. A value without strings, arrays or
/// objects (`null`, a boolean, a number: serde_json's numbers are finite)
/// breaks none, so it is not walked.
fn output(state: &SagaState, step: &StepState) -> Result<(), SagaStoreError> {
    use serde_json::Value;
    match &step.output {
        None | Some(Value::Null | Value::Bool(_) | Value::Number(_)) => Ok(()),
        Some(output) => json(state, output, || {
            format!(
                "the output of step `{}` of saga `{}`",
                shorten(&step.name),
                shorten(&state.saga_id)
            )
        }),
    }
}

/// The error texts of a saga or a step; `what` names a part.
fn errors(
    error: &Option<String>,
    compensation_error: &Option<String>,
    what: impl Fn(&str) -> String,
) -> Result<(), SagaStoreError> {
    for (text, part) in [(error, "error"), (compensation_error, "compensation error")] {
        if let Some(text) = text {
            limits::check_text(text, || what(part))?;
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(
    state: &SagaState,
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<(), SagaStoreError> {
    limits::check_json(value, what).map_err(|error| match error {
        JsonCheckError::Limit(limit) => SagaStoreError::Limit(limit),
        JsonCheckError::Serialize(source) => SagaStoreError::Malformed {
            saga_id: state.saga_id.clone(),
            source,
        },
    })
}

/// `state` with its timestamps at the precision every store keeps
/// ([`stored_precision`]), as a store that keeps values in memory stores it
/// so that it reads back what PostgreSQL would.
pub(crate) fn at_stored_precision(mut state: SagaState) -> SagaState {
    let cut = |at: &mut OffsetDateTime| *at = stored_precision(*at);
    cut(&mut state.created_at);
    cut(&mut state.updated_at);
    if let Some(lease) = &mut state.lease {
        cut(&mut lease.expires_at);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::LimitError;

    /// A changed step's name is checked unless it equals the name of the
    /// same step in the checked state: a renamed step holding a NUL is
    /// refused, a name as checked before passes.
    #[test]
    fn a_changed_step_name_is_checked_unless_it_equals_the_checked_one() {
        let checked = SagaState::new("s-1", "orders", serde_json::Value::Null, ["a", "b"]);
        let mut renamed = checked.clone();
        renamed.steps[1].name = "b\0".into();
        assert!(matches!(
            changed_texts(&SagaChange::of_step(&renamed, 1), &checked),
            Err(SagaStoreError::Limit(LimitError::NulInText { .. }))
        ));
        assert!(changed_texts(&SagaChange::of_step(&checked, 1), &checked).is_ok());
        // The step's error texts are checked whatever its name.
        let mut broken = checked.clone();
        broken.steps[0].error = Some("x\0".into());
        assert!(changed_texts(&SagaChange::of_step(&broken, 0), &checked).is_err());
    }
}
