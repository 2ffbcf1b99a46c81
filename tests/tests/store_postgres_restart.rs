//! PostgreSQLEventStore when the server drops its connections (as in a
//! restart): the failing call says so and wrote nothing, the pool
//! reconnects, the next call works. Needs `DATABASE_URL`.

use std::time::Duration;

use orchestrix::postgres::{PgPool, PostgresOptions};
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::postgres::{database_url, pool, unique_schema};

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "pg-test.Ticked")]
struct Ticked {
    n: u32,
}

fn tick(n: u32) -> AnyEnvelope {
    Envelope::new(Ticked { n }).into()
}

/// Terminates every backend that reports `application_name`, and returns
/// once they are gone, as when a server drops its connections:
/// `pg_terminate_backend` only signals a backend, which may still answer a
/// ping before it handles the signal.
async fn terminate_backends(admin: &PgPool, application_name: &str) -> i64 {
    let terminated: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM (SELECT pid, pg_terminate_backend(pid) AS signalled \
         FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()) t \
         WHERE signalled",
    )
    .bind(application_name)
    .fetch_all(admin)
    .await
    .expect("terminate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alive: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&terminated)
                .fetch_one(admin)
                .await
                .expect("count the terminated backends");
        if alive == 0 {
            return i64::try_from(terminated.len()).expect("a count");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{alive} terminated backends still alive after 30 s"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_drops_every_connection_the_next_call_works() {
    let Some(url) = database_url("after_the_server_drops_every_connection_the_next_call_works")
    else {
        return;
    };
    let schema = unique_schema("restart");
    let application_name = schema.clone();
    let options = PostgresOptions::builder(url.clone())
        .pool_min_size(0)
        .pool_max_size(3)
        .schema(schema.clone())
        .application_name(Some(application_name.clone()))
        .build()
        .expect("valid options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("connects");
    store.initialize().await.expect("migrates");
    let admin = pool(&url, 1).await;

    // Warm the pool: several connections open and idle.
    let warm: Vec<_> = (0..3u32)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.load(&format!("warm-{n}"), 1).await })
        })
        .collect();
    for task in warm {
        task.await.expect("task").expect("warm-up load");
    }
    store
        .save("ticks", &[tick(1)], Some(0))
        .await
        .expect("first tick");
    assert!(
        store.pool().num_idle() >= 1,
        "the pool holds idle connections"
    );

    let mut failed_calls = 0;
    for round in 0..3u32 {
        let terminated = terminate_backends(&admin, &application_name).await;
        assert!(
            terminated >= 1,
            "round {round}: the store's connections were terminated"
        );
        let before = 1 + 2 * u64::from(round);
        // The first call after the loss may meet a dead connection; if it
        // fails it must say the server is unavailable, and write nothing.
        match store
            .save(
                "ticks",
                &[tick(100 + round), tick(200 + round)],
                Some(before),
            )
            .await
        {
            Ok(outcome) => assert_eq!(outcome.new_version, before + 2),
            Err(error) => {
                failed_calls += 1;
                assert!(
                    matches!(error, StoreError::Unavailable { .. }),
                    "round {round}: {error:?}"
                );
                assert!(error.to_string().contains("127.0.0.1"), "{error}");
                let version = store
                    .stream_version("ticks")
                    .await
                    .expect("the next call works");
                assert_eq!(
                    version, before,
                    "round {round}: the failed append wrote nothing"
                );
                store
                    .save(
                        "ticks",
                        &[tick(100 + round), tick(200 + round)],
                        Some(before),
                    )
                    .await
                    .expect("and appending works again");
            }
        }
    }
    // The idle connections were all dead: the first call of a round takes
    // one of them and fails (then the store evicts the others).
    assert!(
        failed_calls >= 1,
        "no call failed after the server dropped the connections: the outage was not exercised"
    );
    let events = store.load("ticks", 1).await.expect("load");
    let ns: Vec<u32> = events
        .iter()
        .filter_map(|e| e.downcast_ref::<Ticked>())
        .map(|t| t.n)
        .collect();
    assert_eq!(
        ns,
        vec![1, 100, 200, 101, 201, 102, 202],
        "each append exactly once, whole"
    );

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&admin)
    .await
    .expect("drop schema");
}
