//! Durable delivery on PostgreSQL: concurrent writers, an event that does
//! not decode, a lost connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use orchestrix::delivery::{Dispatcher, DispatcherBuilder, PostgreSQLDeliveryStore, Undecodable};
use orchestrix::postgres::PostgresOptions;
use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::delivery::{Journal, PATIENCE, concurrent_writers, either_caught_up};
use orchestrix_tests::postgres::TestStore;
use orchestrix_tests::proxy::SwitchableProxy;
use sqlx::AssertSqlSafe;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_pg.Deposited")]
struct Deposited {
    writer: u64,
    n: u64,
}

#[derive(Debug, Clone)]
struct Handled {
    delivery: PostgreSQLDeliveryStore,
    schema: String,
}

/// Effectively once: the processed id and the row commit together.
#[event_handler(name = "pg.record_once", durable, idempotent)]
async fn record_once(
    _event: &Deposited,
    metadata: Metadata,
    handled: Dep<Handled>,
) -> Result<(), BoxError> {
    let mut transaction = handled.delivery.pool().begin().await?;
    if !handled
        .delivery
        .mark_processed_in(&mut transaction, "pg.record_once", metadata.id)
        .await?
    {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{}\".handled (event_id, runs) VALUES ($1, 1) \
         ON CONFLICT (event_id) DO UPDATE SET runs = handled.runs + 1",
        handled.schema
    )))
    .bind(metadata.id)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

const WRITERS: u64 = 8;
const PER_WRITER: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_each_event_handled_once_by_a_durable_idempotent_handler() {
    let Some(test) = TestStore::new(
        "eight_concurrent_writers_each_event_handled_once_by_a_durable_idempotent_handler",
        12,
    )
    .await
    else {
        return;
    };
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE \"{}\".handled (event_id uuid PRIMARY KEY, runs int NOT NULL)",
        test.schema
    )))
    .execute(test.pool())
    .await
    .expect("table");
    // Two dispatchers, as in two processes: one runs the group, the other
    // waits on its lease.
    let dispatcher = || {
        let delivery =
            PostgreSQLDeliveryStore::from_pool_with_schema(test.pool().clone(), &test.schema)
                .expect("schema");
        Dispatcher::builder(Arc::new(test.store.clone()), delivery.clone())
            .dependency(Handled {
                delivery,
                schema: test.schema.clone(),
            })
            .batch_size(16)
            .handler(record_once)
            .build()
            .expect("dispatcher")
    };
    let (a, b) = (dispatcher(), dispatcher());
    a.initialize().await.expect("migrates");
    let (running_a, running_b) = (a.start(), b.start());

    let head = concurrent_writers(&test.store, WRITERS, PER_WRITER, |writer, n| {
        Envelope::new(Deposited { writer, n }).into()
    })
    .await;
    either_caught_up(&a, &b, head).await;
    running_a.stop().await.expect("stops");
    running_b.stop().await.expect("stops");

    let stored: Vec<uuid::Uuid> = test
        .store
        .read_all(1, 10_000)
        .await
        .expect("read")
        .iter()
        .map(|event| event.metadata().id)
        .collect();
    assert_eq!(stored.len() as u64, WRITERS * PER_WRITER);
    let runs: HashMap<uuid::Uuid, i32> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT event_id, runs FROM \"{}\".handled",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("read the runs")
    .into_iter()
    .collect();
    assert_eq!(runs.len(), stored.len());
    for id in &stored {
        assert_eq!(runs.get(id), Some(&1), "event {id}");
    }
    test.cleanup().await;
}

#[event_handler(name = "pg.journal", durable, retry = fixed(delay_ms = 1, max_attempts = 2))]
async fn journal_deposits(event: &Deposited, journal: Dep<Journal>) {
    journal.record("pg.journal", event.n);
}

async fn deposit(store: &PostgreSQLEventStore, n: u64) -> u64 {
    store
        .save(
            &format!("account-{}", uuid::Uuid::new_v4()),
            &[Envelope::new(Deposited { writer: 0, n }).into()],
            None,
        )
        .await
        .expect("append")
        .positions[0]
}

