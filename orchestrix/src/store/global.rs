//! Following the global stream: reading only some event types, and
//! waiting for the next append instead of polling.
//!
//! A follower (a projection, a subscriber) keeps a position and repeats:
//! read a page from it with [`read_all_filtered`], handle the page's events,
//! continue at [`GlobalPage::scanned_through`]` + 1`, and when the page was
//! empty, [`wait_for_append`] before reading again.
//!
//! [`read_all_filtered`]: crate::store::AsyncEventStore::read_all_filtered
//! [`wait_for_append`]: crate::store::AsyncEventStore::wait_for_append

use std::time::Duration;

use crate::store::RecordedEvent;

/// How long [`wait_for_append`](crate::store::AsyncEventStore::wait_for_append)'s
/// default waits at most before the follower reads again: stores that cannot
/// signal appends are polled at this interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Which events of the global stream a read returns (all, or only the named
/// event types).
///
/// ```
/// use orchestrix::store::EventTypeFilter;
///
/// let filter = EventTypeFilter::only(["shop.OrderPlaced", "shop.OrderShipped"]);
/// assert!(filter.matches("shop.OrderPlaced"));
/// assert!(!filter.matches("billing.InvoiceSent"));
/// assert!(EventTypeFilter::all().matches("anything"));
/// assert_eq!(EventTypeFilter::all().event_types(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventTypeFilter {
    /// `None` = every type; otherwise the names, sorted and without
    /// duplicates (so two filters naming the same types are equal).
    event_types: Option<Vec<String>>,
}

impl EventTypeFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only events whose registered name is one of `event_types` (an empty
    /// list matches nothing).
    pub fn only<I, S>(event_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut names: Vec<String> = event_types.into_iter().map(Into::into).collect();
        names.sort_unstable();
        names.dedup();
        Self {
            event_types: Some(names),
        }
    }

    /// Whether an event named `event_type` passes the filter.
    pub fn matches(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(names) => names
                .binary_search_by(|name| name.as_str().cmp(event_type))
                .is_ok(),
        }
    }

    /// The names the filter lets through, sorted; `None` for all.
    pub fn event_types(&self) -> Option<&[String]> {
        self.event_types.as_deref()
    }
}

/// One page of the global stream: the matching events in position order,
/// and how far the store looked.
#[derive(Clone, Debug)]
pub struct GlobalPage {
    /// The events that match the filter, in position order.
    pub events: Vec<RecordedEvent>,
    /// Every committed event with `from_position <= position <=
    /// scanned_through` was considered; those that match the filter are in
    /// `events`. A follower continues at `scanned_through + 1`.
    /// (`from_position - 1` when nothing at or after `from_position` is
    /// readable yet.)
    pub scanned_through: u64,
}

impl GlobalPage {
    /// A page built by filtering a plain `read_all` batch that started at
    /// `from_position`: it scanned through the batch's last event.
    pub(crate) fn from_unfiltered(
        from_position: u64,
        batch: Vec<RecordedEvent>,
        filter: &EventTypeFilter,
    ) -> Self {
        let scanned_through = batch
            .last()
            .map_or(from_position.saturating_sub(1), |last| last.position);
        let mut events = batch;
        events.retain(|event| filter.matches(event.event_type()));
        Self {
            events,
            scanned_through,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ignores_order_and_duplicates() {
        assert_eq!(
            EventTypeFilter::only(["b", "a", "b"]),
            EventTypeFilter::only(["a", "b"])
        );
        assert_eq!(
            EventTypeFilter::only(["b", "a"]).event_types(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        let none = EventTypeFilter::only(Vec::<String>::new());
        assert!(!none.matches("a"));
        assert_ne!(none, EventTypeFilter::all());
    }
}
