//! Row readers' side of splits: one stored row, any number of events.

use std::sync::Arc;

use crate::message::AnyMessage;
use crate::store::RecordedEvent;

/// The events one stored row is read as: one, except when an upcaster
/// split or dropped it. Row readers collect these (one per row, so a page
/// still counts rows) and flatten them at the end.
#[derive(Debug)]
pub(crate) enum RowEvents {
    One(RecordedEvent),
    Many(Vec<RecordedEvent>),
}

impl RowEvents {
    /// `messages` placed at one stored row by `at`.
    pub(crate) fn build(
        messages: super::Upcasted,
        mut at: impl FnMut(Arc<dyn AnyMessage>) -> RecordedEvent,
    ) -> Self {
        match messages.into_single() {
            Ok(message) => Self::One(at(message)),
            Err(messages) => Self::Many(messages.into_vec().into_iter().map(at).collect()),
        }
    }

    /// Pushes the events onto `out`.
    pub(crate) fn push_into(self, out: &mut Vec<RecordedEvent>) {
        match self {
            Self::One(event) => out.push(event),
            Self::Many(events) => out.extend(events),
        }
    }

    /// The events of `rows`, in order; with `filter`, only its types (a
    /// widened read fetched rows that may decode into other types).
    pub(crate) fn flatten(
        rows: Vec<Self>,
        filter: Option<&crate::store::EventTypeFilter>,
    ) -> Vec<RecordedEvent> {
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            row.push_into(&mut events);
        }
        if let Some(filter) = filter {
            events.retain(|event| filter.matches(event.event_type()));
        }
        events
    }
}