/// Deposits 1, a row of `Deposited`'s type whose payload does not decode
/// (stream `broken-1`, position 2), then deposits 3 and 4; the last position.
async fn deposits_around_a_broken_row(test: &TestStore) -> u64 {
    deposit(&test.store, 1).await;
    broken_row(test).await;
    deposit(&test.store, 3).await;
    deposit(&test.store, 4).await
}

/// Appends a row of `Deposited`'s type whose payload does not decode
/// (stream `broken-1`).
async fn broken_row(test: &TestStore) {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{s}\".events (position, stream_id, version, event_id, event_type, \
         schema_version, payload, source, occurred_at, correlation_id) \
         VALUES (nextval('\"{s}\".event_positions'), 'broken-1', 1, gen_random_uuid(), \
         'delivery_pg.Deposited', 1, '{{\"amount\": \"lots\"}}'::jsonb, 'elsewhere', now(), \
         gen_random_uuid())",
        s = test.schema
    )))
    .execute(test.pool())
    .await
    .expect("raw insert");
}

/// A dispatcher of `journal_deposits` on the test's store that resumes a
/// stopped group after 5 ms.
fn journal_group(test: &TestStore, journal: &Arc<Journal>) -> Dispatcher {
    journal_dispatcher(test, journal)
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(5), u32::MAX))
        .handler(journal_deposits)
        .build()
        .expect("dispatcher")
}

/// Runs `dispatcher` until it has handled everything up to `position`
/// (failing with `what` if that takes longer than `PATIENCE`), then stops it.
async fn run_until(dispatcher: &Dispatcher, position: u64, what: &str) {
    let running = dispatcher.start();
    tokio::time::timeout(PATIENCE, dispatcher.caught_up(position))
        .await
        .expect(what);
    running.stop().await.expect("stops");
}

/// A dispatcher builder with `journal_deposits` on the test's store.
fn journal_dispatcher(test: &TestStore, journal: &Arc<Journal>) -> DispatcherBuilder {
    let delivery =
        PostgreSQLDeliveryStore::from_pool_with_schema(test.pool().clone(), &test.schema)
            .expect("schema");
    Dispatcher::builder(Arc::new(test.store.clone()), delivery).dependency_arc(journal.clone())
}

/// A group with a checkpoint meets a broken row after several events:
/// each event between the checkpoint and the row is handled once (none
/// again, none skipped), the row parked, the event after it handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_between_a_checkpoint_and_a_broken_row_are_each_handled_once() {
    let Some(test) = TestStore::new(
        "the_events_between_a_checkpoint_and_a_broken_row_are_each_handled_once",
        4,
    )
    .await
    else {
        return;
    };
    let journal = Arc::new(Journal::new());
    let dispatcher = journal_group(&test, &journal);
    deposit(&test.store, 1).await;
    let checkpoint = deposit(&test.store, 2).await;
    run_until(&dispatcher, checkpoint, "catches up").await;
    // While it is stopped: three events, the broken row, one more.
    for n in 3..=5 {
        deposit(&test.store, n).await;
    }
    broken_row(&test).await;
    let last = deposit(&test.store, 7).await;
    run_until(&dispatcher, last, "catches up past the broken row").await;
    assert_eq!(journal.of("pg.journal"), vec![1, 2, 3, 4, 5, 7]);
    let parked = dispatcher.parked(Some("pg.journal")).await.expect("list");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].stream_id, "broken-1");
    test.cleanup().await;
}

/// An event no handler of the group takes: the group's reads skip it.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_pg.Noted")]
struct Noted {
    n: u64,
}

