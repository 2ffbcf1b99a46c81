//! Several processes on one SQLite file: two appending at once lose and
//! duplicate nothing; one killed with SIGKILL in the middle of its appends
//! leaves a readable file holding each append wholly or not at all.
//!
//! The tests run this test binary again as children (the ignored test
//! `sqlite_child`), told what to do through environment variables.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orchestrix::prelude::*;
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::sqlite::TempDb;

const DB_ENV: &str = "ORCHESTRIX_SQLITE_CHILD_DB";
const WRITER_ENV: &str = "ORCHESTRIX_SQLITE_CHILD_WRITER";
const MODE_ENV: &str = "ORCHESTRIX_SQLITE_CHILD_MODE";

/// Events each child of the two-process test appends to the shared stream.
const SHARED_APPENDS: u32 = 150;
/// Events per append of the child that gets killed.
const BATCH: u32 = 2_000;

/// A child process, killed (SIGKILL) when dropped, so a failing test
/// leaves no child behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(db: &TempDb, writer: u32, mode: &str) -> ChildGuard {
    ChildGuard(
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["sqlite_child", "--exact", "--ignored", "--nocapture"])
            .env(DB_ENV, db.path())
            .env(WRITER_ENV, writer.to_string())
            .env(MODE_ENV, mode)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts"),
    )
}

fn go_file(db: &Path) -> std::path::PathBuf {
    db.with_extension("go")
}

/// The child: `shared` appends `SHARED_APPENDS` events to the stream
/// `shared` (expected versions, retrying on conflict) once the parent
/// says go; `batches` appends `BATCH`-event batches until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the tests of this file"]
async fn sqlite_child() {
    let db = std::env::var(DB_ENV).expect("the parent sets the file");
    let writer: u32 = std::env::var(WRITER_ENV)
        .expect("the parent sets the writer")
        .parse()
        .expect("a number");
    let store = SqliteEventStore::connect(&format!("sqlite://{db}"))
        .await
        .expect("the child opens the file");
    match std::env::var(MODE_ENV)
        .expect("the parent sets the mode")
        .as_str()
    {
        "shared" => {
            std::fs::write(Path::new(&db).with_extension(format!("ready{writer}")), b"")
                .expect("ready file");
            while !go_file(Path::new(&db)).exists() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for seq in 0..SHARED_APPENDS {
                loop {
                    let version = store.stream_version("shared").await.expect("version");
                    match store
                        .save(
                            "shared",
                            &[ConformanceEvent::envelope(writer, seq)],
                            Some(version),
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Concurrency(_)) => {}
                        Err(other) => panic!("child {writer}: append failed: {other}"),
                    }
                }
                if seq == 0 {
                    // Both processes hold the stream before either goes on,
                    // so their appends interleave however they are scheduled.
                    let started = std::time::Instant::now();
                    while !store
                        .load("shared", 1)
                        .await
                        .expect("load")
                        .iter()
                        .filter_map(|e| e.downcast_ref::<ConformanceEvent>())
                        .any(|e| e.writer != writer)
                    {
                        assert!(
                            started.elapsed() < Duration::from_secs(60),
                            "child {writer}: the other child never appended"
                        );
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }
        "batches" => {
            for append in 0_u32.. {
                let events: Vec<_> = (0..BATCH)
                    .map(|seq| ConformanceEvent::envelope(append, seq))
                    .collect();
                store
                    .save("batches", &events, Some(u64::from(append * BATCH)))
                    .await
                    .expect("batch append");
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Polls `done` until it holds; fails if the child ends first or after a
/// minute.
async fn wait_for<F, Fut>(child: &mut Child, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} never happened"
        );
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the child ended early ({status}) waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Positions 1..=n without a gap, and every stream's versions 1..=m.
async fn assert_gapless(store: &SqliteEventStore) -> Vec<RecordedEvent> {
    let everything = store.read_all(1, usize::MAX).await.expect("read_all");
    let positions: Vec<u64> = everything.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=everything.len() as u64).collect::<Vec<_>>());
    everything
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_append_to_one_file_nothing_lost_or_duplicated() {
    let db = TempDb::new("two-processes");
    SqliteEventStore::connect(&db.url(""))
        .await
        .expect("creates");
    let mut children = [spawn_child(&db, 1, "shared"), spawn_child(&db, 2, "shared")];
    for (writer, child) in (1..).zip(children.iter_mut()) {
        let ready = db.path().with_extension(format!("ready{writer}"));
        let ready = &ready;
        wait_for(&mut child.0, "the child opening the file", || async move {
            ready.exists()
        })
        .await;
    }
    std::fs::write(go_file(db.path()), b"").expect("go");
    for child in &mut children {
        assert!(
            child.0.wait().expect("child ends").success(),
            "a child failed"
        );
    }

    let store = SqliteEventStore::connect(&db.url("")).await.expect("opens");
    assert_gapless(&store).await;
    let shared = store.load("shared", 1).await.expect("load");
    assert_eq!(
        shared.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=u64::from(2 * SHARED_APPENDS)).collect::<Vec<_>>()
    );
    let read = store.read_all(1, usize::MAX).await.expect("read all");
    assert_eq!(
        shared
            .iter()
            .map(|e| (e.version, e.position))
            .collect::<Vec<_>>(),
        read.iter()
            .filter(|e| &*e.stream_id == "shared")
            .map(|e| (e.version, e.position))
            .collect::<Vec<_>>(),
        "a load gives each event the position the global stream gives it"
    );
    let writers: Vec<u32> = shared
        .iter()
        .map(|e| {
            e.downcast_ref::<ConformanceEvent>()
                .expect("conformance event")
                .writer
        })
        .collect();
    let distinct: BTreeSet<(u32, u32)> = shared
        .iter()
        .filter_map(|e| e.downcast_ref::<ConformanceEvent>())
        .map(|e| (e.writer, e.seq))
        .collect();
    assert_eq!(distinct.len(), shared.len(), "no event twice, none lost");
    let switches = writers.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 1,
        "the two processes' appends interleave (they ran at the same time): {switches} switches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_killed_mid_append_leaves_each_append_whole_or_absent() {
    let db = TempDb::new("sigkill");
    let store = SqliteEventStore::connect(&db.url(""))
        .await
        .expect("creates");
    let mut child = spawn_child(&db, 1, "batches");
    // Kill right after a commit: the child is then already encoding and
    // inserting its next batch, which takes nearly all of its time.
    wait_for(&mut child.0, "two committed batches", || async {
        store.stream_version("batches").await.expect("version") >= u64::from(2 * BATCH)
    })
    .await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reap");
    store.pool().close().await;

    let store = SqliteEventStore::connect(&db.url(""))
        .await
        .expect("reopens");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .expect("integrity check");
    assert_eq!(check, "ok");
    let everything = assert_gapless(&store).await;
    let stored = store.load("batches", 1).await.expect("load");
    assert_eq!(stored.len(), everything.len());
    assert!(stored.len() >= 2 * BATCH as usize);
    assert_eq!(
        stored.len() % BATCH as usize,
        0,
        "a partial append survived"
    );
    for (index, event) in stored.iter().enumerate() {
        let event = event.downcast_ref::<ConformanceEvent>().expect("decodes");
        let index = u32::try_from(index).expect("small");
        assert_eq!((event.writer, event.seq), (index / BATCH, index % BATCH));
    }
    // The file takes appends again, at the next version.
    let next = u64::try_from(stored.len()).expect("small");
    store
        .save("batches", &[ConformanceEvent::envelope(9, 9)], Some(next))
        .await
        .expect("append after the crash");
}
