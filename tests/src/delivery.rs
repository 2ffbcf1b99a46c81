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