/// Events of a type the group does not handle lie between its checkpoint
/// and a broken row: the group still handles exactly its own events before
/// the row, parks the row, and handles the events after it, each once and
/// in order (counting the other types' events as the group's would read
/// past the broken row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_types_between_a_checkpoint_and_a_broken_row_do_not_move_the_group_past_it() {
    let Some(test) = TestStore::new(
        "other_types_between_a_checkpoint_and_a_broken_row_do_not_move_the_group_past_it",
        4,
    )
    .await
    else {
        return;
    };
    let journal = Arc::new(Journal::new());
    let dispatcher = journal_group(&test, &journal);
    let checkpoint = deposit(&test.store, 1).await;
    run_until(&dispatcher, checkpoint, "catches up").await;
    // While it is stopped: three events of another type, deposit 2, the
    // broken row, deposits 4 and 5.
    for n in 0..3 {
        test.store
            .save(
                &format!("note-{n}"),
                &[Envelope::new(Noted { n }).into()],
                None,
            )
            .await
            .expect("append");
    }
    deposit(&test.store, 2).await;
    broken_row(&test).await;
    deposit(&test.store, 4).await;
    let last = deposit(&test.store, 5).await;
    run_until(&dispatcher, last, "catches up past the broken row").await;
    assert_eq!(journal.of("pg.journal"), vec![1, 2, 4, 5]);
    let parked = dispatcher.parked(Some("pg.journal")).await.expect("list");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].stream_id, "broken-1");
    test.cleanup().await;
}

