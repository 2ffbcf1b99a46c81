//! The core both in-memory stores share: streams, the global log and
//! snapshots behind one lock.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use time::PrimitiveDateTime;
use tokio::sync::watch;

use super::kept::{Kept, Lost, Tables};
use crate::error::ConcurrencyError;
use crate::limits::{self, SecondCache, stored_precision};
use crate::message::AnyEnvelope;
use crate::store::{
    AppendOutcome, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent, ReplayedEvent,
    Snapshot, StoreError, checks, replay_messages, replay_recorded,
};

/// Everything an in-memory store holds.
///
/// The global log owns the kept events in position order (position `p`
/// sits at index `p - 1`), each in the compact form of [`Kept`], built
/// back into a [`RecordedEvent`] when read; a stream is the list of its
/// events' indexes in the log. One `RwLock` guards it all, so an append is
/// checked and written under one write lock: all-or-nothing, and the global
/// order is the commit order (no reader can see position `p + 1` before
/// `p`).
///
/// `head` publishes the last position after every append while a follower
/// waits in [`wait_for_append`](Self::wait_for_append), so it wakes at once.
#[derive(Debug)]
pub(super) struct MemoryState {
    inner: RwLock<Inner>,
    /// The last position: equal to the log's length while any receiver
    /// exists (every save publishes it then). With none it may lag behind;
    /// `wait_for_append` brings it up to the log under the read lock
    /// before subscribing.
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
    log: Vec<Kept>,
    streams: HashMap<String, Stream>,
    /// Each stream's id, by stream number: every event of a stream shares
    /// this one allocation of its id.
    ids: Vec<Arc<str>>,
    /// The sources other than the default one, and the metadata of the
    /// events whose metadata is not compact.
    tables: Tables,
    snapshots: HashMap<String, Snapshot>,
    /// Whether any event was imported in its stored form: only then do
    /// reads look for events to decode.
    imported: bool,
    /// The clock every append reads its `recorded_at` from, under the
    /// write lock (so `recorded_at` never goes back along the log while the
    /// system clock does not).
    clock: SecondCache,
}

/// One stream: its number (its id's index in `Inner::ids`) and its events'
/// indexes in the log.
#[derive(Debug)]
struct Stream {
    number: u32,
    events: Vec<u32>,
}

impl Stream {
    /// The log indexes of its events with `from_version <= version <=
    /// to_version` (version v sits at index v - 1 of `events`).
    fn indexes(&self, from_version: u64, to_version: u64) -> &[u32] {
        let skip = usize::try_from(from_version.saturating_sub(1)).unwrap_or(usize::MAX);
        let end = usize::try_from(to_version)
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        self.events.get(skip..end).unwrap_or_default()
    }
}

impl Inner {
    /// The event at `index` of the log, as a store hands it out.
    fn recorded(&self, index: usize) -> Result<RecordedEvent, StoreError> {
        let position = index as u64 + 1;
        let lost = |what: Lost| what.while_doing(format!("read global position {position}"));
        let kept = self.log.get(index).ok_or_else(|| lost(Lost::Event))?;
        let stream_id = self
            .ids
            .get(kept.stream as usize)
            .ok_or_else(|| lost(Lost::StreamId))?;
        kept.recorded(stream_id, index, &self.tables)
    }

    /// The kept event at log `index`, one of stream `aggregate_id`'s.
    fn kept_of_stream(&self, aggregate_id: &str, index: u32) -> Result<&Kept, StoreError> {
        self.log
            .get(index as usize)
            .ok_or_else(|| Lost::Event.reading(aggregate_id, u64::from(index) + 1))
    }
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
        let Inner {
            log,
            streams,
            ids,
            tables,
            clock,
            ..
        } = &mut *inner;
        room_for(aggregate_id, log.len(), events.len())?;
        let stream = match streams.get_mut(aggregate_id) {
            Some(stream) => {
                check_version(aggregate_id, expected_version, stream.events.len() as u64)?;
                if events.is_empty() {
                    return Ok(AppendOutcome {
                        new_version: stream.events.len() as u64,
                        positions: Vec::new(),
                    });
                }
                stream
            }
            None => {
                check_version(aggregate_id, expected_version, 0)?;
                // An empty append creates no stream.
                if events.is_empty() {
                    return Ok(AppendOutcome {
                        new_version: 0,
                        positions: Vec::new(),
                    });
                }
                // Every stream holds an event, so there are fewer streams
                // than events, which `room_for` bounded: fits a `u32`.
                let number = ids.len() as u32;
                ids.push(Arc::from(aggregate_id));
                streams.entry(aggregate_id.to_owned()).or_insert(Stream {
                    number,
                    events: Vec::new(),
                })
            }
        };
        // Never more than the whole log, checked above: fits a `u32`.
        let current = stream.events.len();
        let now = clock.now();
        let recorded_at = PrimitiveDateTime::new(now.date(), now.time());
        let mut positions = Vec::with_capacity(events.len());
        log.reserve(events.len());
        stream.events.reserve(events.len());
        for (offset, envelope) in (current + 1..).zip(events) {
            let index = log.len();
            log.push(Kept::new(
                envelope,
                aggregate_id,
                stream.number,
                offset as u32,
                index,
                recorded_at,
                tables,
            ));
            stream.events.push(index as u32);
            positions.push(index as u64 + 1);
        }
        // Published while the write lock is held, so the head only grows,
        // and only to followers waiting: with none, even storing the value
        // costs the watch's own lock, a good part of a one-event save. A
        // follower brings the head up to date and subscribes under the
        // read lock (see `wait_for_append`), so it either counts here or
        // sees this append when it looks.
        if self.head.receiver_count() > 0 {
            self.head.send_replace(log.len() as u64);
        }
        Ok(AppendOutcome {
            new_version: stream.events.len() as u64,
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
    /// are built.
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
        let stream_id = inner
            .ids
            .get(stream.number as usize)
            .ok_or_else(|| vanished(aggregate_id))?;
        let wanted = stream.indexes(from_version, to_version);
        let mut events = Vec::with_capacity(wanted.len());
        for &index in wanted {
            let kept = inner.kept_of_stream(aggregate_id, index)?;
            events.push(kept.recorded(stream_id, index as usize, &inner.tables)?);
        }
        let imported = inner.imported;
        drop(inner);
        decode_imported(imported, events, None)
    }

    /// Hands the events with `from_version <= version <= to_version` to
    /// `apply` until it breaks: no `RecordedEvent`, no metadata built.
    ///
    /// Under the read lock it only takes each kept message's `Arc` (one
    /// reference count per event) with its version; it calls `apply` after
    /// releasing the lock, so `apply` (an aggregate's `#[apply]` code) may
    /// use the store, and no writer waits for it. A store with imported
    /// events replays what [`load_range`](Self::load_range) decodes instead.
    pub(super) fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut dyn FnMut(ReplayedEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        checks::stream_id(aggregate_id)?;
        let inner = self.read();
        if inner.imported {
            drop(inner);
            let events = self.load_range(aggregate_id, from_version, to_version)?;
            replay_recorded(&events, apply);
            return Ok(());
        }
        let Some(stream) = inner.streams.get(aggregate_id) else {
            return Ok(());
        };
        let wanted = stream.indexes(from_version, to_version);
        let mut messages = Vec::with_capacity(wanted.len());
        for &index in wanted {
            let kept = inner.kept_of_stream(aggregate_id, index)?;
            messages.push((kept.version(), kept.shared_message()));
        }
        drop(inner);
        replay_messages(&messages, apply);
        Ok(())
    }

    pub(super) fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (events, imported) = self.read_all_as_kept(from_position, limit)?;
        decode_imported(imported, events, None)
    }

