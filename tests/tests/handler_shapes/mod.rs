//! Handler shapes seen in real code, as `#[event_handler]` `async fn`s
//! that await something: a tokio `Mutex` lock, a bounded `mpsc` send, a
//! `yield_now`, and a lock held across a send. Shared by the tests of
//! what their futures take (`bus_future_sizes`) and allocate
//! (`bus_allocations`).

use std::sync::atomic::{AtomicU64, Ordering};

use orchestrix::prelude::*;
use tokio::sync::{Mutex, mpsc};

#[derive(Event, Debug, Serialize, Deserialize)]
pub struct Ordered {
    pub amount: u64,
}

/// A running total behind a tokio `Mutex`.
pub type Total = Mutex<u64>;
/// Where handlers forward amounts.
pub type Forward = mpsc::Sender<u64>;
/// How many calls went past their `yield_now`.
pub type Yielded = AtomicU64;

/// Awaits a lock, then adds.
#[event_handler]
pub async fn add_under_lock(event: &Ordered, total: Dep<Total>) {
    *total.lock().await += event.amount;
}

/// Awaits room in a bounded channel, then sends.
#[event_handler]
pub async fn forward(
    event: &Ordered,
    sender: Dep<Forward>,
) -> Result<(), mpsc::error::SendError<u64>> {
    sender.send(event.amount).await
}

/// Yields to the scheduler once, then counts.
#[event_handler]
pub async fn yield_then_count(event: &Ordered, yielded: Dep<Yielded>) {
    tokio::task::yield_now().await;
    yielded.fetch_add(event.amount, Ordering::Relaxed);
}

/// Holds the lock across a send: two awaits' state in one future.
#[event_handler]
pub async fn forward_under_lock(
    event: &Ordered,
    total: Dep<Total>,
    sender: Dep<Forward>,
) -> Result<(), mpsc::error::SendError<u64>> {
    let mut total = total.lock().await;
    *total += event.amount;
    sender.send(*total).await
}
