//! [`InMemorySagaStateStore`]: sagas kept in a map, for tests and
//! single-process programs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use crate::limits::{SecondCache, stored_precision};

use super::change::SagaChange;
use super::checks::{self, at_stored_precision};
use super::error::SagaStoreError;
use super::state::{Lease, SagaState};
use super::store::{
    CreateOutcome, LeaseOutcome, SagaStateStore, clamp_ttl, expiry, expiry_from_now,
};

/// A [`SagaStateStore`] in memory. Every operation takes one lock, so
/// creates and lease changes are atomic.
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::saga::{InMemorySagaStateStore, SagaStateStore};
///
/// let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct InMemorySagaStateStore {
    sagas: Mutex<Sagas>,
    /// How many `save_change` calls took the fast path (wrote only the
    /// named parts), so a test fails if every change falls back to a
    /// whole write.
    #[cfg(test)]
    fast_writes: std::sync::atomic::AtomicUsize,
    /// How many writes came through `save_change_at_once`, so a test fails
    /// if the executor stops using it.
    #[cfg(test)]
    at_once_writes: std::sync::atomic::AtomicUsize,
    /// How many releases came through `release_lease_at_once`, so a test
    /// fails if the executor stops using it.
    #[cfg(test)]
    at_once_releases: std::sync::atomic::AtomicUsize,
}

/// The kept states, each in a slot of its own, found by id; and the slot
/// found last. A run writes its saga's state after every transition, so
/// the next write is most often to the slot found last: comparing its id
/// costs less than hashing the id.
#[derive(Debug, Default)]
struct Sagas {
    /// The slot of each id.
    index: HashMap<String, usize>,
    /// The states, never removed, so a slot's position does not change.
    slots: Vec<Kept>,
    /// The slot found last (`0` when there is none: an id compare then
    /// fails on an empty `slots` or finds slot 0's own id).
    last: usize,
    /// How many lookups found their id in the slot found last, so a test
    /// fails if the slot found last stops being kept.
    #[cfg(test)]
    hits: usize,
}

impl Sagas {
    /// The slot of `id`, trying the slot found last first.
    fn slot(&mut self, id: &str) -> Option<usize> {
        if self
            .slots
            .get(self.last)
            .is_some_and(|kept| kept.state.saga_id == id)
        {
            // Slot `i` holds the state whose id maps to `i`: states are
            // never removed, nor their ids changed.
            debug_assert_eq!(self.index.get(id), Some(&self.last));
            #[cfg(test)]
            {
                self.hits += 1;
            }
            return Some(self.last);
        }
        let slot = *self.index.get(id)?;
        self.last = slot;
        Some(slot)
    }

    fn get(&mut self, id: &str) -> Option<&Kept> {
        let slot = self.slot(id)?;
        self.slots.get(slot)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Kept> {
        let slot = self.slot(id)?;
        self.slots.get_mut(slot)
    }

    fn values(&self) -> impl Iterator<Item = &Kept> {
        self.slots.iter()
    }

    /// Keeps what `make` gives under `id` if no state has that id: the
    /// new kept state, or the existing one as the error.
    fn insert_if_absent(
        &mut self,
        id: String,
        make: impl FnOnce() -> Kept,
    ) -> Result<&Kept, &Kept> {
        match self.index.entry(id) {
            Entry::Occupied(existing) => Err(&self.slots[*existing.get()]),
            Entry::Vacant(vacant) => {
                // The slot is filled before the index names it, so the
                // index never names a slot that does not exist (should
                // `make` panic, neither has changed).
                let slot = self.slots.len();
                self.slots.push(make());
                vacant.insert(slot);
                self.last = slot;
                Ok(&self.slots[slot])
            }
        }
    }

    /// Keeps `kept`, in place of a state with its id.
    fn put(&mut self, kept: Kept) {
        match self.index.entry(kept.state.saga_id.clone()) {
            Entry::Occupied(existing) => self.slots[*existing.get()] = kept,
            Entry::Vacant(vacant) => {
                vacant.insert(self.slots.len());
                self.slots.push(kept);
            }
        }
    }
}

/// A stored state, and whether its JSON passed the checks every store
/// applies (a state written through this store did; one handed to
/// [`InMemorySagaStateStore::with_states`] was not checked).
#[derive(Debug)]
struct Kept {
    state: SagaState,
    checked: bool,
    /// The second of the last lease expiry set, reused by the next (a
    /// run writes its saga's state many times a second).
    clock: SecondCache,
}

impl Kept {
    fn new(state: SagaState, checked: bool) -> Self {
        Self {
            state,
            checked,
            clock: SecondCache::default(),
        }
    }

