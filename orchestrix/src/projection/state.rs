//! What a projection's state store keeps about it: the checkpoint, counts
//! and health.

use time::OffsetDateTime;
use uuid::Uuid;

/// The state of one projection.
///
/// The checkpoint ([`position`](Self::position)) says how far the
/// projection has got: every event at or below it was applied (or parked as
/// a dead letter, or is of a type the projection does not handle), none
/// above it. An event at or below the checkpoint is never applied again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectionState {
    /// The projection's name.
    pub name: String,
    /// The checkpoint: the global position everything up to was handled.
    pub position: u64,
    /// The position of the last event a handler applied.
    pub last_event_position: Option<u64>,
    /// The id (metadata `id`) of the last event a handler applied.
    pub last_event_id: Option<Uuid>,
    /// How many events the handlers applied.
    pub processed: u64,
    /// How many handler failures there were (each failed attempt counts).
    pub failed: u64,
    /// False once the projection stopped on an error, until it runs again
    /// and applies an event.
    pub healthy: bool,
    /// The last error, as text.
    pub last_error: Option<String>,
    /// The highest position the projection has seen in the store: the head
    /// when it last looked.
    pub head_position: u64,
    /// When the state last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ProjectionState {
    /// A projection that has handled nothing yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            position: 0,
            last_event_position: None,
            last_event_id: None,
            processed: 0,
            failed: 0,
            healthy: true,
            last_error: None,
            head_position: 0,
            updated_at: OffsetDateTime::now_utc(),
        }
    }

    /// How far behind the store the projection is: the head position it
    /// last saw minus its checkpoint.
    ///
    /// ```
    /// use orchestrix::projection::ProjectionState;
    ///
    /// let mut state = ProjectionState::new("order-summary");
    /// state.head_position = 10;
    /// state.position = 7;
    /// assert_eq!(state.lag(), 3);
    /// ```
    pub fn lag(&self) -> u64 {
        self.head_position.saturating_sub(self.position)
    }
}

/// A event a projection gave up on: parked, so the projection could go on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// The projection that failed on it.
    pub projection: String,
    /// The event's global position (how to read it again).
    pub position: u64,
    /// The event's stream.
    pub stream_id: String,
    /// The event's version in its stream.
    pub version: u64,
    /// The event's registered name.
    pub event_type: String,
    /// The event's id (metadata `id`).
    pub event_id: Uuid,
    /// The last error, as text.
    pub error: String,
    /// How many times the handler ran.
    pub attempts: u32,
    /// When it was parked.
    #[serde(with = "time::serde::rfc3339")]
    pub parked_at: OffsetDateTime,
}
