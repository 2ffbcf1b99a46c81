//! The saga state store contract.

use std::time::Duration;

use time::OffsetDateTime;

use super::change::SagaChange;
use super::error::SagaStoreError;
use super::state::SagaState;

/// What [`SagaStateStore::create`] (or
/// [`create_owned`](SagaStateStore::create_owned)) found.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The saga was new: it is stored, with the caller holding its lease.
    Created(SagaState),
    /// A saga with this id exists already (starting twice is idempotent):
    /// its stored state, unchanged.
    Existing(SagaState),
}

/// What [`SagaStateStore::acquire_lease`] found.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LeaseOutcome {
    /// The caller holds the lease now; the saga's current state.
    Acquired(SagaState),
    /// Someone else holds an unexpired lease.
    Held {
        /// The holder.
        owner: String,
        /// Until when.
        expires_at: OffsetDateTime,
    },
    /// No saga with this id.
    NotFound,
}

/// Where sagas keep their state, so that a crashed saga can be resumed.
///
/// The rules every implementation keeps (checked by the conformance suite in
/// `orchestrix-tests`):
///
/// * `create` and `create_owned` (which the executor calls) are
///   insert-if-absent, atomically: of two concurrent creates of one id, one
///   gets [`CreateOutcome::Created`] and the other
///   [`CreateOutcome::Existing`];
/// * a lease has an owner and an expiry; `acquire_lease` succeeds when the
///   saga has no lease, the lease is the caller's (the executor uses a
///   token per run as the owner, so that is the same run), or it has
///   expired, and
///   is atomic (of two concurrent acquirers at most one wins);
/// * `save`, `save_change` and `renew_lease` only succeed for the current lease holder
///   (else [`SagaStoreError::LeaseLost`]) and push the expiry to now + `ttl`;
///   `save` replaces everything but the lease; `save_change` stores exactly
///   `change.state()` except the lease, provided the change keeps
///   [`SagaChange`]'s contract (it may write only the parts the change
///   names);
/// * `save_change_at_once` either answers `None` having written nothing, or
///   has written the change and answers `Some` with what `save_change`
///   would have answered (the same checks, errors, lease rule and renewal);
///   `release_lease_at_once` likewise for `release_lease`;
/// * a `ttl` longer than [`MAX_LEASE_TTL`] counts as [`MAX_LEASE_TTL`];
/// * `unfinished` lists the sagas whose status is running or compensating.
#[async_trait::async_trait]
pub trait SagaStateStore: Send + Sync + std::fmt::Debug {
    /// Prepares the store (creates tables); safe to call more than once.
    async fn initialize(&self) -> Result<(), SagaStoreError>;

    /// Checks that the store can be reached: `Ok`, or
    /// [`SagaStoreError::Unavailable`] (within the store's connect timeout).
    /// The default answers `Ok`: a store without a remote backend is always
    /// there.
    async fn ping(&self) -> Result<(), SagaStoreError> {
        Ok(())
    }

    /// Stores `state` if no saga has its id, leased to `owner` for `ttl`
    /// (the executor calls [`create_owned`](Self::create_owned), whose
    /// default calls this).
    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError>;

    /// [`create`](Self::create), handed the state by value: the executor
    /// starts every saga with this, and a store that keeps states in memory
    /// can keep this one instead of a copy. The same rules and outcomes as
    /// `create`, atomicity included (of concurrent calls for one id, one
    /// creates).
    ///
    /// The default calls `create`. So a store whose `create` calls
    /// `create_owned` must override `create_owned` too: with the default,
    /// each would call the other without end.
    async fn create_owned(
        &self,
        state: SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        self.create(&state, owner, ttl).await
    }

    /// The saga's state, if stored.
    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError>;

    /// Takes the saga's lease for `owner` if it is free, expired or already
    /// `owner`'s.
    async fn acquire_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, SagaStoreError>;

    /// Replaces the saga's state (not its lease), if `owner` holds the
    /// lease, and renews the lease.
    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError>;

    /// Saves `change`'s state as [`save`](Self::save) does (the same
    /// checks, errors and lease rule), knowing which parts changed since the
    /// state the lease holder last saved or found stored when it took the
    /// lease (see [`SagaChange`]). This is how the executor writes after
    /// every transition.
    ///
    /// The default writes the whole state with [`save`](Self::save): right
    /// for a store that writes a row per saga anyway. A store that keeps
    /// states in memory overrides it to write just the changed parts over
    /// the state it keeps, so a transition costs what changed, not the
    /// size of the saga.
    ///
    /// # Correctness
    ///
    /// If a part of the state `change` does not name has changed since the
    /// lease holder's last save (or the state it found stored), a store may
    /// keep its old value and skip its checks: the in-memory store does.
    /// Use [`SagaChange::whole`] when unsure what changed.
    async fn save_change(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.save(change.state(), owner, ttl).await
    }