    /// Pushes the lease's expiry (if there is a lease) to now + `ttl`, as
    /// [`expiry_from_now`] gives it; or, for a write the executor read the
    /// clock for ([`SagaChange::reading`]), to that reading + `ttl`: the
    /// same process's clock read a moment earlier (the executor reads it
    /// after the instant its run counts the lease as confirmed, so the
    /// expiry is no sooner than that confirmation plus the TTL, to the
    /// stored precision: the reading and the sum are both cut to whole
    /// microseconds, so up to 1 µs sooner, which the run's safety margin
    /// covers), which saves a reading per write.
    fn renew(&mut self, ttl: Duration, read_at: Option<OffsetDateTime>) {
        if let Some(lease) = &mut self.state.lease {
            lease.expires_at = match read_at {
                Some(at) => stored_precision(expiry(at, ttl)),
                None => self.clock.now_plus(clamp_ttl(ttl)),
            };
        }
    }
}

impl InMemorySagaStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `states` (e.g. read back from a file).
    pub fn with_states(states: impl IntoIterator<Item = SagaState>) -> Self {
        let mut sagas = Sagas::default();
        for state in states {
            sagas.put(Kept::new(state, false));
        }
        Self {
            sagas: Mutex::new(sagas),
            #[cfg(test)]
            fast_writes: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            at_once_writes: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            at_once_releases: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Every stored state, sorted by creation time then id.
    pub fn states(&self) -> Vec<SagaState> {
        let mut states: Vec<_> = self
            .lock()
            .values()
            .map(|kept| kept.state.clone())
            .collect();
        states.sort_by(|a, b| (a.created_at, &a.saga_id).cmp(&(b.created_at, &b.saga_id)));
        states
    }

    /// `create` and `create_owned`: stores `state` leased to `owner` if no
    /// saga has its id. A borrowed state is copied only when it is stored,
    /// so a refused state or a repeated start costs no copy of it.
    fn insert_if_absent(
        &self,
        state: Cow<'_, SagaState>,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        checks::state(&state, owner)?;
        let mut sagas = self.lock();
        let made = sagas.insert_if_absent(state.saga_id.clone(), || {
            let mut stored = state.into_owned();
            stored.lease = Some(Lease {
                owner: owner.to_owned(),
                expires_at: expiry_from_now(ttl),
            });
            Kept::new(at_stored_precision(stored), true)
        });
        Ok(match made {
            Ok(created) => CreateOutcome::Created(created.state.clone()),
            Err(existing) => CreateOutcome::Existing(existing.state.clone()),
        })
    }

    /// `save`: the whole state written over the kept one.
    fn save_whole(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
        read_at: Option<OffsetDateTime>,
    ) -> Result<(), SagaStoreError> {
        // The texts first, then the JSON that differs from what is kept (a
        // saga's data and completed outputs were checked when first
        // written): the same calls are refused, with the same errors, as
        // by a store that checks everything on every save.
        checks::texts(state, owner)?;
        let mut sagas = self.lock();
        let kept = sagas.get_mut(&state.saga_id);
        let checked = kept
            .as_ref()
            .filter(|kept| kept.checked)
            .map(|kept| &kept.state);
        checks::state_json(state, checked)?;
        let Some(kept) = kept else {
            return Err(SagaStoreError::NotFound {
                saga_id: state.saga_id.clone(),
            });
        };
        if !held_by(&kept.state, owner) {
            return Err(lease_lost(&state.saga_id, owner));
        }
        // Written over the kept state in place, reusing its allocations.
        kept.state.assign_from(state);
        kept.checked = true;
        let stored = &mut kept.state;
        stored.created_at = stored_precision(stored.created_at);
        stored.updated_at = stored_precision(stored.updated_at);
        kept.renew(ttl, read_at);
        Ok(())
    }

    /// `save_change` (and `save_change_at_once`): the parts `change`
    /// names written over the kept state, or the whole state when the
    /// change is whole or the kept state cannot take a part.
    fn write_change(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        let state = change.state();
        let mut sagas = self.lock();
        let kept = match sagas.get_mut(&state.saga_id) {
            // The change is written over a state this store checked, whose
            // lease `owner` holds, so the id and the owner equal ones
            // checked before (the id when the saga was created, the owner
            // when it took the lease), and what the change leaves out is
            // as checked.
            Some(kept)
                if !change.is_whole()
                    && kept.checked
                    && kept.state.steps.len() == state.steps.len()
                    && held_by(&kept.state, owner) =>
            {
                kept
            }
            _ => {
                drop(sagas);
                return self.save_whole(state, owner, ttl, change.reading());
            }
        };
        checks::changed_texts(&change, &kept.state)?;
        checks::changed_json(&change, &kept.state)?;
        debug_assert!(
            keeps_the_unnamed_parts(&change, &kept.state),
            "a SagaChange of saga `{}` changed a part it does not name",
            state.saga_id
        );
        #[cfg(test)]
        self.fast_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stored = &mut kept.state;
        stored.assign_own_fields_from(state);
        stored.updated_at = stored_precision(stored.updated_at);
        for (index, step) in change.changed_steps() {
            stored.steps[index].assign_from(step);
        }
        kept.renew(ttl, change.reading());
        Ok(())
    }

    /// `release_lease` (and `release_lease_at_once`): the lease dropped if
    /// `owner` holds it.
    fn release(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        if let Some(Kept { state, .. }) = self.lock().get_mut(saga_id)
            && held_by(state, owner)
        {
            state.lease = None;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sagas> {
        self.sagas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn held_by(state: &SagaState, owner: &str) -> bool {
    state
        .lease
        .as_ref()
        .is_some_and(|lease| lease.owner == owner)
}

/// Whether what `change` leaves out (the saga's type, data, creation time
/// and the steps it does not name) equals `kept`: the contract of
/// [`SagaChange`], checked in debug builds only.
fn keeps_the_unnamed_parts(change: &SagaChange<'_>, kept: &SagaState) -> bool {
    let state = change.state();
    let mut named = change.changed_steps().map(|(index, _)| index).peekable();
    state.saga_type == kept.saga_type
        && state.data == kept.data
        && stored_precision(state.created_at) == kept.created_at
        && state
            .steps
            .iter()
            .zip(&kept.steps)
            .enumerate()
            .all(|(index, (step, kept))| {
                if named.peek() == Some(&index) {
                    named.next();
                    true
                } else {
                    step == kept
                }
            })
}

fn lease_lost(saga_id: &str, owner: &str) -> SagaStoreError {
    SagaStoreError::LeaseLost {
        saga_id: saga_id.to_owned(),
        owner: owner.to_owned(),
    }
}

#[async_trait::async_trait]
impl SagaStateStore for InMemorySagaStateStore {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        Ok(())
    }

    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        self.insert_if_absent(Cow::Borrowed(state), owner, ttl)
    }

    async fn create_owned(
        &self,
        state: SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        self.insert_if_absent(Cow::Owned(state), owner, ttl)
    }

    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        checks::saga_id(saga_id)?;
        Ok(self.lock().get(saga_id).map(|kept| kept.state.clone()))
    }

    async fn acquire_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        let mut sagas = self.lock();
        let Some(Kept { state, .. }) = sagas.get_mut(saga_id) else {
            return Ok(LeaseOutcome::NotFound);
        };
        let now = OffsetDateTime::now_utc();
        if let Some(lease) = &state.lease
            && lease.owner != owner
            && lease.expires_at > now
        {
            return Ok(LeaseOutcome::Held {
                owner: lease.owner.clone(),
                expires_at: lease.expires_at,
            });
        }
        state.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at: stored_precision(expiry(now, ttl)),
        });
        Ok(LeaseOutcome::Acquired(state.clone()))
    }

    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.save_whole(state, owner, ttl, None)
    }

    async fn save_change(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.write_change(change, owner, ttl)
    }

    fn save_change_at_once(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Option<Result<(), SagaStoreError>> {
        #[cfg(test)]
        self.at_once_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(self.write_change(change, owner, ttl))
    }

    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        let mut sagas = self.lock();
        match sagas.get_mut(saga_id).map(|kept| &mut kept.state) {
            Some(stored) if held_by(stored, owner) => {
                stored.lease = Some(Lease {
                    owner: owner.to_owned(),
                    expires_at: expiry_from_now(ttl),
                });
                Ok(())
            }
            Some(_) => Err(lease_lost(saga_id, owner)),
            None => Err(SagaStoreError::NotFound {
                saga_id: saga_id.to_owned(),
            }),
        }
    }

    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        self.release(saga_id, owner)
    }

    fn release_lease_at_once(
        &self,
        saga_id: &str,
        owner: &str,
    ) -> Option<Result<(), SagaStoreError>> {
        #[cfg(test)]
        self.at_once_releases
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(self.release(saga_id, owner))
    }

    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        Ok(self
            .states()
            .into_iter()
            .filter(|s| !s.status.is_finished())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{LimitError, MAX_JSON_DEPTH};
    use crate::saga::{SagaStatus, StepStatus};

    const TTL: Duration = Duration::from_secs(30);

    fn nested(depth: usize) -> serde_json::Value {
        (0..depth).fold(serde_json::Value::Null, |inner, _| {
            serde_json::Value::Array(vec![inner])
        })
    }

    #[tokio::test]
    async fn a_save_replaces_every_field_but_the_lease_in_place() {
        let store = InMemorySagaStateStore::new();
        let state = SagaState::new("s-1", "orders", serde_json::json!({"a": 1}), ["one", "two"]);
        let CreateOutcome::Created(created) =
            store.create(&state, "me", TTL).await.expect("create")
        else {
            panic!("a new saga");
        };
        let mut changed = created.clone();
        changed.saga_type = "orders-v2".into();
        changed.status = SagaStatus::Compensating;
        changed.data = serde_json::json!({"a": 2, "b": "longer than before"});
        changed.steps[0].status = StepStatus::Completed;
        changed.steps[0].attempts = 3;
        changed.steps[0].output = Some(serde_json::json!("out"));
        changed.steps[1].error = Some("broke".into());
        changed.steps[1].outcome_unknown = true;
        changed.error = Some("step `two` failed".into());
        changed.lease = None;
        store.save(&changed, "me", TTL).await.expect("save");
        let loaded = store.load("s-1").await.expect("load").expect("kept");
        assert_eq!(
            loaded.lease.as_ref().map(|lease| lease.owner.as_str()),
            Some("me"),
            "the lease stays"
        );
        assert_eq!(
            SagaState {
                lease: None,
                ..loaded
            },
            changed
        );

        // A state with fewer steps replaces the list as a whole.
        let mut shorter = changed.clone();
        shorter.steps.pop();
        store.save(&shorter, "me", TTL).await.expect("save");
        let loaded = store.load("s-1").await.expect("load").expect("kept");
        assert_eq!(loaded.steps, shorter.steps);
    }

    #[tokio::test]
    async fn json_kept_unchecked_is_still_checked_when_saved_again() {
        // Handed over without checks: too deep to be written by any store.
        let mut deep = SagaState::new("s-2", "orders", nested(MAX_JSON_DEPTH + 1), ["one"]);
        deep.lease = Some(Lease {
            owner: "me".into(),
            expires_at: OffsetDateTime::now_utc() + Duration::from_secs(60),
        });
        let store = InMemorySagaStateStore::with_states([deep.clone()]);
        let error = store
            .save(&deep, "me", TTL)
            .await
            .expect_err("the same data, never checked");
        assert!(
            matches!(error, SagaStoreError::Limit(LimitError::JsonTooDeep { .. })),
            "{error:?}"
        );
        // Once a save checked it, unchanged JSON is not walked again, and
        // changed JSON is.
        let mut fine = deep.clone();
        fine.data = nested(MAX_JSON_DEPTH);
        store
            .save(&fine, "me", TTL)
            .await
            .expect("within the limits");
        store.save(&fine, "me", TTL).await.expect("unchanged");
        fine.steps[0].output = Some(nested(MAX_JSON_DEPTH + 1));
        assert!(
            store.save(&fine, "me", TTL).await.is_err(),
            "a changed output is checked"
        );
        assert!(
            store
                .save_change(SagaChange::of_step(&fine, 0), "me", TTL)
                .await
                .is_err(),
            "and so is a changed step's output"
        );
    }

    #[tokio::test]
    async fn a_change_over_unchecked_json_checks_the_whole_state() {
        // Kept without checks: a change naming one step must not let the
        // data through unchecked.
        let mut deep = SagaState::new("s-3", "orders", nested(MAX_JSON_DEPTH + 1), ["one"]);
        deep.lease = Some(Lease {
            owner: "me".into(),
            expires_at: OffsetDateTime::now_utc() + Duration::from_secs(60),
        });
        let store = InMemorySagaStateStore::with_states([deep.clone()]);
        deep.steps[0].status = StepStatus::Running;
        let error = store
            .save_change(SagaChange::of_step(&deep, 0), "me", TTL)
            .await
            .expect_err("the data was never checked");
        assert!(
            matches!(error, SagaStoreError::Limit(LimitError::JsonTooDeep { .. })),
            "{error:?}"
        );
        assert_eq!(
            store.load("s-3").await.expect("load").expect("kept").steps[0].status,
            StepStatus::Pending,
            "nothing was written"
        );
    }

    #[tokio::test]
    async fn a_change_writes_its_step_and_the_sagas_fields_and_keeps_the_lease() {
        let store = InMemorySagaStateStore::new();
        let state = SagaState::new("s-4", "orders", serde_json::json!({"a": 1}), ["one", "two"]);
        let CreateOutcome::Created(mut current) =
            store.create(&state, "me", TTL).await.expect("create")
        else {
            panic!("a new saga");
        };
        let lease = current.lease.take();
        current.status = SagaStatus::Compensating;
        current.error = Some("step `two` failed".into());
        current.steps[1].status = StepStatus::Failed;
        current.steps[1].output = Some(serde_json::json!(["partial", {"n": 1}]));
        current.steps[1].error = Some("broke".into());
        store
            .save_change(SagaChange::of_step(&current, 1), "me", TTL)
            .await
            .expect("save");
        let loaded = store.load("s-4").await.expect("load").expect("kept");
        assert_eq!(
            loaded.lease.as_ref().map(|lease| &lease.owner),
            lease.as_ref().map(|lease| &lease.owner)
        );
        assert_eq!(
            SagaState {
                lease: None,
                ..loaded
            },
            current
        );
        // A change of a state with another number of steps is written
        // whole.
        let mut shorter = current.clone();
        shorter.steps.pop();
        store
            .save_change(SagaChange::of_saga(&shorter), "me", TTL)
            .await
            .expect("save");
        let loaded = store.load("s-4").await.expect("load").expect("kept");
        assert_eq!(loaded.steps, shorter.steps);
        // Refused for anyone but the lease holder, and for an unknown saga.
        assert!(matches!(
            store
                .save_change(SagaChange::of_saga(&shorter), "other", TTL)
                .await,
            Err(SagaStoreError::LeaseLost { .. })
        ));
        shorter.saga_id = "s-unknown".into();
        assert!(matches!(
            store
                .save_change(SagaChange::of_saga(&shorter), "me", TTL)
                .await,
            Err(SagaStoreError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn an_executor_run_writes_its_transitions_through_the_fast_path() {
        use std::sync::Arc;
        use std::sync::atomic::Ordering;

        use crate::error::BoxError;
        use crate::saga::{Saga, SagaStep, StepContext};

        let store = Arc::new(InMemorySagaStateStore::new());
        // Another saga, in the slot before the run's.
        let other = SagaState::new("s-0", "other", serde_json::Value::Null, ["a"]);
        store.create(&other, "me", TTL).await.expect("create");
        let steps = ["one", "two", "three"].map(|name| {
            SagaStep::builder(name, |_: Arc<()>, _: StepContext| async {
                Ok::<(), BoxError>(())
            })
            .build()
            .expect("step")
        });
        let saga = Saga::new(
            "fast",
            steps.into(),
            Arc::clone(&store) as Arc<dyn SagaStateStore>,
        )
        .expect("a valid saga");
        let state = saga.execute_with_id("s-5", ()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
        // Every transition after the create is a change naming one step or
        // none, over a state this store checked: none falls back to a
        // whole write (two per step, then the final status).
        assert_eq!(store.fast_writes.load(Ordering::Relaxed), 2 * 3 + 1);
        // And each is written at once, without a future.
        assert_eq!(store.at_once_writes.load(Ordering::Relaxed), 2 * 3 + 1);
        // The lease is given back at once too.
        assert_eq!(store.at_once_releases.load(Ordering::Relaxed), 1);
        // The writes and the lease's release find the run's saga in the
        // slot found last (kept since its create), not by its id's hash;
        // so does a second lookup of another saga, after a first one.
        assert_eq!(store.lock().hits, 2 * 3 + 1 + 1);
        for _ in 0..2 {
            store.load("s-0").await.expect("load").expect("kept");
        }
        assert_eq!(store.lock().hits, 2 * 3 + 1 + 1 + 1);
        let loaded = store.load("s-5").await.expect("load").expect("kept");
        assert_eq!(loaded.lease, None, "the lease was given back");
        assert_eq!(loaded, state);
    }

    /// What `save_change_at_once` answers, and what it leaves stored, is
    /// what `save_change` answers and leaves, call for call: a write, a
    /// write of another saga in between, a refused text, another owner,
    /// an unknown saga, a whole change. (The in-memory store's futures are
    /// ready at once, so a plain `block_on` drives them.)
    #[test]
    fn a_change_written_at_once_is_the_change_save_change_writes() {
        use futures::executor::block_on;

        // Built once, so both stores are handed equal states, timestamps
        // included.
        let first = SagaState::new("s-1", "orders", serde_json::json!(1), ["a", "b"]);
        let second = SagaState::new("s-2", "orders", serde_json::json!(2), ["a"]);
        let stores = [InMemorySagaStateStore::new(), InMemorySagaStateStore::new()];
        let mut answers: [Vec<String>; 2] = Default::default();
        for (at_once, store) in stores.iter().enumerate() {
            let write = |change: SagaChange<'_>, owner: &str| {
                if at_once == 1 {
                    store
                        .save_change_at_once(change, owner, TTL)
                        .expect("the in-memory store writes at once")
                } else {
                    block_on(store.save_change(change, owner, TTL))
                }
            };
            for state in [&first, &second] {
                block_on(store.create(state, "me", TTL)).expect("create");
            }
            let mut first = first.clone();
            let answers = &mut answers[at_once];
            let mut note = |outcome: Result<(), SagaStoreError>| {
                answers.push(format!("{outcome:?}"));
            };
            first.steps[0].status = StepStatus::Completed;
            first.steps[0].output = Some(serde_json::json!({"n": 1}));
            note(write(SagaChange::of_step(&first, 0), "me"));
            note(write(SagaChange::of_saga(&second), "me"));
            first.steps[1].error = Some("a\0b".into());
            note(write(SagaChange::of_step(&first, 1), "me"));
            first.steps[1].error = Some("broke".into());
            first.status = SagaStatus::Compensating;
            first.error = Some("step `b` failed".into());
            note(write(SagaChange::of_step(&first, 1), "other"));
            note(write(SagaChange::of_step(&first, 1), "me"));
            let mut unknown = first.clone();
            unknown.saga_id = "s-unknown".into();
            note(write(SagaChange::of_saga(&unknown), "me"));
            first.saga_type = "orders-v2".into();
            note(write(SagaChange::whole(&first), "me"));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[1].iter().filter(|a| a.starts_with("Ok")).count(), 4);
        let [by_future, at_once] = stores.map(|store| {
            store
                .states()
                .into_iter()
                .map(|state| SagaState {
                    lease: None,
                    ..state
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(by_future, at_once);
        assert_eq!(at_once.len(), 2);
        assert_eq!(at_once[0].saga_type, "orders-v2");
        assert_eq!(at_once[0].status, SagaStatus::Compensating);
        assert_eq!(at_once[0].error.as_deref(), Some("step `b` failed"));
        assert_eq!(at_once[0].steps[1].error.as_deref(), Some("broke"));
    }

    /// Writes that alternate between sagas (the slot found last is then
    /// another saga's) land in the right saga; ids that share the slot
    /// found last's prefix are told apart.
    #[tokio::test]
    async fn alternating_writes_each_land_in_their_own_saga() {
        let store = InMemorySagaStateStore::new();
        let ids = ["s-1", "s-10", "s-2"];
        let mut states = ids.map(|id| SagaState::new(id, "orders", serde_json::Value::Null, ["a"]));
        for state in &states {
            store.create(state, "me", TTL).await.expect("create");
        }
        for round in 1..=3u32 {
            for state in states.iter_mut().rev() {
                state.steps[0].attempts = round * 10 + state.saga_id.len() as u32;
                store
                    .save_change(SagaChange::of_step(state, 0), "me", TTL)
                    .await
                    .expect("save");
            }
        }
        for state in &states {
            let loaded = store
                .load(&state.saga_id)
                .await
                .expect("load")
                .expect("kept");
            assert_eq!(loaded.steps[0].attempts, state.steps[0].attempts);
        }
        assert_eq!(store.load("s-3").await.expect("load"), None);
    }

    /// `with_states` keeps the last of two states with one id, as a map
    /// built from them would.
    #[tokio::test]
    async fn with_states_keeps_the_last_state_of_an_id() {
        let first = SagaState::new("s-1", "first", serde_json::Value::Null, ["a"]);
        let other = SagaState::new("s-2", "other", serde_json::Value::Null, ["a"]);
        let last = SagaState::new("s-1", "last", serde_json::Value::Null, ["a"]);
        let store = InMemorySagaStateStore::with_states([first, other, last]);
        assert_eq!(store.states().len(), 2);
        let kept = store.load("s-1").await.expect("load").expect("kept");
        assert_eq!(kept.saga_type, "last");
        assert_eq!(
            store
                .load("s-2")
                .await
                .expect("load")
                .expect("kept")
                .saga_type,
            "other"
        );
    }
}
