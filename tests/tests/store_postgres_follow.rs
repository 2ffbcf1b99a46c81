//! Following PostgreSQLEventStore's global stream: reads filtered by event
//! type, raw reads, and waiting for appends (LISTEN/NOTIFY).
//! Needs `DATABASE_URL` (skipped with a notice without it).

use std::time::Duration;

use orchestrix::postgres::{PgPool, PostgresOptions};
use orchestrix::prelude::*;
use orchestrix::store::EventTypeFilter;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::postgres::{TestStore, pool};

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "pg-follow.Opened")]
struct Opened {
    owner: String,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "pg-follow.Deposited")]
struct Deposited {
    amount: u64,
}

fn opened(owner: &str) -> AnyEnvelope {
    Envelope::new(Opened {
        owner: owner.into(),
    })
    .into()
}

fn deposit(amount: u64) -> AnyEnvelope {
    Envelope::new(Deposited { amount }).into()
}

/// A bound on every wait below: far longer than anything should take, far
/// shorter than the 60 s `max_wait`, so a return within it was a wake-up.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Writes a row by hand, as another program would: an event type this
/// process never registered, in the version-1 form (JSON metadata).
async fn insert_foreign(test: &TestStore, stream: &str, event_type: &str, payload: &str) {
    let metadata = serde_json::to_string(&Metadata::new(event_type)).expect("metadata");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{0}\".events (position, stream_id, version, event_id, event_type, schema_version, payload, metadata, correlation_id) \
         VALUES (nextval('\"{0}\".event_positions'), $1, 1, gen_random_uuid(), $2, 1, $3::jsonb, $4::jsonb, gen_random_uuid())",
        test.schema
    )))
    .bind(stream)
    .bind(event_type)
    .bind(payload)
    .bind(metadata)
    .execute(test.pool())
    .await
    .expect("hand-written insert");
}

#[tokio::test]
async fn a_filtered_read_skips_other_types_without_decoding_them() {
    let Some(test) =
        TestStore::new("a_filtered_read_skips_other_types_without_decoding_them", 2).await
    else {
        return;
    };
    test.store
        .save("acc-1", &[opened("Ada"), deposit(5)], Some(0))
        .await
        .expect("save");
    insert_foreign(&test, "elsewhere", "pg-follow.NeverRegistered", "{\"x\":1}").await;
    test.store
        .save("acc-1", &[deposit(7)], Some(2))
        .await
        .expect("save");

    // Unfiltered, the foreign row fails to decode: a filtered read that
    // decoded it would fail too.
    let error = test
        .store
        .read_all(1, 10)
        .await
        .expect_err("the foreign row does not decode");
    assert!(matches!(error, StoreError::Decode { .. }), "{error}");

    let page = test
        .store
        .read_all_filtered(1, 10, &EventTypeFilter::only(["pg-follow.Deposited"]))
        .await
        .expect("filtered read");
    let amounts: Vec<u64> = page
        .events
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>())
        .map(|d| d.amount)
        .collect();
    assert_eq!(amounts, vec![5, 7]);
    assert_eq!(page.events.len(), 2, "only deposits");
    assert_eq!(page.scanned_through, 4, "looked at everything written");

    // A full page looked as far as its last event.
    let page = test
        .store
        .read_all_filtered(1, 1, &EventTypeFilter::only(["pg-follow.Deposited"]))
        .await
        .expect("filtered read");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.scanned_through, page.events[0].position);
    // Nothing readable yet after the end.
    let page = test
        .store
        .read_all_filtered(5, 10, &EventTypeFilter::all())
        .await
        .expect("read past the end");
    assert!(page.events.is_empty());
    assert_eq!(page.scanned_through, 4);
    test.cleanup().await;
}

