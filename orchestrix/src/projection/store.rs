//! The projection state store contract.

use std::time::Duration;

use time::OffsetDateTime;

use super::error::ProjectionStoreError;
use super::state::{DeadLetter, ProjectionState};

/// What [`ProjectionStateStore::acquire_lease`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseOutcome {
    /// The caller holds the lease now.
    Acquired,
    /// Another runner holds an unexpired lease.
    Held {
        /// The holder.
        owner: String,
        /// Until when.
        expires_at: OffsetDateTime,
    },
}

/// Where projections keep their checkpoints, health and parked events.
///
/// The rules every implementation keeps (checked by the conformance suite in
/// `orchestrix-tests`):
///
/// * `load` of a projection never saved is `None`; `save` replaces the
///   whole state;
/// * a lease has an owner and an expiry; `acquire_lease` succeeds when the
///   projection has no lease, the lease is the caller's, or it expired, and
///   of two concurrent acquirers at most one wins;
/// * `save` and `renew_lease` fail with [`ProjectionStoreError::LeaseLost`]
///   when another owner holds an unexpired lease (a runner that was taken
///   over cannot move the checkpoint); `save` without any lease held is
///   allowed (a single process feeding events by hand);
/// * dead letters are kept per projection and position (parking one at a
///   position again replaces it) and listed in position order.
#[async_trait::async_trait]
pub trait ProjectionStateStore: Send + Sync + std::fmt::Debug {
    /// Prepares the store (creates tables); safe to call more than once.
    async fn initialize(&self) -> Result<(), ProjectionStoreError>;

    /// The projection's state, if saved.
    async fn load(&self, projection: &str)
    -> Result<Option<ProjectionState>, ProjectionStoreError>;

    /// Replaces the projection's state, unless another owner holds its lease.
    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError>;

    /// Takes the projection's lease for `owner` for `ttl`, if it is free,
    /// expired or already `owner`'s.
    async fn acquire_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ProjectionStoreError>;

    /// Extends `owner`'s lease to now + `ttl`.
    async fn renew_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), ProjectionStoreError>;

    /// Gives the lease up, if `owner` holds it.
    async fn release_lease(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<(), ProjectionStoreError>;

    /// Parks an event the projection gave up on.
    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError>;

    /// The projection's parked events, in position order.
    async fn dead_letters(&self, projection: &str)
    -> Result<Vec<DeadLetter>, ProjectionStoreError>;

    /// Removes a parked event (after a successful replay); whether there
    /// was one.
    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError>;
}

/// The longest lease a store grants: a longer TTL is cut down to it.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// `now + ttl` (clamped to [`MAX_LEASE_TTL`]), saturating.
pub(crate) fn expiry(now: OffsetDateTime, ttl: Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(ttl.min(MAX_LEASE_TTL)).unwrap_or(time::Duration::MAX))
        .unwrap_or(now)
}

#[async_trait::async_trait]
impl<T: ProjectionStateStore + ?Sized> ProjectionStateStore for std::sync::Arc<T> {
    async fn initialize(&self) -> Result<(), ProjectionStoreError> {
        (**self).initialize().await
    }

    async fn load(
        &self,
        projection: &str,
    ) -> Result<Option<ProjectionState>, ProjectionStoreError> {
        (**self).load(projection).await
    }

    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError> {
        (**self).save(state, owner).await
    }

    async fn acquire_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ProjectionStoreError> {
        (**self).acquire_lease(projection, owner, ttl).await
    }

    async fn renew_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), ProjectionStoreError> {
        (**self).renew_lease(projection, owner, ttl).await
    }

    async fn release_lease(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<(), ProjectionStoreError> {
        (**self).release_lease(projection, owner).await
    }

    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError> {
        (**self).park(letter).await
    }

    async fn dead_letters(
        &self,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, ProjectionStoreError> {
        (**self).dead_letters(projection).await
    }

    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError> {
        (**self).remove_dead_letter(projection, position).await
    }
}
