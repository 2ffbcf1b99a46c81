//! Two `#[projection]`s with one name: building the registered projections
//! fails with an error naming both read models.

use std::sync::Arc;

use orchestrix::prelude::*;
use orchestrix::projection::RegisteredProjections;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-duplicate.Placed")]
struct Placed;

#[derive(Debug, Default)]
struct FirstSummary;

#[projection(name = "summary")]
impl FirstSummary {
    #[handle]
    fn on_placed(&mut self, _event: &Placed) {}
}

#[derive(Debug, Default)]
struct SecondSummary;

#[projection(name = "summary")]
impl SecondSummary {
    #[handle]
    fn on_placed(&mut self, _event: &Placed) {}
}

#[test]
fn two_projections_with_one_name_are_a_start_up_error_naming_both() {
    let error = RegisteredProjections::build(Arc::new(InMemoryProjectionStateStore::new()))
        .expect_err("two projections are named `summary`");
    let text = error.to_string();
    assert!(
        matches!(error, ProjectionError::DuplicateName { ref name, .. } if name == "summary"),
        "{text}"
    );
    assert!(
        text.contains("FirstSummary") && text.contains("SecondSummary"),
        "{text}"
    );
}