    /// The events as kept (imported ones undecoded), and whether any event
    /// was imported.
    fn read_all_as_kept(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<(Vec<RecordedEvent>, bool), StoreError> {
        let inner = self.read();
        let start = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let end = start.saturating_add(limit).min(inner.log.len());
        let events = (start..end)
            .map(|index| inner.recorded(index))
            .collect::<Result<_, _>>()?;
        Ok((events, inner.imported))
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
    /// never built.
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
            for index in start..inner.log.len() {
                scanned_through = index as u64 + 1;
                if fetch.matches(inner.log[index].event_type()) {
                    events.push(inner.recorded(index)?);
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
        // Under the read lock no save runs: the head is brought up to the
        // log (saves with no follower waiting do not publish it), and the
        // follower subscribes before any later save counts the receivers.
        let mut head = {
            let inner = self.read();
            let last = inner.log.len() as u64;
            self.head.send_if_modified(|head| {
                let behind = *head < last;
                if behind {
                    *head = last;
                }
                behind
            });
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
        self.read_all_as_kept(from_position, limit)?
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
            .map_or(0, |stream| stream.events.len() as u64))
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

/// Refuses an append whose expected version is not the stream's `current`
/// one.
fn check_version(
    aggregate_id: &str,
    expected_version: Option<u64>,
    current: u64,
) -> Result<(), StoreError> {
    match expected_version {
        Some(expected) if expected != current => Err(ConcurrencyError {
            aggregate_id: aggregate_id.to_owned(),
            expected,
            actual: current,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Refuses an append of `adding` events to a log of `log_len` that would
/// hold more than `u32::MAX` events: versions and log indexes are kept as
/// `u32`s (4 billion events, far more than memory holds). Checked before
/// anything is written.
fn room_for(aggregate_id: &str, log_len: usize, adding: usize) -> Result<(), StoreError> {
    match log_len.checked_add(adding).map(u32::try_from) {
        Some(Ok(_)) => Ok(()),
        _ => Err(StoreError::Backend {
            operation: format!("append to stream `{}`", limits::shorten(aggregate_id)),
            source: "the in-memory store keeps at most 2^32 - 1 events in all".into(),
        }),
    }
}

/// The error for a stream whose id is missing from the store: it cannot
/// happen (ids are only ever added), but is an error, not a panic.
fn vanished(aggregate_id: &str) -> StoreError {
    Lost::StreamId.while_doing(format!("read stream `{}`", limits::shorten(aggregate_id)))
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

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = u32::MAX as usize;

    /// The log may hold up to `u32::MAX` events, not one more, and an
    /// overflowing count is refused too.
    #[test]
    fn the_log_has_room_for_u32_max_events_and_no_more() {
        assert!(room_for("s", MAX - 2, 1).is_ok(), "u32::MAX - 1 in all");
        assert!(room_for("s", MAX - 1, 1).is_ok(), "u32::MAX in all");
        assert!(room_for("s", MAX, 0).is_ok(), "an empty append");
        let refused = room_for("s", MAX, 1).expect_err("u32::MAX + 1 in all");
        assert!(refused.to_string().contains("stream `s`"), "{refused}");
        assert!(room_for("s", 1, MAX).is_err());
        assert!(room_for("s", usize::MAX, 1).is_err(), "no overflow");
    }
}