/// A group meets a row whose context (the only copy of its metadata since
/// schema version 4) is damaged, with a position burnt (a lost race)
/// between its checkpoint and the row: parking reads the rows between raw,
/// and that read, which counts rows, not positions, reaches the damaged
/// row itself. Raw reads read it all the same, so the row is parked and
/// the group goes on, rather than restarting on it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_context_after_a_burnt_position_is_parked_and_the_rest_delivered() {
    let Some(test) = TestStore::new(
        "a_damaged_context_after_a_burnt_position_is_parked_and_the_rest_delivered",
        4,
    )
    .await
    else {
        return;
    };
    let journal = Arc::new(Journal::new());
    let dispatcher = journal_group(&test, &journal);
    let checkpoint = deposit(&test.store, 1).await;
    run_until(&dispatcher, checkpoint, "catches up").await;
    // While it is stopped: a burnt position, deposit 3, deposit 4 with its
    // context damaged, deposit 5.
    let burnt: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT nextval('\"{}\".event_positions')",
        test.schema
    )))
    .fetch_one(test.pool())
    .await
    .expect("burn a position");
    assert_eq!(burnt, 2);
    deposit(&test.store, 3).await;
    let damaged = deposit(&test.store, 4).await;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE \"{}\".events SET context = '\\x01'::bytea WHERE position = $1",
        test.schema
    )))
    .bind(i64::try_from(damaged).expect("small"))
    .execute(test.pool())
    .await
    .expect("damage the context");
    let last = deposit(&test.store, 5).await;
    run_until(&dispatcher, last, "catches up past the damaged row").await;
    assert_eq!(journal.of("pg.journal"), vec![1, 3, 5]);
    let parked = dispatcher.parked(Some("pg.journal")).await.expect("list");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].position, damaged);
    assert!(parked[0].error.contains("context"), "{}", parked[0].error);
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_does_not_decode_is_parked_with_the_decode_error_and_the_rest_delivered() {
    let Some(test) = TestStore::new(
        "an_event_that_does_not_decode_is_parked_with_the_decode_error_and_the_rest_delivered",
        4,
    )
    .await
    else {
        return;
    };
    let last = deposits_around_a_broken_row(&test).await;
    let journal = Arc::new(Journal::new());
    let dispatcher = journal_group(&test, &journal);
    run_until(&dispatcher, last, "catches up past the broken row").await;
    assert_eq!(journal.of("pg.journal"), vec![1, 3, 4]);
    let parked = dispatcher.parked(Some("pg.journal")).await.expect("list");
    assert_eq!(parked.len(), 1, "{parked:?}");
    let letter = &parked[0];
    assert_eq!(
        (
            letter.stream_id.as_str(),
            letter.version,
            letter.attempts,
            letter.event_id
        ),
        ("broken-1", 1, 0, None)
    );
    assert!(letter.error.contains("does not decode"), "{}", letter.error);
    assert_eq!(letter.position, 2);
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_told_to_stop_on_an_event_that_does_not_decode_waits_until_it_is_repaired() {
    let Some(test) = TestStore::new(
        "a_group_told_to_stop_on_an_event_that_does_not_decode_waits_until_it_is_repaired",
        4,
    )
    .await
    else {
        return;
    };
    let last = deposits_around_a_broken_row(&test).await;
    let journal = Arc::new(Journal::new());
    let dispatcher = journal_dispatcher(&test, &journal)
        .on_undecodable(Undecodable::Stop)
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(5), u32::MAX))
        .handler(journal_deposits)
        .build()
        .expect("dispatcher");
    let mut stops = dispatcher.watch_stops();
    let running = dispatcher.start();
    tokio::time::timeout(PATIENCE, stops.wait_for(|stops| *stops >= 2))
        .await
        .expect("the group stops at the broken row, and again after resuming")
        .expect("the dispatcher runs");
    let seen = journal.of("pg.journal");
    assert!(
        seen.iter().all(|n| *n == 1),
        "nothing past the broken row: {seen:?}"
    );
    let parked = dispatcher.parked(Some("pg.journal")).await.expect("list");
    assert!(
        parked.is_empty(),
        "nothing parked when told to stop: {parked:?}"
    );

    sqlx::query(AssertSqlSafe(format!(
        "UPDATE \"{}\".events SET payload = '{{\"writer\": 0, \"n\": 2}}'::jsonb \
         WHERE stream_id = 'broken-1'",
        test.schema
    )))
    .execute(test.pool())
    .await
    .expect("repairs the row");
    tokio::time::timeout(PATIENCE, dispatcher.caught_up(last))
        .await
        .expect("resumes once the row decodes");
    running.stop().await.expect("stops");
    let seen = journal.of("pg.journal");
    assert!(seen.contains(&1), "{seen:?}");
    assert_eq!(
        seen[seen.len() - 3..],
        [2, 3, 4],
        "in position order: {seen:?}"
    );
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_pauses_the_dispatcher_which_resumes_without_loss() {
    let Some(test) = TestStore::new(
        "a_lost_connection_pauses_the_dispatcher_which_resumes_without_loss",
        4,
    )
    .await
    else {
        return;
    };
    let proxy = SwitchableProxy::start(&test.url).await;
    let options = PostgresOptions::builder(proxy.url(&test.url))
        .pool_min_size(0)
        .pool_max_size(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(1))
        .schema(test.schema.clone())
        .build()
        .expect("options");
    let proxied = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("connects through the proxy");
    let delivery =
        PostgreSQLDeliveryStore::from_pool_with_schema(proxied.pool().clone(), &test.schema)
            .expect("schema");
    let journal = Arc::new(Journal::new());
    let dispatcher = Dispatcher::builder(Arc::new(proxied), delivery)
        .dependency_arc(journal.clone())
        .max_wait(Duration::from_millis(100))
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(20), u32::MAX))
        .handler(journal_deposits)
        .build()
        .expect("dispatcher");
    let running = dispatcher.start();
    let mut third = 0;
    for n in 1..=3 {
        third = deposit(&test.store, n).await;
    }
    // Handled and checkpointed.
    tokio::time::timeout(PATIENCE, dispatcher.caught_up(third))
        .await
        .expect("catches up");

    let mut stops = dispatcher.watch_stops();
    proxy.switch_off();
    // Written while the dispatcher cannot reach the database.
    let mut last = 0;
    for n in 4..=6 {
        last = deposit(&test.store, n).await;
    }
    tokio::time::timeout(PATIENCE, stops.wait_for(|stops| *stops >= 1))
        .await
        .expect("the group notices the outage")
        .expect("dispatcher alive");
    proxy.switch_on().await;
    tokio::time::timeout(PATIENCE, dispatcher.caught_up(last))
        .await
        .expect("resumes after the outage");
    running.stop().await.expect("stops");
    assert_eq!(journal.of("pg.journal"), vec![1, 2, 3, 4, 5, 6]);
    test.cleanup().await;
}
