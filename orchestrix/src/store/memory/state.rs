//! The core both in-memory stores share: streams, the global log and
//! snapshots behind one lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ConcurrencyError;
use crate::limits::{self, stored_precision};
use crate::message::AnyEnvelope;
use crate::store::{
    AppendOutcome, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent, Snapshot,
    StoreError, checks,
};

/// Everything an in-memory store holds.
///
/// The global log owns the recorded events in position order (position
/// `p` sits at index `p - 1`); a stream is the list of its events' indexes
/// in the log. One `RwLock` guards it all, so an append is checked and
/// written under one write lock: all-or-nothing, and the global order is the
/// commit order (no reader can see position `p + 1` before `p`).
///
/// `head` publishes the last position after every append, so followers
/// waiting in [`wait_for_append`](Self::wait_for_append) wake at once.
#[derive(Debug)]
pub(super) struct MemoryState {
    inner: RwLock<Inner>,
    head: watch::Sender<u64>,
}

impl Default for MemoryState {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            head: watch::Sender::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    streams: HashMap<String, Vec<usize>>,
    snapshots: HashMap<String, Snapshot>,
    /// Whether any event was imported in its stored form: only then do
    /// reads look for events to decode.
    imported: bool,
}

impl MemoryState {
    pub(super) fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        // Checked before the lock: what PostgreSQL could not keep is refused
        // here too, with the same error.
        checks::append(aggregate_id, events)?;
        let mut inner = self.write();
        let Inner { log, streams, .. } = &mut *inner;
        let current = streams.get(aggregate_id).map_or(0, |s| s.len() as u64);
        if let Some(expected) = expected_version
            && expected != current
        {
            return Err(ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected,
                actual: current,
            }
            .into());
        }
        if events.is_empty() {
            return Ok(AppendOutcome {
                new_version: current,
                positions: Vec::new(),
            });
        }
        let recorded_at = limits::now();
        // The key is allocated only for a new stream (an empty append
        // creates none, so an existing stream has version >= 1).
        let stream = match current {
            0 => streams.entry(aggregate_id.to_owned()).or_default(),
            _ => streams
                .get_mut(aggregate_id)
                .ok_or_else(|| StoreError::Backend {
                    operation: format!("append to stream `{aggregate_id}`"),
                    source: "the in-memory stream vanished while locked".into(),
                })?,
        };
        // Every event of a stream shares one allocation of its id.
        let stream_id: Arc<str> = match stream.first() {
            Some(&first) => Arc::clone(&log[first].stream_id),
            None => Arc::from(aggregate_id),
        };
        let mut positions = Vec::with_capacity(events.len());
        for (offset, envelope) in events.iter().enumerate() {
            let index = log.len();
            let position = index as u64 + 1;
            log.push(RecordedEvent {
                stream_id: Arc::clone(&stream_id),
                version: current + offset as u64 + 1,
                position,
                recorded_at,
                envelope: envelope.clone(),
            });
            stream.push(index);
            positions.push(position);
        }
        // Published while the write lock is held, so the head only grows.
        // With no follower waiting, the value is only stored: waking
        // nobody still costs a lock per shard of the watch's notifier,
        // more than the rest of a one-event save. A follower subscribes
        // under the read lock (see `wait_for_append`), so it either counts
        // here or sees this head when it looks.
        let head = log.len() as u64;
        if self.head.receiver_count() == 0 {
            self.head.send_if_modified(|current| {
                *current = head;
                false
            });
        } else {
            self.head.send_replace(head);
        }
        Ok(AppendOutcome {
            new_version: stream.len() as u64,
            positions,
        })
    }

    pub(super) fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.load_range(aggregate_id, from_version, u64::MAX)
    }

    /// The events with `from_version <= version <= to_version`: only those
    /// are cloned.
    pub(super) fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        checks::stream_id(aggregate_id)?;
        let inner = self.read();
        let Some(stream) = inner.streams.get(aggregate_id) else {
            return Ok(Vec::new());
        };
        // Version v sits at index v - 1 of the stream.
        let skip = usize::try_from(from_version.saturating_sub(1)).unwrap_or(usize::MAX);
        let end = usize::try_from(to_version)
            .unwrap_or(usize::MAX)
            .min(stream.len());
        let wanted = stream.get(skip..end).unwrap_or_default();
        let mut events = Vec::with_capacity(wanted.len());
        events.extend(
            wanted
                .iter()
                .filter_map(|&index| inner.log.get(index).cloned()),
        );
        let imported = inner.imported;
        drop(inner);
        decode_imported(imported, events, None)
    }

    pub(super) fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (events, imported) = self.read_all_as_kept(from_position, limit);
        decode_imported(imported, events, None)
    }

    /// The events as kept (imported ones undecoded), and whether any event
    /// was imported.
    fn read_all_as_kept(&self, from_position: u64, limit: usize) -> (Vec<RecordedEvent>, bool) {
        let inner = self.read();
        let start = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let events = inner.log.iter().skip(start).take(limit).cloned().collect();
        (events, inner.imported)
    }

    /// Appends events in their stored form, decoded when read.
    pub(super) fn import(
        &self,
        aggregate_id: &str,
        events: &[crate::evolution::StoredEvent],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        let envelopes = events
            .iter()
            .map(|event| {
                let payload = crate::evolution::StoredPayload::new(event).map_err(|source| {
                    StoreError::Serialize {
                        stream_id: aggregate_id.to_owned(),
                        event_type: event.event_type.clone(),
                        source,
                    }
                })?;
                Ok(AnyEnvelope::from_parts(
                    Arc::new(payload),
                    Arc::new(event.metadata.clone()),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Set before the rows exist, so no read can see them undecoded.
        self.write().imported = true;
        self.save(aggregate_id, &envelopes, expected_version)
    }

    /// At most `limit` events of types `filter` lets through, from
    /// `from_position` on. Events of other types are looked at by name only,
    /// never cloned.
    pub(super) fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        let inner = self.read();
        let start = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let mut scanned_through = from_position.saturating_sub(1);
        let mut events = Vec::new();
        // Imported rows may be stored under an alias, or split into a
        // wanted type: the widened filter fetches them, the decoded events
        // are filtered again.
        let stored = if inner.imported {
            crate::evolution::stored_filter(filter)
        } else {
            None
        };
        let fetch = stored.as_ref().unwrap_or(filter);
        if limit > 0 {
            for event in inner.log.iter().skip(start) {
                scanned_through = event.position;
                if fetch.matches(event.event_type()) {
                    events.push(event.clone());
                    if events.len() == limit {
                        break;
                    }
                }
            }
        }
        let imported = inner.imported;
        drop(inner);
        Ok(GlobalPage {
            events: decode_imported(imported, events, Some(filter))?,
            scanned_through,
        })
    }

    /// Waits until the head passes `after_position`, or `max_wait` elapsed.
    pub(super) async fn wait_for_append(&self, after_position: u64, max_wait: Duration) {
        // Subscribed under the read lock: no save is between counting the
        // receivers and storing its head (see `save`).
        let mut head = {
            let _appends_wait = self.read();
            self.head.subscribe()
        };
        // `wait_for` looks at the current head first, so an append between
        // subscribing and waiting is not missed.
        let _ = tokio::time::timeout(max_wait, head.wait_for(|&head| head > after_position)).await;
    }

    /// The events from `from_position` on, serialized as a store that
    /// keeps rows would keep them.
    pub(super) fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.read_all_as_kept(from_position, limit)
            .0
            .iter()
            .map(RawRecordedEvent::from_recorded)
            .collect()
    }

    pub(super) fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        checks::stream_id(aggregate_id)?;
        Ok(self
            .read()
            .streams
            .get(aggregate_id)
            .map_or(0, |stream| stream.len() as u64))
    }

    /// Keeps `snapshot` unless the stream already has a newer one: a slow
    /// writer finishing late must not roll the snapshot back. Its time is
    /// kept at the precision every store keeps.
    pub(super) fn save_snapshot(&self, mut snapshot: Snapshot) -> Result<(), StoreError> {
        checks::snapshot(&snapshot)?;
        snapshot.taken_at = stored_precision(snapshot.taken_at);
        let mut inner = self.write();
        match inner.snapshots.get_mut(&snapshot.aggregate_id) {
            Some(kept) if kept.version > snapshot.version => {}
            Some(kept) => *kept = snapshot,
            None => {
                inner
                    .snapshots
                    .insert(snapshot.aggregate_id.clone(), snapshot);
            }
        }
        Ok(())
    }

    pub(super) fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        checks::stream_id(aggregate_id)?;
        Ok(self.read().snapshots.get(aggregate_id).cloned())
    }

    // A panic while the lock is held cannot leave half an append behind
    // (appends only push after every check passed), so a poisoned lock
    // still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `events` with imported (stored-form) ones decoded; untouched when the
/// store never imported anything.
fn decode_imported(
    imported: bool,
    events: Vec<RecordedEvent>,
    filter: Option<&EventTypeFilter>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if imported {
        crate::evolution::expand_stored(events, filter)
    } else {
        Ok(events)
    }
}
