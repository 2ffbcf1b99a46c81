//! The blocking SQLite store: the event-store conformance and hardening
//! suites (through the blocking adapter), and the places a blocking call is made from: a
//! thread with no runtime, tokio's blocking pool, an async task, and a
//! drop inside an async context (none may panic).

use std::sync::{Arc, OnceLock};

use orchestrix::prelude::*;
use orchestrix::store::sqlite::{BlockingSqliteEventStore, SqliteEventStore};
use orchestrix_tests::conformance::{BlockingStore, ConformanceEvent, unique_stream_id};
use orchestrix_tests::sqlite::TempDb;

orchestrix_tests::event_store_conformance!(
    blocking_sqlite_memory,
    store = async {
        BlockingStore(
            BlockingSqliteEventStore::connect("sqlite::memory:").expect("a memory database opens"),
        )
    }
);

/// The file every case of `blocking_sqlite_file` shares (left under
/// `target/`, as the async suite's).
fn shared_file() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        format!(
            "sqlite://{}/sqlite-blocking-conformance-{}.db",
            env!("CARGO_TARGET_TMPDIR"),
            uuid::Uuid::new_v4().simple()
        )
    })
}

orchestrix_tests::event_store_conformance!(
    blocking_sqlite_file,
    store = async {
        BlockingStore(
            BlockingSqliteEventStore::connect(shared_file()).expect("the file opens and migrates"),
        )
    }
);

fn event(n: u32) -> AnyEnvelope {
    Envelope::new(ConformanceEvent { writer: 0, seq: n }).into_any()
}

/// A program with no runtime at all: opens, appends, reads; a second
/// store (async, in a runtime of the test's) reads the same file.
#[test]
fn a_thread_without_a_runtime_appends_and_an_async_store_reads_it_back() {
    let db = TempDb::new("blocking-plain-thread");
    let stream = unique_stream_id("blocking");
    let url = db.url("");
    let (thread_url, thread_stream) = (url.clone(), stream.clone());
    std::thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let store = BlockingSqliteEventStore::connect(&thread_url).expect("opens");
        let outcome =
            EventStore::save(&store, &thread_stream, &[event(1), event(2)], Some(0)).expect("save");
        assert_eq!(outcome.new_version, 2);
        let error = EventStore::save(&store, &thread_stream, &[event(3)], Some(0))
            .expect_err("a stale expected version");
        assert!(matches!(error, StoreError::Concurrency(_)), "{error}");
    })
    .join()
    .expect("the thread ends");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let events = runtime.block_on(async {
        let store = SqliteEventStore::connect(&url).await.expect("opens");
        store.load(&stream, 1).await.expect("load")
    });
    let ns: Vec<u32> = events
        .iter()
        .filter_map(|e| e.downcast_ref::<ConformanceEvent>().map(|e| e.seq))
        .collect();
    assert_eq!(ns, vec![1, 2]);
}

/// From tokio's blocking pool, from an async task on a single-threaded
/// runtime (which it blocks, but cannot deadlock: its own runtime drives
/// the call), and dropped inside the async context: no panic anywhere.
#[tokio::test(flavor = "current_thread")]
async fn blocking_calls_work_from_the_blocking_pool_and_from_an_async_task() {
    let store = Arc::new(BlockingSqliteEventStore::connect("sqlite::memory:").expect("opens"));
    let stream = unique_stream_id("blocking-pool");
    let (pooled, pooled_stream) = (Arc::clone(&store), stream.clone());
    let version = tokio::task::spawn_blocking(move || {
        EventStore::save(&*pooled, &pooled_stream, &[event(1)], None)
            .expect("save")
            .new_version
    })
    .await
    .expect("the blocking task ends");
    assert_eq!(version, 1);

    // Inline, on the only thread of this runtime.
    EventStore::save(&*store, &stream, &[event(2)], Some(1)).expect("save inline");
    assert_eq!(
        EventStore::stream_version(&*store, &stream).expect("version"),
        2
    );
    EventStore::ping(&*store).expect("ping");

    // Dropped here, in the async context.
    drop(store);
}

orchestrix_tests::hardening_conformance!(
    blocking_sqlite_hardening,
    store = async {
        BlockingStore(
            BlockingSqliteEventStore::connect("sqlite::memory:").expect("a memory database opens"),
        )
    }
);
