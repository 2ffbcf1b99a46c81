//! Support for the delivery tests: a journal handlers write to, which a
//! test waits on (no sleeps as synchronisation).

use std::time::Duration;

use tokio::sync::watch;

/// How long a test waits for handlers before it fails: generous, so a
/// loaded machine does not fail it; a passing test never waits that long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What handlers did, in order: `(handler, value)` entries.
#[derive(Debug)]
pub struct Journal {
    entries: watch::Sender<Vec<(String, u64)>>,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Self {
            entries: watch::Sender::new(Vec::new()),
        }
    }

    /// Records that `handler` ran with `value`.
    pub fn record(&self, handler: &str, value: u64) {
        self.entries
            .send_modify(|entries| entries.push((handler.to_owned(), value)));
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<(String, u64)> {
        self.entries.borrow().clone()
    }

    /// The values `handler` ran with, in order.
    pub fn of(&self, handler: &str) -> Vec<u64> {
        self.entries
            .borrow()
            .iter()
            .filter(|(name, _)| name == handler)
            .map(|(_, value)| *value)
            .collect()
    }

    /// Waits until `handler` has at least `count` entries.
    ///
    /// # Panics
    ///
    /// After [`PATIENCE`], naming what was seen.
    pub async fn wait_for(&self, handler: &str, count: usize) {
        let mut receiver = self.entries.subscribe();
        let reached = receiver.wait_for(|entries| {
            entries.iter().filter(|(name, _)| name == handler).count() >= count
        });
        if tokio::time::timeout(PATIENCE, reached).await.is_err() {
            panic!(
                "`{handler}` never reached {count} entries; journal: {:?}",
                self.entries()
            );
        }
    }
}

/// Waits until `reached` says a child process got as far as a crash test
/// wants it, polling (the child is another process: nothing can wake this
/// one).
///
/// # Panics
///
/// When the child ends first, or after [`PATIENCE`] twice over.
pub async fn wait_for_child<Reached, Fut>(child: &mut std::process::Child, mut reached: Reached)
where
    Reached: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !reached().await {
        assert!(
            started.elapsed() < PATIENCE * 2,
            "the child never got there"
        );
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the child ended early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the delivery crash tests expect once the restarted dispatcher has
/// caught up, from the runs per order (`order -> runs`) of the
/// at-least-once handler (`every`) and of the idempotent one (`once`): the
/// first ran twice for each of the first `hang_at` orders (before the kill,
/// never checkpointed, and again after) and once for the others; the
/// idempotent handler ran once per order.
///
/// # Panics
///
/// On any other count, naming the order.
pub fn assert_redelivered_once_more<Runs>(
    every: &std::collections::HashMap<i64, Runs>,
    once: &std::collections::HashMap<i64, Runs>,
    orders: u64,
    hang_at: u64,
) where
    Runs: From<u8> + PartialEq + std::fmt::Debug,
{
    for n in 1..=orders {
        let order = i64::try_from(n).expect("small");
        let expected_every = Runs::from(if n <= hang_at { 2 } else { 1 });
        assert_eq!(
            every.get(&order),
            Some(&expected_every),
            "every_run of order {n}: {every:?}"
        );
        assert_eq!(
            once.get(&order),
            Some(&Runs::from(1)),
            "once of order {n}: {once:?}"
        );
    }
}

/// Starts `dispatcher`, waits (up to [`PATIENCE`]) until it has handled
/// every event up to `head`, and stops it.
///
/// # Panics
///
/// When it does not catch up in time or does not stop cleanly.
pub async fn deliver_through(dispatcher: &orchestrix::delivery::Dispatcher, head: u64) {
    let running = dispatcher.start();
    tokio::time::timeout(PATIENCE, dispatcher.caught_up(head))
        .await
        .expect("the dispatcher catches up");
    running.stop().await.expect("stops");
}

/// Resets the checkpoints of the delivery `groups` to the start (as if
/// they were lost), so the next dispatcher delivers every event again.
///
/// # Panics
///
/// When a checkpoint cannot be saved.
pub async fn forget_checkpoints(
    delivery: &dyn orchestrix::delivery::DeliveryStore,
    groups: &[&str],
) {
    for group in groups {
        delivery
            .checkpoints()
            .save(
                &orchestrix::projection::ProjectionState::new(format!(
                    "{}{group}",
                    orchestrix::delivery::GROUP_PREFIX
                )),
                "test",
            )
            .await
            .expect("reset");
    }
}

/// `writers` tasks, released together, each appending `per_writer` events
/// (`event(writer, n)`) one at a time to its stream `account-<writer>`; the
/// highest position written.
///
/// # Panics
///
/// When an append fails.
pub async fn concurrent_writers<S>(
    store: &S,
    writers: u64,
    per_writer: u64,
    event: fn(u64, u64) -> orchestrix::message::AnyEnvelope,
) -> u64
where
    S: orchestrix::store::AsyncEventStore + Clone + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(
        usize::try_from(writers).expect("small"),
    ));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, barrier) = (store.clone(), std::sync::Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let mut last = 0;
                for n in 0..per_writer {
                    let outcome = store
                        .save(&format!("account-{writer}"), &[event(writer, n)], None)
                        .await
                        .expect("append");
                    last = last.max(outcome.positions[0]);
                }
                last
            })
        })
        .collect();
    let mut head = 0;
    for task in tasks {
        head = head.max(task.await.expect("writer"));
    }
    head
}

/// Waits (up to [`PATIENCE`]) until one of two dispatchers competing for
/// the same groups has handled every event up to `head`.
///
/// # Panics
///
/// When neither catches up in time.
pub async fn either_caught_up(
    a: &orchestrix::delivery::Dispatcher,
    b: &orchestrix::delivery::Dispatcher,
    head: u64,
) {
    let caught_up = async {
        tokio::select! {
            () = a.caught_up(head) => {},
            () = b.caught_up(head) => {},
        }
    };
    tokio::time::timeout(PATIENCE, caught_up)
        .await
        .expect("the dispatchers catch up");
}
