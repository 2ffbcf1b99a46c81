//! SqliteEventStore against hand-written sqlx SQLite statements doing the
//! same work, in the same run, on files in the temp dir (WAL,
//! `synchronous = FULL`, the store's defaults, for both): the workloads
//! W1–W4 of `orchestrix_benches::store_workloads`, three rounds on fresh
//! files.
//!
//! The raw baseline is `orchestrix_benches::sqlite_raw::Raw`: the smallest
//! table that keeps events in streams, loads decoding payload and metadata
//! straight into the concrete types. The store also
//! writes the event id, type, schema version, correlation and causation
//! ids and the time, checks the version under the write lock and decodes
//! through the event registry: that is what the ratio prices.

use orchestrix::sqlite::{SqliteOptions, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_benches::sqlite_raw::Raw;
use orchestrix_benches::store_workloads::{Framework, Round, Selected, report, run_round};

const ROUNDS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let selected = Selected::from_args();
    let mut rounds: Vec<Round> = Vec::new();
    for _ in 0..ROUNDS {
        let dir = std::env::temp_dir().join(format!(
            "orchestrix-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
        let store = SqliteEventStore::connect(&url("store.db"))
            .await
            .expect("store file");
        let raw = Raw::new(
            connect_pool(&SqliteOptions::new(url("raw.db")).expect("valid"))
                .await
                .expect("raw file"),
        )
        .await;
        rounds.push(run_round(&Framework(store.clone()), &raw, selected).await);
        store.pool().close().await;
        raw.pool.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
    report(&rounds);
}
