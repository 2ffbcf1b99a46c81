//! [`RunLease`]: one run's hold on its saga's lease, and the promise that
//! the run stops working before the lease can run out.
//!
//! A run knows its lease is valid until `t + ttl`, where `t` is when it
//! *sent* the last write the store confirmed (the store sets the expiry
//! when it executes the write, which is later; the in-memory store from
//! the run's wall-clock reading for the write, taken after `t`). It works
//! only until
//! `t + ttl - margin`: every write (state save or renewal) is given at most
//! the time left until then, and the renewal loop gives up there. The
//! margin covers what the run's clock cannot see: the store's clock
//! running faster than the process's, and the time the process takes to
//! stop the step once the deadline fires (timer and scheduling delays).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::change::SagaChange;
use super::error::SagaStoreError;
use super::store::SagaStateStore;

/// The default safety margin of a lease; see
/// [`Saga::with_lease_safety_margin`](super::Saga::with_lease_safety_margin).
pub const DEFAULT_LEASE_SAFETY_MARGIN: Duration = Duration::from_secs(1);

/// One run's lease on one saga: its token, and until when the run may work.
pub(crate) struct RunLease {
    store: Arc<dyn SagaStateStore>,
    /// The id the run works under: renewals use it, its step contexts
    /// share it, and the run gives the lease back on it (one source,
    /// whatever state the store hands back).
    saga_id: Arc<str>,
    token: String,
    ttl: Duration,
    margin: Duration,
    /// When the last write the store confirmed was sent.
    confirmed_at: Mutex<Instant>,
}

impl RunLease {
    /// The lease `token` holds on `saga_id`, confirmed by a write sent at
    /// `asked`. `margin` is cut to half of `ttl`.
    pub(crate) fn new(
        store: Arc<dyn SagaStateStore>,
        saga_id: &str,
        token: String,
        ttl: Duration,
        margin: Duration,
        asked: Instant,
    ) -> Self {
        Self {
            store,
            saga_id: Arc::from(saga_id),
            token,
            ttl,
            margin: margin.min(ttl / 2),
            confirmed_at: Mutex::new(asked),
        }
    }

    /// The saga this lease is on.
    pub(crate) fn saga_id(&self) -> &Arc<str> {
        &self.saga_id
    }

