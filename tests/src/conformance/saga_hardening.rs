//! The hardening checks every [`SagaStateStore`] must pass: one set of id
//! rules, only what reads back is written, times at whole microseconds.
//! Run them all with [`run_all`].

use std::time::Duration;

use orchestrix::limits::{IdKind, LimitError, MAX_ID_BYTES, MAX_JSON_DEPTH, stored_precision};
use orchestrix::saga::{CreateOutcome, SagaState, SagaStateStore, SagaStoreError};
use serde_json::json;
use time::OffsetDateTime;

use super::hardening::{expect_limit_error, incompressible, nested};

const TTL: Duration = Duration::from_secs(30);

fn state(id: &str) -> SagaState {
    SagaState::new(
        id,
        "hardening",
        json!({ "order": 1 }),
        ["reserve", "charge"],
    )
}

/// Runs every check against `store` (already initialized).
pub async fn run_all(store: &dyn SagaStateStore, prefix: &str) {
    bad_saga_ids_are_refused_alike(store).await;
    the_longest_allowed_saga_id_round_trips(store, prefix).await;
    states_that_could_not_be_read_back_are_refused(store, prefix).await;
    saga_times_round_trip_at_microseconds(store, prefix).await;
}

fn expect_limit<T: std::fmt::Debug>(
    result: Result<T, SagaStoreError>,
    expected: &LimitError,
    call: &str,
) {
    expect_limit_error(result, expected, call, |error| match error {
        SagaStoreError::Limit(limit) => Some(limit),
        _ => None,
    });
}

/// Empty, too long (incompressible) and control-character saga ids are
/// refused by every call with the same [`LimitError`]; so are bad lease
/// owners.
pub async fn bad_saga_ids_are_refused_alike(store: &dyn SagaStateStore) {
    let long = incompressible(MAX_ID_BYTES + 1);
    let cases = [
        (String::new(), LimitError::EmptyId { kind: IdKind::Saga }),
        (
            long.clone(),
            LimitError::IdTooLong {
                kind: IdKind::Saga,
                id: orchestrix::limits::shorten(&long),
                len: long.len(),
                max: MAX_ID_BYTES,
            },
        ),
        (
            "s\0".to_owned(),
            LimitError::IdControlCharacter {
                kind: IdKind::Saga,
                id: "s\\0".to_owned(),
                code: 0,
                at: 1,
            },
        ),
    ];
    for (id, expected) in &cases {
        expect_limit(
            store.create(&state(id), "owner", TTL).await,
            expected,
            "create",
        );
        expect_limit(store.load(id).await, expected, "load");
        expect_limit(
            store.acquire_lease(id, "owner", TTL).await,
            expected,
            "acquire",
        );
        expect_limit(store.save(&state(id), "owner", TTL).await, expected, "save");
        expect_limit(store.renew_lease(id, "owner", TTL).await, expected, "renew");
        expect_limit(store.release_lease(id, "owner").await, expected, "release");
    }
    let owner_error = store
        .create(&state("fine-id-bad-owner"), "own\0er", TTL)
        .await
        .expect_err("bad owner");
    assert!(
        matches!(
            owner_error,
            SagaStoreError::Limit(LimitError::IdControlCharacter {
                kind: IdKind::LeaseOwner,
                ..
            })
        ),
        "{owner_error:?}"
    );
}

/// A saga id of exactly [`MAX_ID_BYTES`] incompressible bytes is kept.
pub async fn the_longest_allowed_saga_id_round_trips(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!(
        "{prefix}-{}",
        incompressible(MAX_ID_BYTES - prefix.len() - 1)
    );
    assert_eq!(id.len(), MAX_ID_BYTES);
    let created = store
        .create(&state(&id), "owner", TTL)
        .await
        .expect("the longest id is accepted");
    assert!(matches!(created, CreateOutcome::Created(_)));
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.saga_id, id);
}

/// Data or a step output nested deeper than [`MAX_JSON_DEPTH`], and a NUL
/// in the saga type, an error text or a JSON string, are refused at
/// `create` and `save`; nothing is written.
pub async fn states_that_could_not_be_read_back_are_refused(
    store: &dyn SagaStateStore,
    prefix: &str,
) {
    let id = format!("{prefix}-limits");
    let deep_data = SagaState {
        data: nested(MAX_JSON_DEPTH + 1),
        ..state(&id)
    };
    let error = store
        .create(&deep_data, "owner", TTL)
        .await
        .expect_err("too deep");
    assert!(
        matches!(
            &error,
            SagaStoreError::Limit(LimitError::JsonTooDeep { .. })
        ),
        "{error:?}"
    );
    let nul_type = SagaState {
        saga_type: "hard\0ening".into(),
        ..state(&id)
    };
    let error = store
        .create(&nul_type, "owner", TTL)
        .await
        .expect_err("NUL in type");
    assert!(
        matches!(&error, SagaStoreError::Limit(LimitError::NulInText { .. })),
        "{error:?}"
    );
    assert_eq!(
        store.load(&id).await.expect("load"),
        None,
        "nothing written"
    );

    let kept = SagaState {
        data: nested(MAX_JSON_DEPTH),
        ..state(&id)
    };
    store
        .create(&kept, "owner", TTL)
        .await
        .expect("at the limit");
    let mut deep_output = kept.clone();
    deep_output.steps[0].output = Some(nested(MAX_JSON_DEPTH + 1));
    let mut nul_error = kept.clone();
    nul_error.error = Some("card\0declined".into());
    let mut nul_step_error = kept.clone();
    nul_step_error.steps[1].error = Some("\0".into());
    let mut nul_data = kept.clone();
    nul_data.data = json!({ "note": "a\u{0}" });
    for (index, refused) in [deep_output, nul_error, nul_step_error, nul_data]
        .iter()
        .enumerate()
    {
        let error = store
            .save(refused, "owner", TTL)
            .await
            .expect_err("refused state");
        assert!(
            matches!(error, SagaStoreError::Limit(_)),
            "case {index}: {error:?}"
        );
    }
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.data, kept.data, "the refused saves changed nothing");
    assert_eq!(loaded.steps, kept.steps);
    assert_eq!(loaded.error, None);
}

/// A state made by [`SagaState::new`] reads back with equal times; a time
/// with nanoseconds reads back at the microsecond, alike on every store.
pub async fn saga_times_round_trip_at_microseconds(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-time");
    let made = state(&id);
    assert_eq!(made.created_at, stored_precision(made.created_at));
    store.create(&made, "owner", TTL).await.expect("create");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(
        (loaded.created_at, loaded.updated_at),
        (made.created_at, made.updated_at)
    );
    let lease = loaded.lease.clone().expect("leased");
    assert_eq!(lease.expires_at, stored_precision(lease.expires_at));

    let mut saved = loaded.clone();
    let nanos = OffsetDateTime::now_utc()
        .replace_nanosecond(987_654_321)
        .expect("valid");
    saved.updated_at = nanos;
    store.save(&saved, "owner", TTL).await.expect("save");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.updated_at, stored_precision(nanos));
    assert_eq!(loaded.updated_at.nanosecond(), 987_654_000);
}