/// A type-filtered read looks at a bounded range of positions, so that the
/// server never sorts the whole rest of the log for one page (with or
/// without table statistics): a page that reaches the bound is short, says
/// how far it looked, and a follower reading on from there still finds
/// every matching event, once, in order.
#[tokio::test]
async fn a_filtered_read_looks_at_a_bounded_range_and_the_follower_reads_on() {
    let Some(test) = TestStore::new(
        "a_filtered_read_looks_at_a_bounded_range_and_the_follower_reads_on",
        2,
    )
    .await
    else {
        return;
    };
    const OTHERS: u64 = 5_000;
    test.store
        .save("acc-1", &[opened("Ada")], Some(0))
        .await
        .expect("save");
    let deposits: Vec<_> = (0..OTHERS).map(deposit).collect();
    test.store
        .save("acc-1", &deposits, Some(1))
        .await
        .expect("save");
    test.store
        .save("acc-2", &[opened("Bob")], Some(0))
        .await
        .expect("save");
    let head = OTHERS + 2;

    let filter = EventTypeFilter::only(["pg-follow.Opened"]);
    let first = test
        .store
        .read_all_filtered(1, 10, &filter)
        .await
        .expect("filtered read");
    assert_eq!(first.events.len(), 1, "Ada's account, at position 1");
    assert!(
        first.scanned_through >= 1 && first.scanned_through < head,
        "the first page looked at a bounded range, not up to the head {head}: {}",
        first.scanned_through
    );

    let mut owners = Vec::new();
    let mut from = 1;
    let mut pages = 0;
    loop {
        let page = test
            .store
            .read_all_filtered(from, 10, &filter)
            .await
            .expect("filtered read");
        pages += 1;
        owners.extend(
            page.events
                .iter()
                .filter_map(|e| e.downcast_ref::<Opened>())
                .map(|o| o.owner.clone()),
        );
        if page.scanned_through < from {
            break; // caught up
        }
        assert!(page.scanned_through <= head, "{}", page.scanned_through);
        from = page.scanned_through + 1;
    }
    assert_eq!(owners, ["Ada", "Bob"]);
    assert!(pages > 2, "the range was read in bounded pages: {pages}");
    test.cleanup().await;
}

#[tokio::test]
async fn a_raw_read_returns_rows_that_do_not_decode() {
    let Some(test) = TestStore::new("a_raw_read_returns_rows_that_do_not_decode", 2).await else {
        return;
    };
    let saved = opened("Ada");
    test.store
        .save("acc-1", std::slice::from_ref(&saved), Some(0))
        .await
        .expect("save");
    insert_foreign(&test, "elsewhere", "pg-follow.NeverRegistered", "{\"x\":1}").await;
    // A registered type whose stored payload no longer fits it.
    insert_foreign(
        &test,
        "broken",
        "pg-follow.Deposited",
        "{\"amount\":\"many\"}",
    )
    .await;

    let raw = test.store.read_all_raw(1, 10).await.expect("raw read");
    let positions: Vec<u64> = raw.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 3]);
    assert_eq!(raw[1].event_type, "pg-follow.NeverRegistered");
    assert_eq!(&*raw[1].stream_id, "elsewhere");
    let payload: serde_json::Value = serde_json::from_str(&raw[1].payload).expect("JSON text");
    assert_eq!(payload, serde_json::json!({ "x": 1 }));
    assert_eq!(raw[2].event_type, "pg-follow.Deposited");
    assert!(raw[2].payload.contains("many"));
    for event in &raw {
        let metadata: Metadata = serde_json::from_str(&event.metadata).expect("metadata JSON");
        assert_eq!(metadata.message_type, event.event_type);
    }
    // The store's own row: its metadata as saved (time to the microsecond).
    let metadata: Metadata = serde_json::from_str(&raw[0].metadata).expect("metadata JSON");
    assert_eq!(metadata.id, saved.metadata().id);
    assert_eq!(metadata.correlation_id, saved.metadata().correlation_id);
    assert_eq!(raw[0].schema_version, 1);
    test.cleanup().await;
}

/// A follower waiting (up to 60 s) for an append after `after`.
fn spawn_waiter(
    store: &PostgreSQLEventStore,
    after: u64,
) -> tokio::task::JoinHandle<Result<(), StoreError>> {
    let store = store.clone();
    tokio::spawn(async move { store.wait_for_append(after, Duration::from_secs(60)).await })
}