    /// The lease owner the store knows this run by.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    fn confirmed_at(&self) -> Instant {
        *self
            .confirmed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The instant the run must have stopped by unless a write confirms the
    /// lease again.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline_after(self.confirmed_at())
    }

    /// The deadline when the last confirmation was sent at `confirmed`.
    fn deadline_after(&self, confirmed: Instant) -> Instant {
        confirmed + (self.ttl - self.margin)
    }

    fn confirm(&self, asked: Instant) {
        let mut confirmed = self
            .confirmed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *confirmed = (*confirmed).max(asked);
    }

    /// Saves `change` under the lease (which renews it), waiting at most
    /// until the deadline: [`save_at_once`](Self::save_at_once), else
    /// [`save_awaited`](Self::save_awaited). The executor's `persist`
    /// makes the same choice (inline, so no future is made for a write
    /// done at once); this is its copy for the tests of this module.
    #[cfg(test)]
    pub(crate) async fn save(&self, change: SagaChange<'_>) -> Result<(), SagaStoreError> {
        let asked = Instant::now();
        match self.save_at_once(change, asked) {
            Some(outcome) => outcome,
            None => self.save_awaited(change, asked).await,
        }
    }

    /// Saves `change` under the lease if the store writes at once
    /// ([`save_change_at_once`](SagaStateStore::save_change_at_once)):
    /// `Some` with its outcome, or `None` (nothing written) when the write
    /// must be awaited ([`save_awaited`](Self::save_awaited)).
    ///
    /// The answer is the one [`save_awaited`](Self::save_awaited) would
    /// give: that polls the write once before arming its timer, and a
    /// write done at its first poll is never timed out. A plain call, so
    /// the executor's writes to such a store make no future at all (the
    /// awaited write's future, timer included, is large to move).
    ///
    /// `asked` is the caller's reading of the clock, taken before the
    /// write and before any wall-clock reading the change carries
    /// ([`SagaChange::read_at`]): the lease is confirmed as of when the
    /// write was sent, so `asked` must precede the write and every clock
    /// the store computes the expiry from. An earlier `asked` only brings
    /// the deadline forward. The executor reads it once per transition
    /// for both this and [`save_awaited`](Self::save_awaited).
    pub(crate) fn save_at_once(
        &self,
        change: SagaChange<'_>,
        asked: Instant,
    ) -> Option<Result<(), SagaStoreError>> {
        let outcome = self
            .store
            .save_change_at_once(change, &self.token, self.ttl)?;
        Some(self.confirmed_by(asked, outcome))
    }

    /// Saves `change` under the lease through the store's `save_change`,
    /// waiting at most until the deadline; a write that answers later
    /// counts as not done. `asked` as for
    /// [`save_at_once`](Self::save_at_once).
    pub(crate) async fn save_awaited(
        &self,
        change: SagaChange<'_>,
        asked: Instant,
    ) -> Result<(), SagaStoreError> {
        self.bounded(asked, self.store.save_change(change, &self.token, self.ttl))
            .await
    }

    /// `outcome` of a write sent at `asked`, which confirms the lease if
    /// it succeeded.
    fn confirmed_by(
        &self,
        asked: Instant,
        outcome: Result<(), SagaStoreError>,
    ) -> Result<(), SagaStoreError> {
        if outcome.is_ok() {
            self.confirm(asked);
        }
        outcome
    }

    /// Renews the lease, waiting at most until the deadline.
    async fn renew(&self) -> Result<(), SagaStoreError> {
        self.bounded(
            Instant::now(),
            self.store.renew_lease(&self.saga_id, &self.token, self.ttl),
        )
        .await
    }

    /// Runs a write sent at `asked` that renews the lease, giving it the
    /// time left until the deadline; a write that answers later counts as
    /// not done.
    async fn bounded(
        &self,
        asked: Instant,
        write: impl Future<Output = Result<(), SagaStoreError>>,
    ) -> Result<(), SagaStoreError> {
        // A write that is done at its first poll (an in-memory store) gets
        // the outcome the timeout would give it (which polls the write
        // first too), without making the timer: only a write that waits
        // is bounded by one.
        let mut write = std::pin::pin!(write);
        let outcome = match futures::poll!(write.as_mut()) {
            std::task::Poll::Ready(outcome) => Ok(outcome),
            std::task::Poll::Pending => tokio::time::timeout_at(self.deadline(), write).await,
        };
        match outcome {
            Ok(outcome) => self.confirmed_by(asked, outcome),
            Err(_elapsed) => Err(self.not_renewed(None)),
        }
    }

    fn not_renewed(&self, last_error: Option<SagaStoreError>) -> SagaStoreError {
        SagaStoreError::LeaseNotRenewed {
            saga_id: self.saga_id.to_string(),
            owner: self.token.clone(),
            source: last_error.map(Box::new),
        }
    }

    /// Whether [`keep`](Self::keep), polled at `now`, would only start
    /// waiting: its first renewal (a third of the lifetime after the last
    /// confirmation) is still ahead, and so the deadline too.
    ///
    /// The executor passes the instant its last write was sent when that
    /// write was done at once (in memory, no await since), rather than
    /// reading the clock again: that write confirmed the lease as of that
    /// instant, so the answer is yes, and the instants between (the
    /// in-memory write) are far inside the sixth of the lifetime between
    /// the first renewal and the deadline. After an awaited write it reads
    /// the clock.
    pub(crate) fn keeping_would_wait(&self, now: Instant) -> bool {
        let confirmed = self.confirmed_at();
        let next = confirmed + self.ttl / 3;
        // The first renewal never comes after the deadline: `new` cuts the
        // margin to half the lifetime, so the deadline is at least half a
        // lifetime after the confirmation. `keep` waits for the earlier of
        // the two; here that is always `next`.
        debug_assert!(next <= self.deadline_after(confirmed));
        now < next
    }

    /// Renews the lease every third of its lifetime (sooner again after a
    /// failed renewal); returns only when the lease is lost, or when it
    /// could not be confirmed before the deadline
    /// ([`SagaStoreError::LeaseNotRenewed`]). The caller runs the work
    /// beside it and stops the work when this returns.
    pub(crate) async fn keep(&self) -> SagaStoreError {
        let period = self.ttl / 3;
        let mut next = self.confirmed_at() + period;
        let mut last_error = None;
        loop {
            // What is due already is done now, not after a sleep: a timer
            // set for an instant that has passed (the process stalled
            // after the last write) fires only when the runtime's timer
            // next turns, and the caller polls its work right after this
            // first poll: the work would start past the deadline.
            let wake = next.min(self.deadline());
            if Instant::now() < wake {
                tokio::time::sleep_until(wake).await;
            }
            if Instant::now() >= self.deadline() {
                return self.not_renewed(last_error);
            }
            match self.renew().await {
                Ok(()) => {
                    next = self.confirmed_at() + period;
                    last_error = None;
                }
                Err(SagaStoreError::LeaseNotRenewed { .. }) => return self.not_renewed(last_error),
                Err(
                    error @ (SagaStoreError::LeaseLost { .. } | SagaStoreError::NotFound { .. }),
                ) => return error,
                Err(error) => {
                    tracing::warn!(saga_id = &*self.saga_id, %error, "could not renew the saga's lease; retrying");
                    next = Instant::now() + period / 4;
                    last_error = Some(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saga::{InMemorySagaStateStore, SagaState};

    /// A write the store makes at once confirms the lease as of when it
    /// was sent, as the bounded write does; a refused one does not.
    #[tokio::test(start_paused = true)]
    async fn a_write_at_once_confirms_the_lease_when_it_was_sent() {
        let (ttl, margin) = (Duration::from_secs(30), Duration::from_secs(1));
        let store = Arc::new(InMemorySagaStateStore::new());
        let state = SagaState::new("s-1", "orders", serde_json::Value::Null, ["a"]);
        store.create(&state, "me", ttl).await.expect("create");
        let started = Instant::now();
        let lease = RunLease::new(store, "s-1", "me".into(), ttl, margin, started);
        assert_eq!(lease.deadline(), started + (ttl - margin));
        tokio::time::advance(Duration::from_secs(10)).await;
        let sent = Instant::now();
        lease.save(SagaChange::of_saga(&state)).await.expect("save");
        assert_eq!(lease.deadline(), sent + (ttl - margin));
        // A refused write does not confirm it.
        tokio::time::advance(Duration::from_secs(10)).await;
        let mut other = state.clone();
        other.saga_id = "s-unknown".into();
        lease
            .save(SagaChange::of_saga(&other))
            .await
            .expect_err("unknown");
        assert_eq!(lease.deadline(), sent + (ttl - margin));
    }
}
