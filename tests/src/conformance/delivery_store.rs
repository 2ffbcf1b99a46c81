//! The [`DeliveryStore`] conformance suite: every delivery store (in
//! memory, PostgreSQL, SQLite) must pass [`run_all`].
//!
//! Each check uses handler names starting with the caller's `prefix`, so
//! suites can run in parallel and repeatedly on one database.

use std::sync::Arc;

use orchestrix::delivery::{DeliveryStore, ParkedEvent};
use orchestrix::projection::ProjectionState;
use time::OffsetDateTime;
use tokio::sync::Barrier;
use uuid::Uuid;

/// A timestamp every store keeps exactly (whole microseconds).
fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn DeliveryStore>, prefix: &str) {
    store.initialize().await.expect("initialize");
    store.initialize().await.expect("initialize twice");
    a_parked_event_round_trips_and_parking_again_replaces_it(&*store, prefix).await;
    parked_events_are_listed_per_handler_in_position_order(&*store, prefix).await;
    an_undecodable_event_is_parked_without_an_id(&*store, prefix).await;
    removing_says_whether_there_was_one(&*store, prefix).await;
    processed_ids_are_kept_per_handler(&*store, prefix).await;
    of_concurrent_marks_of_one_id_exactly_one_is_first(Arc::clone(&store), prefix).await;
    the_checkpoints_are_a_projection_state_store(&*store, prefix).await;
}

fn letter(handler: &str, position: u64) -> ParkedEvent {
    let now = micros(OffsetDateTime::now_utc());
    ParkedEvent {
        handler: handler.to_owned(),
        group: format!("{handler}-group"),
        position,
        stream_id: format!("order-{position}"),
        version: 3,
        event_type: "shop.OrderPlaced".to_owned(),
        event_id: Some(Uuid::new_v4()),
        error: "the mail server said no".to_owned(),
        attempts: 5,
        first_failed_at: now - time::Duration::seconds(3),
        parked_at: now,
    }
}

fn ours(parked: Vec<ParkedEvent>, prefix: &str) -> Vec<ParkedEvent> {
    parked
        .into_iter()
        .filter(|p| p.handler.starts_with(prefix))
        .collect()
}

/// Every field comes back; a second park at (handler, position) replaces.
pub async fn a_parked_event_round_trips_and_parking_again_replaces_it(
    store: &dyn DeliveryStore,
    prefix: &str,
) {
    let handler = format!("{prefix}-round-trip");
    let first = letter(&handler, 7);
    store.park(&first).await.expect("park");
    assert_eq!(
        store.parked(Some(&handler)).await.expect("list"),
        vec![first.clone()]
    );
    let mut again = first.clone();
    again.attempts = 8;
    again.error = "still no".to_owned();
    again.parked_at = micros(OffsetDateTime::now_utc());
    store.park(&again).await.expect("park again");
    assert_eq!(
        store.parked(Some(&handler)).await.expect("list"),
        vec![again]
    );
}

/// `parked(Some(h))` lists only `h`'s, by position; `parked(None)` every
/// handler's, by handler then position, the handlers in byte order (as Rust
/// orders `str`: `B` before `a`), whatever the database's collation.
pub async fn parked_events_are_listed_per_handler_in_position_order(
    store: &dyn DeliveryStore,
    prefix: &str,
) {
    // `b` sorts first by bytes, last in a locale's order.
    let (a, b) = (format!("{prefix}-order-a"), format!("{prefix}-order-B"));
    for (handler, position) in [(&b, 30), (&a, 20), (&b, 10), (&a, 5)] {
        store.park(&letter(handler, position)).await.expect("park");
    }
    let of_a: Vec<u64> = store
        .parked(Some(&a))
        .await
        .expect("list")
        .iter()
        .map(|p| p.position)
        .collect();
    assert_eq!(of_a, vec![5, 20]);
    let all: Vec<(String, u64)> = ours(
        store.parked(None).await.expect("list"),
        &format!("{prefix}-order"),
    )
    .into_iter()
    .map(|p| (p.handler, p.position))
    .collect();
    assert_eq!(all, vec![(b.clone(), 10), (b, 30), (a.clone(), 5), (a, 20)]);
}

/// An event that does not decode has no id and no attempts.
pub async fn an_undecodable_event_is_parked_without_an_id(store: &dyn DeliveryStore, prefix: &str) {
    let handler = format!("{prefix}-undecodable");
    let mut parked = letter(&handler, 4);
    parked.event_id = None;
    parked.attempts = 0;
    store.park(&parked).await.expect("park");
    assert_eq!(
        store.parked(Some(&handler)).await.expect("list"),
        vec![parked]
    );
}

/// `remove_parked` is `true` once, then `false`; other parked events stay.
pub async fn removing_says_whether_there_was_one(store: &dyn DeliveryStore, prefix: &str) {
    let handler = format!("{prefix}-remove");
    store.park(&letter(&handler, 1)).await.expect("park");
    store.park(&letter(&handler, 2)).await.expect("park");
    assert!(store.remove_parked(&handler, 1).await.expect("remove"));
    assert!(!store.remove_parked(&handler, 1).await.expect("remove"));
    let left: Vec<u64> = store
        .parked(Some(&handler))
        .await
        .expect("list")
        .iter()
        .map(|p| p.position)
        .collect();
    assert_eq!(left, vec![2]);
}

/// `mark_processed` is `true` the first time only; handlers do not share ids.
pub async fn processed_ids_are_kept_per_handler(store: &dyn DeliveryStore, prefix: &str) {
    let (a, b) = (
        format!("{prefix}-processed-a"),
        format!("{prefix}-processed-b"),
    );
    let id = Uuid::new_v4();
    assert!(!store.is_processed(&a, id).await.expect("look up"));
    assert!(store.mark_processed(&a, id).await.expect("mark"));
    assert!(!store.mark_processed(&a, id).await.expect("mark again"));
    assert!(store.is_processed(&a, id).await.expect("look up"));
    assert!(!store.is_processed(&b, id).await.expect("look up"));
    assert!(store.mark_processed(&b, id).await.expect("mark for b"));
}

/// Eight tasks mark the same id at once (released together): one wins.
pub async fn of_concurrent_marks_of_one_id_exactly_one_is_first(
    store: Arc<dyn DeliveryStore>,
    prefix: &str,
) {
    let handler = format!("{prefix}-concurrent");
    let id = Uuid::new_v4();
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier, handler) =
                (Arc::clone(&store), Arc::clone(&barrier), handler.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.mark_processed(&handler, id).await.expect("mark")
            })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.expect("task") {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

/// The groups' checkpoints round-trip through `checkpoints()`.
pub async fn the_checkpoints_are_a_projection_state_store(store: &dyn DeliveryStore, prefix: &str) {
    let checkpoints = store.checkpoints();
    let name = format!("delivery:{prefix}-group");
    let mut state = ProjectionState::new(&name);
    state.position = 12;
    state.updated_at = micros(state.updated_at);
    checkpoints.save(&state, "runner").await.expect("save");
    assert_eq!(checkpoints.load(&name).await.expect("load"), Some(state));
}
