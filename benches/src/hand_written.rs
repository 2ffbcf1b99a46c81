//! The fair baseline of the in-memory event stores (the `event_store`
//! bench and the `hot_paths` profiling driver): the least a thread-safe
//! in-memory event store with streams, versions and a global order does.
//! A `Mutex<HashMap<String, Vec<E>>>` plus a global `Vec` of each event's
//! (stream, version), the expected version checked. It keeps no metadata,
//! no positions handed back, no limits, and wakes no follower.

use std::collections::HashMap;
use std::sync::Mutex;

/// The hand-written store of events `E` (see the module docs).
#[derive(Debug)]
pub struct HandWritten<E> {
    inner: Mutex<Inner<E>>,
}

#[derive(Debug)]
struct Inner<E> {
    streams: HashMap<String, Vec<E>>,
    /// Every event's (stream, version), in global order.
    log: Vec<(String, u64)>,
}

impl<E> Default for HandWritten<E> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                streams: HashMap::new(),
                log: Vec::new(),
            }),
        }
    }
}

impl<E: Clone> HandWritten<E> {
    /// Appends `events` to `stream` if it is at version `expected`: the new
    /// version, or the current one as the error.
    pub fn save(&self, stream: &str, events: &[E], expected: u64) -> Result<u64, u64> {
        let mut inner = self.inner.lock().expect("lock");
        let Inner { streams, log } = &mut *inner;
        let current = streams.get(stream).map_or(0, Vec::len) as u64;
        if current != expected {
            return Err(current);
        }
        let kept = match streams.get_mut(stream) {
            Some(kept) => kept,
            None => streams.entry(stream.to_owned()).or_default(),
        };
        for (offset, event) in events.iter().enumerate() {
            kept.push(event.clone());
            log.push((stream.to_owned(), current + offset as u64 + 1));
        }
        Ok(kept.len() as u64)
    }

    /// A clone of `stream`'s events (none for an unknown stream).
    pub fn load(&self, stream: &str) -> Vec<E> {
        let inner = self.inner.lock().expect("lock");
        inner.streams.get(stream).cloned().unwrap_or_default()
    }

    /// `fold` applied to `stream`'s events where the store keeps them,
    /// under its lock (the load baseline).
    pub fn fold<T>(&self, stream: &str, fold: impl FnOnce(&[E]) -> T) -> T {
        let inner = self.inner.lock().expect("lock");
        fold(inner.streams.get(stream).map_or(&[], Vec::as_slice))
    }
}