/// The backend pids listening on the store's channel.
async fn listeners(admin: &PgPool, store: &PostgreSQLEventStore) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN \"' || $1 || '\"' \
         AND datname = current_database()",
    )
    .bind(store.notification_channel())
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_woken_by_an_append_notification() {
    let Some(test) = TestStore::new("a_follower_is_woken_by_an_append_notification", 4).await
    else {
        return;
    };
    let admin = pool(&test.url, 1).await;
    // The first wait starts the listener and returns once it listens
    // (notifications before that could have been missed).
    tokio::time::timeout(
        PROMPTLY,
        test.store.wait_for_append(0, Duration::from_secs(60)),
    )
    .await
    .expect("returns when the listener listens")
    .expect("wait");
    assert_eq!(
        listeners(&admin, &test.store).await.len(),
        1,
        "one listener"
    );

    // Another store on the same schema, with its own pool: as another
    // process would append.
    let other = PostgreSQLEventStore::connect_with(
        PostgresOptions::builder(test.url.clone())
            .pool_max_size(1)
            .schema(test.schema.clone())
            .build()
            .expect("options"),
    )
    .await
    .expect("connect");
    for (round, expected) in [(1_u64, 0_u64), (2, 1)] {
        let waiter = spawn_waiter(&test.store, round - 1);
        other
            .save("acc-1", &[deposit(round)], Some(expected))
            .await
            .expect("append");
        tokio::time::timeout(PROMPTLY, waiter)
            .await
            .expect("woken by the notification, long before max_wait")
            .expect("task")
            .expect("wait");
    }
    // Nothing after position 2 yet: the polling fallback returns after
    // max_wait.
    tokio::time::timeout(
        PROMPTLY,
        test.store.wait_for_append(2, Duration::from_millis(50)),
    )
    .await
    .expect("max_wait bounds the wait")
    .expect("wait");
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_listener_reconnects_and_waiters_still_wake() {
    let Some(test) =
        TestStore::new("a_terminated_listener_reconnects_and_waiters_still_wake", 4).await
    else {
        return;
    };
    let admin = pool(&test.url, 1).await;
    tokio::time::timeout(
        PROMPTLY,
        test.store.wait_for_append(0, Duration::from_secs(60)),
    )
    .await
    .expect("the listener listens")
    .expect("wait");
    let first = listeners(&admin, &test.store).await;
    assert_eq!(first.len(), 1, "one listener: {first:?}");

    // A waiter while the connection is cut: woken (the listener
    // reconnects and may have missed notifications).
    let waiter = spawn_waiter(&test.store, 0);
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first[0])
        .fetch_one(&admin)
        .await
        .expect("terminate");
    assert!(terminated);
    tokio::time::timeout(PROMPTLY, waiter)
        .await
        .expect("woken by the reconnection")
        .expect("task")
        .expect("wait");

    // A new listener, on a new connection.
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    let second = loop {
        let now = listeners(&admin, &test.store).await;
        if now.len() == 1 && now != first {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never reconnected: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(second, first);

    // And notifications reach waiters again.
    let waiter = spawn_waiter(&test.store, 0);
    test.store
        .save("acc-1", &[deposit(1)], Some(0))
        .await
        .expect("append");
    tokio::time::timeout(PROMPTLY, waiter)
        .await
        .expect("woken by the notification")
        .expect("task")
        .expect("wait");
    test.cleanup().await;
}

/// The store announces appends at most one notification per interval
/// (`NOTIFY_INTERVAL` in the notifier), so a burst of appends faster than
/// that shares notifications: whatever the timing, the positions heard
/// only grow, and the last one heard is the burst's last position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_appends_is_announced_up_to_its_last_position() {
    let Some(test) =
        TestStore::new("a_burst_of_appends_is_announced_up_to_its_last_position", 4).await
    else {
        return;
    };
    let mut listener = sqlx::postgres::PgListener::connect(&test.url)
        .await
        .expect("listener");
    listener
        .listen(test.store.notification_channel())
        .await
        .expect("listen");
    let mut last = 0;
    for version in 0..40 {
        let outcome = test
            .store
            .save("burst", &[deposit(version)], Some(version))
            .await
            .expect("append");
        last = *outcome.positions.last().expect("one position");
    }
    let mut heard = Vec::new();
    while heard.last() != Some(&last) {
        let notification = tokio::time::timeout(PROMPTLY, listener.recv())
            .await
            .expect("the last position is announced")
            .expect("notification");
        heard.push(notification.payload().parse::<u64>().expect("a position"));
    }
    assert!(
        heard.windows(2).all(|pair| pair[0] < pair[1]),
        "positions only grow: {heard:?}"
    );
    test.cleanup().await;
}