    /// [`save_change`](Self::save_change) done before returning, for a
    /// store that needs no I/O to write (one that keeps states in memory):
    /// `Some` with the outcome `save_change` would give, or `None` when the
    /// store must wait for its backend. The executor tries this first at
    /// every transition and calls `save_change` on `None`, so a store that
    /// can answer at once skips making (and boxing) a future per write.
    ///
    /// The default answers `None`. A store that answers `Some` must keep
    /// every rule of `save_change` (checks, errors, lease rule, renewal)
    /// and must not block on anything but a short lock. The conformance
    /// suite repeats its `save_change` checks through this method.
    ///
    /// `None` must mean that nothing was written: the executor then calls
    /// `save_change` with the same change, so a store may answer `None`
    /// for some calls (e.g. when its lock is contended) and `Some` for
    /// others.
    ///
    /// A store that wraps another (to record, mirror or count writes) and
    /// overrides `save_change` must not forward this method to the store it
    /// wraps: the executor would write through the inner store and never
    /// call the wrapper's `save_change`. Keep the default `None` (the
    /// wrapper then loses only the fast path), or override both alike.
    fn save_change_at_once(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Option<Result<(), SagaStoreError>> {
        let _ = (change, owner, ttl);
        None
    }

    /// Renews `owner`'s lease.
    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError>;

    /// Gives the lease up, if `owner` holds it.
    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError>;

    /// [`release_lease`](Self::release_lease) done before returning, for a
    /// store that needs no I/O (one that keeps states in memory): `Some`
    /// with the outcome `release_lease` would give, or `None`, having
    /// released nothing, when the store must wait for its backend. The
    /// executor tries this first at the end of every run and calls
    /// `release_lease` on `None`, so a store that can answer at once makes
    /// no (boxed) future for it.
    ///
    /// The default answers `None`. As with
    /// [`save_change_at_once`](Self::save_change_at_once), a store that
    /// wraps another and overrides `release_lease` must not forward this
    /// method to the store it wraps (keep the default, or override both
    /// alike).
    fn release_lease_at_once(
        &self,
        saga_id: &str,
        owner: &str,
    ) -> Option<Result<(), SagaStoreError>> {
        let _ = (saga_id, owner);
        None
    }

    /// Every saga that is running or compensating, oldest first.
    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError>;
}

/// The longest lease a store grants: a longer TTL is cut down to it (by
/// every store alike), so a huge TTL neither overflows a database interval
/// nor leaves a crashed saga locked for ever.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// `ttl`, at most [`MAX_LEASE_TTL`].
pub(crate) fn clamp_ttl(ttl: Duration) -> Duration {
    ttl.min(MAX_LEASE_TTL)
}

/// A lease's expiry for a write made now: [`expiry`] of the current time,
/// at the stored precision, computed without `OffsetDateTime` arithmetic
/// (the in-memory store sets one at every state write).
pub(crate) fn expiry_from_now(ttl: Duration) -> OffsetDateTime {
    crate::limits::now_plus(clamp_ttl(ttl))
}

/// `now + ttl` (clamped to [`MAX_LEASE_TTL`]), saturating.
pub(crate) fn expiry(now: OffsetDateTime, ttl: Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(clamp_ttl(ttl)).unwrap_or(time::Duration::MAX))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::stored_precision;

    /// The in-memory store's expiry equals `expiry` of the current time at
    /// the stored precision, the TTL clamped the same way.
    #[test]
    fn expiry_from_now_is_expiry_of_the_current_time() {
        for ttl in [
            Duration::from_millis(1),
            Duration::from_secs(30),
            MAX_LEASE_TTL,
            MAX_LEASE_TTL * 4,
        ] {
            let before = stored_precision(expiry(OffsetDateTime::now_utc(), ttl));
            let at = expiry_from_now(ttl);
            let later = stored_precision(expiry(OffsetDateTime::now_utc(), ttl));
            assert!(
                before <= at && at <= later,
                "{before} <= {at} <= {later} for {ttl:?}"
            );
        }
    }
}
