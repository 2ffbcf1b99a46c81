//! Failing fast: while the server refuses connections, the PostgreSQL
//! stores answer `Unavailable` within the connect timeout, not after the
//! pool's whole acquire timeout; when it is back, the same stores work
//! again by themselves. The server's outage is a switchable TCP proxy in
//! front of the test database. Needs `DATABASE_URL`.

use std::time::{Duration, Instant};

use orchestrix::postgres::{ConnectGate, PostgresError, PostgresOptions};
use orchestrix::prelude::*;
use orchestrix::saga::{PostgreSQLSagaStateStore, SagaStoreError};
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::postgres::{database_url, pool, unique_schema};
use orchestrix_tests::proxy::SwitchableProxy;

/// Long enough that a call waiting for it could not pass for failing fast.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// What a fast failure may take at most: the connect timeout plus slack
/// for a loaded machine, far below the acquire timeout.
const FAST: Duration = Duration::from_secs(5);

fn options(url: &str, schema: &str) -> PostgresOptions {
    PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .schema(schema)
        .build()
        .expect("valid options")
}

/// Runs `call` and asserts that it failed as unavailable (`unavailable`
/// says so of its error) within [`FAST`].
async fn fails_fast<T: std::fmt::Debug, E: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
    unavailable: impl Fn(&E) -> bool,
) {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(
        result.as_ref().err().is_some_and(&unavailable),
        "{what}: {result:?}"
    );
    assert!(took < FAST, "{what} took {took:?}");
}

fn store_down(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { .. })
}

fn saga_store_down(error: &SagaStoreError) -> bool {
    matches!(error, SagaStoreError::Unavailable { .. })
}

/// Polls `ping` until it answers `Ok` (at most a minute).
async fn until_reachable(store: &PostgreSQLEventStore) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the store never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_the_server_refuses_and_recover_after() {
    let Some(url) = database_url("calls_fail_fast_while_the_server_refuses_and_recover_after")
    else {
        return;
    };
    let proxy = SwitchableProxy::start(&url).await;
    let proxied = proxy.url(&url);
    let schema = unique_schema("failfast");
    let store = PostgreSQLEventStore::connect_with(options(&proxied, &schema))
        .await
        .expect("connects through the proxy");
    store.initialize().await.expect("migrates");
    let sagas = PostgreSQLSagaStateStore::connect_with(options(&proxied, &schema))
        .await
        .expect("connects through the proxy");
    sagas.initialize().await.expect("migrates");
    store
        .save("ff-1", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save while up");
    store.ping().await.expect("ping while up");
    sagas.ping().await.expect("saga store ping while up");

    proxy.switch_off();
    let started = Instant::now();
    let append = [ConformanceEvent::envelope(1, 2)];
    fails_fast("save", store.save("ff-1", &append, Some(1)), store_down).await;
    for _ in 0..4 {
        fails_fast("load", store.load("ff-1", 1), store_down).await;
    }
    fails_fast("read_all", store.read_all(1, 10), store_down).await;
    fails_fast("ping", store.ping(), store_down).await;
    fails_fast("stream_version", store.stream_version("ff-1"), store_down).await;
    fails_fast("saga load", sagas.load("saga-1"), saga_store_down).await;
    fails_fast("saga ping", sagas.ping(), saga_store_down).await;
    assert!(
        started.elapsed() < ACQUIRE_TIMEOUT,
        "ten calls together took {:?}, longer than one acquire timeout",
        started.elapsed()
    );
    let connect = PostgreSQLEventStore::connect_with(options(&proxied, &schema));
    fails_fast("connect", connect, store_down).await;

    proxy.switch_on().await;
    until_reachable(&store).await;
    store
        .save("ff-1", &[ConformanceEvent::envelope(1, 2)], Some(1))
        .await
        .expect("the same store works again");
    assert_eq!(store.load("ff-1", 1).await.expect("load").len(), 2);
    assert_eq!(
        sagas.load("saga-1").await.expect("saga store works again"),
        None
    );

    let admin = pool(&url, 1).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&admin)
    .await
    .expect("the schema drops");
}

/// A port on which nothing listens: any probe of it is refused.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a local port");
    listener.local_addr().expect("has an address").port()
}

fn gate_for(port: u16) -> ConnectGate {
    let server = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port);
    ConnectGate::for_server(server, Duration::from_secs(2))
}

fn refused(result: Result<(), PostgresError>) -> bool {
    matches!(result, Err(PostgresError::Unavailable { .. }))
}

// The gate's decisions, seen through a pool on the real server and a gate
// whose own probes go to a port of the test's choosing: a probe of a port
// where nothing listens fails, so an `Ok` proves the gate did not probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_probes_only_when_it_cannot_trust_what_it_knows() {
    let Some(url) = database_url("the_gate_probes_only_when_it_cannot_trust_what_it_knows") else {
        return;
    };
    let pool = pool(&url, 1).await;
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .expect("opens the pool's one connection");
    // A dropped connection goes back to the pool in the background.
    tokio::time::timeout(Duration::from_secs(10), async {
        while pool.num_idle() != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the connection goes back idle");

    // An idle connection at hand: no probe (the gate's port is closed).
    let gate = gate_for(closed_port().await);
    assert_eq!(gate.timeout(), Duration::from_secs(2));
    gate.check(&pool)
        .await
        .expect("an idle connection needs no probe");
    // After a lost connection, idle connections are not trusted: it probes.
    gate.connection_lost();
    assert!(
        refused(gate.check(&pool).await),
        "probed after a lost connection"
    );

    // A full pool, all busy: a probe that found the server up is reused...
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a local port");
    let gate = gate_for(listener.local_addr().expect("has an address").port());
    gate.probe().await.expect("the listener accepts");
    drop(listener);
    let held = pool.acquire().await.expect("takes the one connection");
    assert_eq!(pool.num_idle(), 0);
    gate.check(&pool)
        .await
        .expect("the recent good probe is reused while the pool is full");
    // ...but not after a lost connection: the fresh probe is refused.
    gate.connection_lost();
    assert!(refused(gate.check(&pool).await), "probed afresh");
    // Room in the pool (the call would open a connection): a fresh probe.
    drop(held);
    pool.close().await;
    let roomy = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&url)
        .expect("a valid url");
    let gate = gate_for(closed_port().await);
    assert_eq!(roomy.num_idle(), 0, "nothing opened yet");
    assert!(
        refused(gate.check(&roomy).await),
        "a call that would connect probes"
    );
}
