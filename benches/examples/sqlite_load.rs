//! W4 of the `sqlite_store` bench (load and fold a 10,000-event stream), or
//! W1's single appends, in a loop, for the store or for its raw sqlx
//! baseline: for an
//! instruction-counting profiler, whose figures do not depend on the
//! machine's load.
//!
//! ```text
//! cargo build --release -p orchestrix-benches --example sqlite_load
//! valgrind --tool=callgrind target/release/examples/sqlite_load store 20
//! valgrind --tool=callgrind target/release/examples/sqlite_load raw 20
//! ```
//!
//! Workloads: `store` (`SqliteEventStore::load`, then the fold), `raw`
//! (the bench's hand-written baseline), `none` (the set-up alone: both
//! files written, nothing loaded); `store-append` and `raw-append` make the
//! count W1's single-event appends with expected version to a new stream
//! instead of loads (for W1's cost per append, and under `strace` its
//! writes and fsyncs per commit). Run each with two counts and divide the
//! difference of the instruction totals by the difference of the counts
//! to get the cost of one load without the set-up.

use orchestrix::sqlite::{SqliteOptions, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_benches::sqlite_raw::Raw;
use orchestrix_benches::store_workloads::{Framework, Side, W1_APPENDS, W3_BATCH};

/// `count` single-event appends with expected version to a fresh stream
/// (W1's unit of work), on the side `workload` names.
async fn append_singles(
    store: &Framework<SqliteEventStore>,
    raw: &Raw,
    workload: &str,
    count: u64,
) {
    for expected in 0..count {
        if workload == "store-append" {
            store.append_one("w1-singles", expected, expected).await;
        } else {
            raw.append_one("w1-singles", expected, expected).await;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "none".to_owned());
    let count: u64 = args
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = std::env::temp_dir().join(format!(
        "orchestrix-sqlite-load-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
    runtime.block_on(async {
        let store = Framework(
            SqliteEventStore::connect(&url("store.db"))
                .await
                .expect("store file"),
        );
        let raw = Raw::new(
            connect_pool(&SqliteOptions::new(url("raw.db")).expect("valid"))
                .await
                .expect("raw file"),
        )
        .await;
        for first in (0..W1_APPENDS).step_by(W3_BATCH as usize) {
            store.append_batch("w1", first, W3_BATCH).await;
            raw.append_batch("w1", first, W3_BATCH).await;
        }
        let expected: u64 = (0..W1_APPENDS).sum();
        let loads = if workload.ends_with("-append") {
            append_singles(&store, &raw, &workload, count).await;
            0
        } else {
            count
        };
        for _ in 0..loads {
            let balance = match workload.as_str() {
                "store" => store.load_and_fold("w1").await,
                "raw" => raw.load_and_fold("w1").await,
                "none" => expected,
                other => panic!("unknown workload `{other}`"),
            };
            assert_eq!(balance, expected);
        }
        store.0.pool().close().await;
        raw.pool.close().await;
    });
    std::fs::remove_dir_all(&dir).ok();
}
