//! Dead letters: listing the events a projection parked, and replaying
//! them once the cause is fixed.

use super::apply::dead_letter;
use super::context::ProjectionMode;
use super::engine::ProjectionEngine;
use super::error::ProjectionError;
use super::page::Page;
use super::state::DeadLetter;
use crate::store::AsyncEventStore;

/// What [`ProjectionEngine::replay_dead_letters`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Parked events applied now (and removed from the dead letters).
    pub replayed: Vec<u64>,
    /// Parked events whose handler failed again (kept, with the new error).
    pub still_failing: Vec<u64>,
}

impl ProjectionEngine {
    /// The events this projection parked, in position order.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        self.state_store
            .dead_letters(&self.name)
            .await
            .map_err(|source| ProjectionError::state(&self.name, source))
    }

    /// Applies every parked event again, in position order (read back from
    /// `store` by position, with the projection's retry policy): each one
    /// that succeeds is removed from the dead letters and counted as
    /// processed; each one that fails again stays parked with the new error
    /// and attempt count.
    pub async fn replay_dead_letters<S>(&self, store: &S) -> Result<ReplayReport, ProjectionError>
    where
        S: AsyncEventStore + ?Sized,
    {
        self.initialize().await?;
        let _applying = self.applying.lock().await;
        let mut report = ReplayReport::default();
        for letter in self.dead_letters().await? {
            let event = store
                .read_all(letter.position, 1)
                .await
                .map_err(|source| ProjectionError::Read {
                    projection: self.name.to_string(),
                    from_position: letter.position,
                    source: Box::new(source),
                })?
                .into_iter()
                .find(|event| event.position == letter.position)
                .ok_or_else(|| ProjectionError::ParkedEventMissing {
                    projection: self.name.to_string(),
                    position: letter.position,
                })?;
            let Some(handler) = self.handlers.get(event.event_type()) else {
                // No handler for it any more: nothing to apply it with.
                report.still_failing.push(letter.position);
                continue;
            };
            let page = Page::begin(self).await?;
            match self
                .apply_one(handler, &event, ProjectionMode::Live, &page)
                .await
            {
                Ok(()) => {
                    let mut state = self.reload_state().await?;
                    state.processed += 1;
                    page.commit(self, &mut state).await?;
                    self.state_store
                        .remove_dead_letter(&self.name, letter.position)
                        .await
                        .map_err(|source| ProjectionError::state(&self.name, source))?;
                    report.replayed.push(letter.position);
                }
                Err(gave_up) => {
                    let attempts = letter.attempts.saturating_add(gave_up.attempts);
                    let error = self.handler_error(&event, attempts, gave_up.source);
                    page.park(self, &dead_letter(&self.name, &event, &error, attempts))
                        .await?;
                    page.commit(self, &mut self.reload_state().await?).await?;
                    report.still_failing.push(letter.position);
                }
            }
        }
        Ok(report)
    }
}
