//! The [`ProjectionStateStore`] conformance suite: every projection state
//! store (in memory, PostgreSQL, SQLite) must pass [`run_all`].
//!
//! Each check uses projection names starting with the caller's `prefix`,
//! so suites can run in parallel and repeatedly on one database.

use std::sync::Arc;
use std::time::Duration;

use orchestrix::projection::{
    DeadLetter, LeaseOutcome, MAX_LEASE_TTL, ProjectionState, ProjectionStateStore,
    ProjectionStoreError,
};
use time::OffsetDateTime;
use tokio::sync::Barrier;

const TTL: Duration = Duration::from_secs(30);

/// A timestamp every store keeps exactly (whole microseconds).
fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn ProjectionStateStore>, prefix: &str) {
    store.initialize().await.expect("initialize");
    store.initialize().await.expect("initialize twice");
    save_round_trips_the_state(&*store, prefix).await;
    only_the_lease_holder_saves(&*store, prefix).await;
    an_expired_lease_can_be_taken_over(&*store, prefix).await;
    concurrent_acquirers_one_wins(Arc::clone(&store), prefix).await;
    released_lease_is_free(&*store, prefix).await;
    dead_letters_are_kept_per_projection_in_position_order(&*store, prefix).await;
    huge_ttls_are_cut_to_the_maximum(&*store, prefix).await;
}

fn full_state(name: &str) -> ProjectionState {
    ProjectionState {
        name: name.to_owned(),
        position: 41,
        last_event_position: Some(40),
        last_event_id: Some(uuid::Uuid::new_v4()),
        processed: 17,
        failed: 2,
        healthy: false,
        last_error: Some("handler for `shop.OrderPlaced` failed".to_owned()),
        head_position: 99,
        updated_at: micros(OffsetDateTime::now_utc()),
    }
}

/// `load` of an unknown projection is `None`; `save` replaces the whole
/// state and `load` gives every field back.
pub async fn save_round_trips_the_state(store: &dyn ProjectionStateStore, prefix: &str) {
    let name = format!("{prefix}-round-trip");
    assert_eq!(store.load(&name).await.expect("load"), None);
    let state = full_state(&name);
    store.save(&state, "owner-a").await.expect("save");
    assert_eq!(store.load(&name).await.expect("load"), Some(state.clone()));

    let mut next = ProjectionState::new(&name);
    next.updated_at = micros(next.updated_at);
    store.save(&next, "owner-a").await.expect("save again");
    assert_eq!(
        store.load(&name).await.expect("load"),
        Some(next),
        "save replaces every field, also with None and 0"
    );
    assert_eq!(
        store
            .load(&format!("{prefix}-round-trip-other"))
            .await
            .expect("load"),
        None,
        "states are kept per projection"
    );
}

/// While one owner holds the lease, another can neither take it nor save
/// nor renew; the holder can do all three.
pub async fn only_the_lease_holder_saves(store: &dyn ProjectionStateStore, prefix: &str) {
    let name = format!("{prefix}-holder");
    assert_eq!(
        store
            .acquire_lease(&name, "owner-a", TTL)
            .await
            .expect("acquire"),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .acquire_lease(&name, "owner-a", TTL)
            .await
            .expect("acquire again"),
        LeaseOutcome::Acquired,
        "the holder may acquire again"
    );
    match store
        .acquire_lease(&name, "owner-b", TTL)
        .await
        .expect("acquire")
    {
        LeaseOutcome::Held { owner, expires_at } => {
            assert_eq!(owner, "owner-a");
            assert!(expires_at > OffsetDateTime::now_utc());
        }
        other => panic!("expected Held, got {other:?}"),
    }
    let mut state = full_state(&name);
    let refused = store
        .save(&state, "owner-b")
        .await
        .expect_err("b does not hold the lease");
    assert!(
        matches!(&refused, ProjectionStoreError::LeaseLost { projection, owner } if *projection == name && owner == "owner-b"),
        "{refused}"
    );
    assert!(matches!(
        store.renew_lease(&name, "owner-b", TTL).await,
        Err(ProjectionStoreError::LeaseLost { .. })
    ));
    assert_eq!(
        store.load(&name).await.expect("load"),
        None,
        "nothing was written"
    );

    store
        .save(&state, "owner-a")
        .await
        .expect("the holder saves");
    store
        .renew_lease(&name, "owner-a", TTL)
        .await
        .expect("the holder renews");
    state.position += 1;
    store
        .save(&state, "owner-a")
        .await
        .expect("the holder saves again");
    assert_eq!(
        store.load(&name).await.expect("load").map(|s| s.position),
        Some(42)
    );
    store
        .release_lease(&name, "owner-a")
        .await
        .expect("release");
}

