//! Running a projection: hold its lease, catch up from the checkpoint,
//! follow the store live until shut down; and rebuilding it.

use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{Fuse, FusedFuture};
use tokio::time::Instant;

use super::context::ProjectionMode;
use super::engine::ProjectionEngine;
use super::error::ProjectionError;
use super::state::ProjectionState;
use super::store::LeaseOutcome;
use crate::store::{AsyncEventStore, EventTypeFilter, StoreError};

/// When a follow loop returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// At the shutdown signal; live until then.
    Shutdown,
    /// Once nothing more is readable (a rebuild).
    CaughtUp,
}

type Shutdown<'a, F> = Pin<&'a mut Fuse<F>>;

impl ProjectionEngine {
    /// Runs the projection: takes its lease (waiting while another runner
    /// holds it, and taking over when that runner's lease runs out), catches
    /// up from the checkpoint, then follows the store live (woken by
    /// appends, see [`AsyncEventStore::wait_for_append`]) until `shutdown`
    /// completes. Returns the last state.
    ///
    /// Stops with an error when a handler fails and the projection stops on
    /// failure, when the store cannot be read (an event that does not
    /// decode, a lost connection), when the checkpoint is ahead of the
    /// store, or when the lease was lost; the state saved says so
    /// (unhealthy, with the error).
    pub async fn run<S>(
        &self,
        store: &S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<ProjectionState, ProjectionError>
    where
        S: AsyncEventStore + ?Sized,
    {
        self.initialize().await?;
        let mut shutdown = pin!(shutdown.fuse());
        if !self.acquire_lease(shutdown.as_mut()).await? {
            return Ok(self.state());
        }
        let outcome = self
            .follow(store, shutdown, ProjectionMode::Live, Until::Shutdown)
            .await;
        self.release_lease().await;
        outcome
    }

    /// Rebuilds the read model: takes the lease (waiting for a running
    /// runner), runs the [`on_reset`](Self::on_reset) hooks, resets the
    /// checkpoint to 0 and replays every event up to the store's head with
    /// [`ProjectionMode::Rebuild`]. Dead letters are kept. Call
    /// [`run`](Self::run) afterwards to follow the store live.
    pub async fn rebuild<S>(&self, store: &S) -> Result<ProjectionState, ProjectionError>
    where
        S: AsyncEventStore + ?Sized,
    {
        self.initialize().await?;
        let mut never = pin!(futures::future::pending::<()>().fuse());
        self.acquire_lease(never.as_mut()).await?;
        for reset in &self.reset_hooks {
            reset().await;
        }
        let outcome = async {
            let mut fresh = ProjectionState::new(self.name.to_string());
            {
                let _applying = self.applying.lock().await;
                self.save(&mut fresh).await?;
            }
            self.follow(store, never, ProjectionMode::Rebuild, Until::CaughtUp)
                .await
        }
        .await;
        self.release_lease().await;
        outcome
    }

    /// Takes the lease, waiting while another runner holds it; `false` if
    /// `shutdown` came first.
    async fn acquire_lease<F: Future<Output = ()>>(
        &self,
        mut shutdown: Shutdown<'_, F>,
    ) -> Result<bool, ProjectionError> {
        loop {
            let outcome = self
                .state_store
                .acquire_lease(&self.name, &self.owner, self.lease_ttl)
                .await
                .map_err(|source| ProjectionError::state(&self.name, source))?;
            let LeaseOutcome::Held { owner, expires_at } = outcome else {
                return Ok(true);
            };
            tracing::debug!(projection = %self.name, holder = %owner, %expires_at, "projection is held by another runner; waiting");
            // Try again when the holder's lease runs out (if it died), or
            // sooner; the holder renews well before.
            let until_expiry = Duration::try_from(expires_at - time::OffsetDateTime::now_utc())
                .unwrap_or_default()
                .clamp(Duration::from_millis(10), self.renew_every());
            tokio::select! {
                () = &mut shutdown => return Ok(false),
                () = tokio::time::sleep(until_expiry) => {}
            }
        }
    }

    async fn release_lease(&self) {
        if let Err(error) = self
            .state_store
            .release_lease(&self.name, &self.owner)
            .await
        {
            tracing::warn!(projection = %self.name, %error, "could not release the projection's lease; it expires on its own");
        }
    }

    fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// Reads pages after the checkpoint and applies them, until `until`.
    async fn follow<S, F>(
        &self,
        store: &S,
        mut shutdown: Shutdown<'_, F>,
        mode: ProjectionMode,
        until: Until,
    ) -> Result<ProjectionState, ProjectionError>
    where
        S: AsyncEventStore + ?Sized,
        F: Future<Output = ()>,
    {
        // Another runner may have moved the checkpoint before we got the lease.
        let mut state = self.reload_state().await?;
        self.check_not_ahead(store, &mut state).await?;
        if !state.healthy {
            state.healthy = true;
            self.save(&mut state).await?;
        }
        let filter = self.event_types();
        let mut renewed_at = Instant::now();
        loop {
            if shutdown.is_terminated() || shutdown.as_mut().now_or_never().is_some() {
                return Ok(state);
            }
            if renewed_at.elapsed() >= self.renew_every() {
                self.state_store
                    .renew_lease(&self.name, &self.owner, self.lease_ttl)
                    .await
                    .map_err(|source| ProjectionError::state(&self.name, source))?;
                renewed_at = Instant::now();
            }
            let from = state.position + 1;
            let page = match store
                .read_all_filtered(from, self.batch_size, &filter)
                .await
            {
                Ok(page) => page,
                Err(source) => return Err(self.read_failed(&mut state, from, source).await),
            };
            let caught_up = page.scanned_through < from;
            {
                let _applying = self.applying.lock().await;
                self.apply_batch(&mut state, &page.events, page.scanned_through, mode)
                    .await?;
            }
            if !caught_up {
                continue;
            }
            if until == Until::CaughtUp {
                return Ok(state);
            }
            let max_wait = self.max_wait.min(self.renew_every());
            tokio::select! {
                () = &mut shutdown => return Ok(state),
                waited = store.wait_for_append(state.position, max_wait) => {
                    if let Err(source) = waited {
                        return Err(self.read_failed(&mut state, from, source).await);
                    }
                }
            }
        }
    }

    /// Refuses to run when nothing is readable at or after the checkpoint
    /// (a store restored from an older backup): it would silently skip the
    /// events that will take those positions again. Also notes the head.
    async fn check_not_ahead<S: AsyncEventStore + ?Sized>(
        &self,
        store: &S,
        state: &mut ProjectionState,
    ) -> Result<(), ProjectionError> {
        if state.position == 0 {
            return Ok(());
        }
        let nothing = EventTypeFilter::only(Vec::<String>::new());
        let page = match store.read_all_filtered(state.position, 1, &nothing).await {
            Ok(page) => page,
            Err(source) => return Err(self.read_failed(state, state.position, source).await),
        };
        if page.scanned_through < state.position {
            let error = ProjectionError::CheckpointAhead {
                projection: self.name.to_string(),
                checkpoint: state.position,
            };
            self.mark_unhealthy(state, &error).await;
            return Err(error);
        }
        state.head_position = state.head_position.max(page.scanned_through);
        Ok(())
    }

    async fn read_failed(
        &self,
        state: &mut ProjectionState,
        from_position: u64,
        source: StoreError,
    ) -> ProjectionError {
        let error = ProjectionError::Read {
            projection: self.name.to_string(),
            from_position,
            source: Box::new(source),
        };
        self.mark_unhealthy(state, &error).await;
        error
    }

    /// Saves the state as unhealthy with `error`; if even that fails, the
    /// original error is still what the caller returns (and this is logged).
    async fn mark_unhealthy(&self, state: &mut ProjectionState, error: &ProjectionError) {
        tracing::error!(projection = %self.name, %error, "projection stopped");
        state.healthy = false;
        state.last_error = Some(error.to_string());
        if let Err(save_error) = self.save(state).await {
            tracing::error!(projection = %self.name, error = %save_error, "could not record the projection's failure");
        }
    }
}
