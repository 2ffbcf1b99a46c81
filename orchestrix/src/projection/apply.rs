//! Applying events: one handler call per event after the checkpoint, with
//! retries, parking or stopping on failure, and the checkpoint saved once
//! per batch.

use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use super::context::{ProjectionContext, ProjectionMode};
use super::engine::{OnFailure, ProjectionEngine};
use super::error::ProjectionError;
use super::handler::ProjectionHandler;
use super::page::Page;
use super::state::{DeadLetter, ProjectionState};
use crate::error::BoxError;
use crate::store::RecordedEvent;

/// A handler that gave up on an event: after how many tries, and why.
pub(super) struct GaveUp {
    pub(super) attempts: u32,
    pub(super) source: BoxError,
}

impl ProjectionEngine {
    /// Applies `events` (in position order) that are after the checkpoint,
    /// then saves the state once. Events at or below the checkpoint are
    /// skipped: applying the same slice twice applies each event once.
    ///
    /// On a handler failure the projection retries, then stops (the
    /// default: the state is saved unhealthy with the checkpoint before the
    /// event, and the error returned) or parks the event and goes on.
    pub async fn process_events(
        &self,
        events: &[RecordedEvent],
    ) -> Result<ProjectionState, ProjectionError> {
        self.check_registration()?;
        let _applying = self.applying.lock().await;
        let mut state = if self.loaded.load(Ordering::Acquire) {
            self.state()
        } else {
            self.reload_state().await?
        };
        let through = events.iter().map(|event| event.position).max().unwrap_or(0);
        self.apply_batch(&mut state, events, through, ProjectionMode::Live)
            .await?;
        Ok(state)
    }

    /// Applies the events after `state`'s checkpoint and moves the
    /// checkpoint to `scanned_through` (everything up to it was considered).
    /// The state is saved once at the end, or at the failure that stops the
    /// projection.
    pub(super) async fn apply_batch(
        &self,
        state: &mut ProjectionState,
        events: &[RecordedEvent],
        scanned_through: u64,
        mode: ProjectionMode,
    ) -> Result<(), ProjectionError> {
        let before = state.clone();
        let page = Page::begin(self).await?;
        for event in events {
            if event.position <= state.position {
                continue;
            }
            let Some(handler) = self.handlers.get(event.event_type()) else {
                state.position = event.position;
                continue;
            };
            match self.apply_one(handler, event, mode, &page).await {
                Ok(()) => {
                    state.processed += 1;
                    state.last_event_position = Some(event.position);
                    state.last_event_id = Some(event.metadata().id);
                    state.healthy = true;
                    state.position = event.position;
                }
                Err(gave_up) => {
                    let error = self.handler_error(event, gave_up.attempts, gave_up.source);
                    tracing::warn!(projection = %self.name, %error, "projection handler failed");
                    state.failed += 1;
                    state.last_error = Some(error.to_string());
                    match self.on_failure {
                        OnFailure::Park => {
                            page.park(
                                self,
                                &dead_letter(&self.name, event, &error, gave_up.attempts),
                            )
                            .await?;
                            state.position = event.position;
                        }
                        OnFailure::Stop => {
                            state.healthy = false;
                            page.commit(self, state).await?;
                            return Err(error);
                        }
                    }
                }
            }
        }
        state.position = state.position.max(scanned_through);
        state.head_position = state.head_position.max(state.position);
        if *state != before {
            page.commit(self, state).await?;
        }
        Ok(())
    }

    /// Runs `handler` on `event`, retrying as the policy allows; each
    /// attempt inside a savepoint of the page's transaction, if any.
    pub(super) async fn apply_one(
        &self,
        handler: &ProjectionHandler,
        event: &RecordedEvent,
        mode: ProjectionMode,
        page: &Page,
    ) -> Result<(), GaveUp> {
        let mut attempt = 1;
        loop {
            let context = ProjectionContext::new(self.name.clone(), mode, attempt, event.clone());
            #[cfg(feature = "postgres")]
            let context = context.with_transaction(page.transaction());
            let outcome = match page.before_attempt().await {
                Ok(()) => handler.call(&context).finish().await,
                Err(error) => Err(error),
            };
            let outcome = match outcome {
                Ok(()) => page.after_success().await,
                Err(error) => page.after_failure().await.and(Err(error)),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(source) if !self.retry.allows_another(attempt) => {
                    return Err(GaveUp {
                        attempts: attempt,
                        source,
                    });
                }
                Err(source) => {
                    tracing::debug!(projection = %self.name, position = event.position, attempt, error = %source, "retrying projection handler");
                    tokio::time::sleep(self.retry.delay_after(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    pub(super) fn handler_error(
        &self,
        event: &RecordedEvent,
        attempts: u32,
        source: BoxError,
    ) -> ProjectionError {
        ProjectionError::Handler {
            projection: self.name.to_string(),
            position: event.position,
            event_type: event.event_type().to_owned(),
            attempts,
            source,
        }
    }

    /// Saves `state` (stamped now) and publishes it to watchers.
    pub(super) async fn save(&self, state: &mut ProjectionState) -> Result<(), ProjectionError> {
        state.updated_at = OffsetDateTime::now_utc();
        self.state_store
            .save(state, &self.owner)
            .await
            .map_err(|source| ProjectionError::state(&self.name, source))?;
        self.state.send_replace(state.clone());
        Ok(())
    }
}

/// The dead letter for `event`, which `projection` gave up on.
pub(super) fn dead_letter(
    projection: &str,
    event: &RecordedEvent,
    error: &ProjectionError,
    attempts: u32,
) -> DeadLetter {
    DeadLetter {
        projection: projection.to_owned(),
        position: event.position,
        stream_id: event.stream_id.to_string(),
        version: event.version,
        event_type: event.event_type().to_owned(),
        event_id: event.metadata().id,
        error: error.to_string(),
        attempts,
        parked_at: OffsetDateTime::now_utc(),
    }
}