/// An expired lease can be taken by another owner; the old holder then can
/// no longer save (it was taken over).
pub async fn an_expired_lease_can_be_taken_over(store: &dyn ProjectionStateStore, prefix: &str) {
    let name = format!("{prefix}-expired");
    store
        .acquire_lease(&name, "owner-a", Duration::from_millis(50))
        .await
        .expect("acquire");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        store
            .acquire_lease(&name, "owner-b", TTL)
            .await
            .expect("take over"),
        LeaseOutcome::Acquired
    );
    assert!(matches!(
        store.save(&full_state(&name), "owner-a").await,
        Err(ProjectionStoreError::LeaseLost { .. })
    ));
    store
        .release_lease(&name, "owner-b")
        .await
        .expect("release");
}

/// Of 8 concurrent acquirers of a free lease, exactly one wins.
pub async fn concurrent_acquirers_one_wins(store: Arc<dyn ProjectionStateStore>, prefix: &str) {
    let name = format!("{prefix}-race");
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, barrier, name) = (Arc::clone(&store), Arc::clone(&barrier), name.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .acquire_lease(&name, &format!("owner-{i}"), TTL)
                    .await
                    .expect("acquire")
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task") == LeaseOutcome::Acquired {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one acquirer holds the lease");
}

/// A released lease is free at once; releasing someone else's lease does
/// nothing.
pub async fn released_lease_is_free(store: &dyn ProjectionStateStore, prefix: &str) {
    let name = format!("{prefix}-release");
    store
        .acquire_lease(&name, "owner-a", TTL)
        .await
        .expect("acquire");
    store
        .release_lease(&name, "owner-b")
        .await
        .expect("release by a non-holder");
    assert!(matches!(
        store
            .acquire_lease(&name, "owner-b", TTL)
            .await
            .expect("acquire"),
        LeaseOutcome::Held { .. }
    ));
    store
        .release_lease(&name, "owner-a")
        .await
        .expect("release");
    assert_eq!(
        store
            .acquire_lease(&name, "owner-b", TTL)
            .await
            .expect("acquire"),
        LeaseOutcome::Acquired
    );
    store
        .release_lease(&name, "owner-b")
        .await
        .expect("release");
}

fn letter(projection: &str, position: u64, error: &str) -> DeadLetter {
    DeadLetter {
        projection: projection.to_owned(),
        position,
        stream_id: format!("order-{position}"),
        version: 3,
        event_type: "shop.OrderPlaced".to_owned(),
        event_id: uuid::Uuid::new_v4(),
        error: error.to_owned(),
        attempts: 4,
        parked_at: micros(OffsetDateTime::now_utc()),
    }
}

/// Dead letters are listed per projection in position order; parking at a
/// position again replaces the letter; removing says whether there was one.
pub async fn dead_letters_are_kept_per_projection_in_position_order(
    store: &dyn ProjectionStateStore,
    prefix: &str,
) {
    let name = format!("{prefix}-dead");
    let other = format!("{prefix}-dead-other");
    assert!(store.dead_letters(&name).await.expect("list").is_empty());
    for position in [30, 10, 20] {
        store
            .park(&letter(&name, position, "boom"))
            .await
            .expect("park");
    }
    store
        .park(&letter(&other, 15, "elsewhere"))
        .await
        .expect("park");
    let replaced = letter(&name, 20, "boom again");
    store.park(&replaced).await.expect("park again");

    let listed = store.dead_letters(&name).await.expect("list");
    assert_eq!(
        listed.iter().map(|l| l.position).collect::<Vec<_>>(),
        [10, 20, 30]
    );
    assert_eq!(
        listed[1], replaced,
        "every field round-trips; the newer letter replaced the older"
    );

    assert!(store.remove_dead_letter(&name, 20).await.expect("remove"));
    assert!(
        !store
            .remove_dead_letter(&name, 20)
            .await
            .expect("remove again")
    );
    assert_eq!(
        store
            .dead_letters(&name)
            .await
            .expect("list")
            .iter()
            .map(|l| l.position)
            .collect::<Vec<_>>(),
        [10, 30]
    );
    assert_eq!(store.dead_letters(&other).await.expect("list").len(), 1);
}

/// A TTL beyond [`MAX_LEASE_TTL`] is accepted and grants at most
/// [`MAX_LEASE_TTL`].
pub async fn huge_ttls_are_cut_to_the_maximum(store: &dyn ProjectionStateStore, prefix: &str) {
    let name = format!("{prefix}-huge-ttl");
    store
        .acquire_lease(&name, "owner-a", Duration::MAX)
        .await
        .expect("acquire with a huge ttl");
    store
        .renew_lease(&name, "owner-a", Duration::MAX)
        .await
        .expect("renew with a huge ttl");
    let latest = OffsetDateTime::now_utc() + MAX_LEASE_TTL + time::Duration::minutes(5);
    match store
        .acquire_lease(&name, "owner-b", TTL)
        .await
        .expect("acquire")
    {
        LeaseOutcome::Held { expires_at, .. } => assert!(expires_at <= latest),
        other => panic!("expected Held, got {other:?}"),
    }
    store
        .release_lease(&name, "owner-a")
        .await
        .expect("release");
}
