//! [`PermanentFailure`]: a step's way to say "do not retry".

use crate::error::BoxError;

/// A failure that retrying cannot fix — a declined card, a refused order,
/// invalid input — as opposed to a transient one (a timeout, a service
/// briefly down). A step (or compensation) that fails with it is not tried
/// again, whatever its retry policy; the saga goes on to compensate at
/// once (a compensation failing with it leaves the saga
/// [`Failed`](super::SagaStatus::Failed) for a person to look at).
///
/// The executor finds it anywhere in the error's source chain, so a step's
/// own error type may wrap it as its `#[source]`. Its text is the inner
/// error's.
///
/// ```
/// use orchestrix::saga::{PermanentFailure, StepFailure};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("card {0} was declined")]
/// struct Declined(String);
///
/// fn charge(card: &str) -> Result<u64, StepFailure> {
///     if card.starts_with("0000") {
///         // Retrying will not change the bank's answer.
///         return Err(PermanentFailure::new(Declined(card.into())).into());
///     }
///     Ok(42)
/// }
/// let error = charge("0000-1").unwrap_err();
/// assert!(PermanentFailure::is_in(&*error));
/// assert_eq!(error.to_string(), "card 0000-1 was declined");
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PermanentFailure(BoxError);

impl PermanentFailure {
    /// Marks `error` as permanent.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }

    /// The error marked permanent.
    pub fn into_inner(self) -> BoxError {
        self.0
    }

    /// Whether `error` or one of its sources is a [`PermanentFailure`].
    pub fn is_in(error: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(error), |error| error.source())
            .any(|error| error.is::<PermanentFailure>())
    }
}
