//! The hardening cases every [`AsyncEventStore`] must pass: one set of
//! limits, checked before the backend sees anything, with identical errors
//! on every store; only what can be read back is written; timestamps
//! round-trip; the new trait calls (`read_all_raw`, `stream_version`,
//! `ping`) agree with the old ones.
//!
//! Run with [`hardening_conformance!`](crate::hardening_conformance), the
//! same way as [`event_store_conformance!`](crate::event_store_conformance).

use std::sync::Arc;

use orchestrix::limits::{IdKind, LimitError, MAX_ID_BYTES, MAX_JSON_DEPTH, stored_precision};
use orchestrix::message::{AnyEnvelope, Envelope, Metadata};
use orchestrix::prelude::*;
use orchestrix::store::{AsyncEventStore, Snapshot, StoreError};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::fixtures::{ConformanceEvent, unique_stream_id};

/// An event carrying any JSON value and a text, to probe the limits.
#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "orchestrix.conformance.Probe")]
pub struct ProbeEvent {
    /// Any JSON.
    pub value: Value,
    /// Any text.
    pub text: String,
}

impl ProbeEvent {
    /// The event, type-erased.
    pub fn envelope(value: Value, text: &str) -> AnyEnvelope {
        Envelope::new(Self {
            value,
            text: text.to_owned(),
        })
        .into()
    }
}

/// A JSON value nested `levels` deep (arrays and objects in turn).
pub fn nested(levels: usize) -> Value {
    let mut value = json!("leaf");
    for level in 0..levels {
        value = if level % 2 == 0 {
            json!([value])
        } else {
            json!({ "k": value })
        };
    }
    value
}

/// Text of `len` bytes that does not compress (hex of random UUIDs), as
/// a hostile id would be.
pub fn incompressible(len: usize) -> String {
    let mut text = String::with_capacity(len + 32);
    while text.len() < len {
        text.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    text.truncate(len);
    text
}

/// An event of floating-point numbers, to check they read back exactly.
#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "orchestrix.conformance.Floats")]
pub struct FloatsEvent {
    /// The numbers.
    pub values: Vec<f64>,
}

/// An event whose payload does not serialize to JSON (a map with
/// non-string keys).
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "orchestrix.conformance.Unserializable")]
pub struct Unserializable {
    /// Keys JSON cannot have.
    pub map: std::collections::BTreeMap<(u8, u8), u8>,
}

/// The names of every case, in the order the macro generates them.
pub const CASES: &[&str] = &[
    "bad_ids_are_refused_alike_before_the_backend",
    "the_longest_allowed_id_round_trips",
    "deep_payloads_are_refused_and_nothing_is_written",
    "payloads_at_the_depth_limit_round_trip",
    "nul_characters_are_refused_in_payloads_and_metadata",
    "events_that_do_not_serialize_are_refused_alike",
    "snapshots_obey_the_same_limits",
    "timestamps_round_trip_at_microseconds",
    "floats_read_back_exactly",
    "non_finite_floats_are_refused_and_nothing_is_written",
    "read_all_raw_gives_the_rows_of_read_all_undecoded",
    "stream_version_and_ping",
];

/// Generates one `#[tokio::test]` per hardening case for a store; the same
/// forms as [`event_store_conformance!`](crate::event_store_conformance).
#[macro_export]
macro_rules! hardening_conformance {
    ($module:ident, store = $make:expr $(,)?) => {
        $crate::hardening_conformance!($module, optional_store = async { ::core::option::Option::Some($make.await) });
    };
    ($module:ident, optional_store = $make:expr $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::hardening_conformance!(@cases $make;
                bad_ids_are_refused_alike_before_the_backend,
                the_longest_allowed_id_round_trips,
                deep_payloads_are_refused_and_nothing_is_written,
                payloads_at_the_depth_limit_round_trip,
                nul_characters_are_refused_in_payloads_and_metadata,
                events_that_do_not_serialize_are_refused_alike,
                snapshots_obey_the_same_limits,
                timestamps_round_trip_at_microseconds,
                floats_read_back_exactly,
                non_finite_floats_are_refused_and_nothing_is_written,
                read_all_raw_gives_the_rows_of_read_all_undecoded,
                stream_version_and_ping,
            );
        }
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = $make.await else {
                    return;
                };
                $crate::conformance::hardening::$case(::std::sync::Arc::new(store)).await;
            }
        )*
    };
}

/// The ids every store refuses, with the error each must give.
fn bad_ids() -> Vec<(String, LimitError)> {
    let long = incompressible(MAX_ID_BYTES + 1);
    let huge = incompressible(10_000);
    vec![
        (
            String::new(),
            LimitError::EmptyId {
                kind: IdKind::Stream,
            },
        ),
        (
            long.clone(),
            LimitError::IdTooLong {
                kind: IdKind::Stream,
                id: orchestrix::limits::shorten(&long),
                len: long.len(),
                max: MAX_ID_BYTES,
            },
        ),
        (
            huge.clone(),
            LimitError::IdTooLong {
                kind: IdKind::Stream,
                id: orchestrix::limits::shorten(&huge),
                len: huge.len(),
                max: MAX_ID_BYTES,
            },
        ),
        (
            "acc\0-1".to_owned(),
            LimitError::IdControlCharacter {
                kind: IdKind::Stream,
                id: "acc\\0-1".to_owned(),
                code: 0,
                at: 3,
            },
        ),
        (
            "acc\n1".to_owned(),
            LimitError::IdControlCharacter {
                kind: IdKind::Stream,
                id: "acc\\n1".to_owned(),
                code: 10,
                at: 3,
            },
        ),
    ]
}

fn expect_limit<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    expected: &LimitError,
    call: &str,
) {
    expect_limit_error(result, expected, call, |error| match error {
        StoreError::Limit(limit) => Some(limit),
        _ => None,
    });
}

/// Asserts that `result` is the limit error `expected` (as `limit` finds
/// it in the store's error type), with a short message.
pub fn expect_limit_error<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: Result<T, E>,
    expected: &LimitError,
    call: &str,
    limit: impl Fn(&E) -> Option<&LimitError>,
) {
    let error = match &result {
        Err(error) => limit(error),
        Ok(_) => None,
    };
    let Some(error) = error else {
        panic!("{call}: expected {expected:?}, got {result:?}");
    };
    assert_eq!(error, expected, "{call}");
    let text = error.to_string();
    assert!(text.len() < 300, "{call}: the error repeats the id: {text}");
}

fn snapshot(stream: &str, state: Value) -> Snapshot {
    Snapshot {
        aggregate_id: stream.to_owned(),
        aggregate_type: "Probe".to_owned(),
        version: 1,
        state,
        taken_at: stored_precision(OffsetDateTime::now_utc()),
    }
}

/// Empty ids, ids over [`MAX_ID_BYTES`] (incompressible, up to 10 KB) and
/// ids with control characters are refused by every call that takes an
/// id, with the same [`LimitError`] (naming the rule and a shortened id),
/// and nothing is written.
pub async fn bad_ids_are_refused_alike_before_the_backend<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let before = last_position(&*store).await;
    let bad = bad_ids();
    for (id, expected) in &bad {
        let (id, expected) = (id.as_str(), expected);
        let event = ConformanceEvent::envelope(1, 1);
        expect_limit(store.save(id, &[event], None).await, expected, "save");
        expect_limit(store.save(id, &[], Some(0)).await, expected, "empty save");
        expect_limit(store.load(id, 1).await, expected, "load");
        expect_limit(store.load_range(id, 1, 5).await, expected, "load_range");
        expect_limit(store.stream_version(id).await, expected, "stream_version");
        expect_limit(
            store.save_snapshot(snapshot(id, json!({}))).await,
            expected,
            "save_snapshot",
        );
        expect_limit(store.load_snapshot(id).await, expected, "load_snapshot");
    }
    let ids: Vec<String> = bad.into_iter().map(|(id, _)| id).collect();
    assert_no_events_of(&*store, before, &ids).await;
}

/// An id of exactly [`MAX_ID_BYTES`] incompressible bytes, and one of
/// multi-byte characters, are kept: events and snapshots round-trip.
pub async fn the_longest_allowed_id_round_trips<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let ascii = incompressible(MAX_ID_BYTES);
    let unicode = format!("流-{}", incompressible(MAX_ID_BYTES - 4));
    assert_eq!(unicode.len(), MAX_ID_BYTES);
    for id in [ascii, unicode] {
        store
            .save(&id, &[ConformanceEvent::envelope(1, 1)], Some(0))
            .await
            .expect("an id of the maximum length is accepted");
        let loaded = store.load(&id, 1).await.expect("load");
        assert_eq!(loaded.len(), 1);
        assert_eq!(&*loaded[0].stream_id, id.as_str());
        assert_eq!(store.stream_version(&id).await.expect("version"), 1);
        let saved = snapshot(&id, json!({ "n": 1 }));
        store.save_snapshot(saved.clone()).await.expect("snapshot");
        assert_eq!(store.load_snapshot(&id).await.expect("load"), Some(saved));
    }
}

/// A payload nested deeper than [`MAX_JSON_DEPTH`] (including the 126
/// levels that once made a stream unreadable) is refused at `save` with
/// [`LimitError::JsonTooDeep`]; nothing of the append is written, not even
/// the well-formed events before it in the batch.
pub async fn deep_payloads_are_refused_and_nothing_is_written<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("deep");
    let before = last_position(&*store).await;
    for levels in [MAX_JSON_DEPTH, 126, 500] {
        // The event's own object is one level, so `levels` inside it is
        // `levels + 1` in all.
        let events = [
            ConformanceEvent::envelope(1, 1),
            ProbeEvent::envelope(nested(levels), "deep"),
        ];
        let error = store
            .save(&stream, &events, None)
            .await
            .expect_err("too deep");
        assert!(
            matches!(
                &error,
                StoreError::Limit(LimitError::JsonTooDeep { max: MAX_JSON_DEPTH, what })
                    if what.contains("orchestrix.conformance.Probe") && what.contains(&stream)
            ),
            "{levels} levels: {error:?}"
        );
    }
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
    assert!(store.load(&stream, 1).await.expect("load").is_empty());
    assert_no_events_of(&*store, before, &[stream]).await;
}

/// A payload exactly at the limit is kept and reads back equal, from the
/// stream and from the global stream.
pub async fn payloads_at_the_depth_limit_round_trip<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("at-limit");
    let event = ProbeEvent {
        value: nested(MAX_JSON_DEPTH - 1),
        text: "at the limit".into(),
    };
    let outcome = store
        .save(&stream, &[Envelope::new(event.clone()).into()], Some(0))
        .await
        .expect("a payload at the limit is kept");
    let loaded = store.load(&stream, 1).await.expect("it loads");
    assert_eq!(loaded[0].downcast_ref::<ProbeEvent>(), Some(&event));
    let global = store
        .read_all(outcome.positions[0], 1)
        .await
        .expect("the global stream reads it");
    assert_eq!(global[0].downcast_ref::<ProbeEvent>(), Some(&event));
}

/// A NUL character in a payload string or key, or in a metadata attribute,
/// is refused with [`LimitError::NulInJson`]; other control characters are
/// kept.
pub async fn nul_characters_are_refused_in_payloads_and_metadata<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("nul");
    let refused = [
        ProbeEvent::envelope(json!("a\u{0}b"), "ok"),
        ProbeEvent::envelope(json!({ "k\u{0}": 1 }), "ok"),
        ProbeEvent::envelope(json!(null), "a\u{0}"),
        Envelope::with_metadata(
            ProbeEvent {
                value: json!(1),
                text: "ok".into(),
            },
            Metadata::new("x").with_subject("s\u{0}"),
        )
        .into(),
    ];
    for event in refused {
        let error = store
            .save(&stream, &[event], None)
            .await
            .expect_err("NUL is refused");
        assert!(
            matches!(&error, StoreError::Limit(LimitError::NulInJson { .. })),
            "{error:?}"
        );
    }
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
    let kept = ProbeEvent {
        value: json!("tab\t bell\u{7} del\u{7f} é 流"),
        text: "line\nbreak".into(),
    };
    store
        .save(&stream, &[Envelope::new(kept.clone()).into()], Some(0))
        .await
        .expect("other control characters are kept");
    let loaded = store.load(&stream, 1).await.expect("load");
    assert_eq!(loaded[0].downcast_ref::<ProbeEvent>(), Some(&kept));
}

/// An event that does not serialize (a map with non-string keys) is
/// [`StoreError::Serialize`] on every store, naming the stream and the
/// event type; nothing is written.
pub async fn events_that_do_not_serialize_are_refused_alike<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("unserializable");
    let event = Unserializable {
        map: [((1, 2), 3)].into(),
    };
    let error = store
        .save(&stream, &[Envelope::new(event).into()], None)
        .await
        .expect_err("does not serialize");
    assert!(
        matches!(&error, StoreError::Serialize { stream_id, event_type, .. }
            if stream_id == &stream && event_type == "orchestrix.conformance.Unserializable"),
        "{error:?}"
    );
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
}

/// Snapshots obey the same limits: a state deeper than
/// [`MAX_JSON_DEPTH`], a NUL in the state or in the aggregate type are
/// refused, and the kept snapshot (if any) is unchanged.
pub async fn snapshots_obey_the_same_limits<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("snapshot-limits");
    let kept = snapshot(&stream, nested(MAX_JSON_DEPTH));
    store
        .save_snapshot(kept.clone())
        .await
        .expect("a state at the limit is kept");
    let mut refused = vec![
        snapshot(&stream, nested(MAX_JSON_DEPTH + 1)),
        snapshot(&stream, json!({ "name": "a\u{0}" })),
    ];
    let mut bad_type = snapshot(&stream, json!({}));
    bad_type.aggregate_type = "Acc\0ount".into();
    refused.push(bad_type);
    for (index, mut refused) in refused.into_iter().enumerate() {
        refused.version = 2;
        let error = store
            .save_snapshot(refused)
            .await
            .expect_err("refused snapshot");
        let expected = match index {
            0 => matches!(error, StoreError::Limit(LimitError::JsonTooDeep { .. })),
            1 => matches!(error, StoreError::Limit(LimitError::NulInJson { .. })),
            _ => matches!(error, StoreError::Limit(LimitError::NulInText { .. })),
        };
        assert!(expected, "case {index}: {error:?}");
    }
    assert_eq!(
        store.load_snapshot(&stream).await.expect("load"),
        Some(kept)
    );
}

/// Timestamps are kept at whole microseconds on every store: a snapshot
/// taken with a nanosecond time reads back at the microsecond (the same
/// on every store), one made by the framework reads back equal, and event
/// metadata and `recorded_at` round-trip exactly.
pub async fn timestamps_round_trip_at_microseconds<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("time");
    let mut fine = snapshot(&stream, json!({ "n": 1 }));
    let nanos = OffsetDateTime::now_utc()
        .replace_nanosecond(123_456_789)
        .expect("valid");
    fine.taken_at = nanos;
    store.save_snapshot(fine.clone()).await.expect("snapshot");
    let loaded = store
        .load_snapshot(&stream)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(loaded.taken_at, stored_precision(nanos));
    assert_eq!(loaded.taken_at.nanosecond(), 123_456_000);

    let metadata = Metadata::new("orchestrix.conformance.Event");
    assert_eq!(
        metadata.time,
        stored_precision(metadata.time),
        "Metadata::new makes times at the stored precision"
    );
    let event: AnyEnvelope =
        Envelope::with_metadata(ConformanceEvent { writer: 1, seq: 1 }, metadata.clone()).into();
    store.save(&stream, &[event], Some(0)).await.expect("save");
    let loaded = store.load(&stream, 1).await.expect("load");
    assert_eq!(loaded[0].metadata(), &metadata, "metadata reads back equal");
    assert_eq!(
        loaded[0].recorded_at,
        stored_precision(loaded[0].recorded_at),
        "recorded_at is at the stored precision"
    );
    let again = store.load(&stream, 1).await.expect("load again");
    assert_eq!(again[0].recorded_at, loaded[0].recorded_at);
}

/// Floating-point payloads read back bit for bit (up to the sign of zero),
/// including values whose shortest decimal form a fast float parser reads
/// back one unit off, and hundreds of arbitrary finite values.
pub async fn floats_read_back_exactly<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let mut values = vec![
        7.777_777_377_757_774e43,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        2.225_073_858_507_201e-308,
        0.1,
        1.0 / 3.0,
        -123_456_789.123_456_78,
        9_007_199_254_740_993.0,
    ];
    let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
    while values.len() < 500 {
        bits = bits
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let value = f64::from_bits(bits);
        if value.is_finite() {
            values.push(value);
        }
    }
    let stream = unique_stream_id("floats");
    let event = FloatsEvent { values };
    store
        .save(&stream, &[Envelope::new(event.clone()).into()], Some(0))
        .await
        .expect("save");
    let loaded = store.load(&stream, 1).await.expect("load");
    let back = loaded[0]
        .downcast_ref::<FloatsEvent>()
        .expect("a FloatsEvent");
    for (saved, read) in event.values.iter().zip(&back.values) {
        assert_eq!(saved, read, "{saved:e} read back as {read:e}");
    }
}

/// A NaN or infinite float in a payload is refused at `save` with
/// [`LimitError::NonFiniteFloat`], naming the event type and the stream;
/// nothing of the append is written. (serde_json would write it as `null`:
/// a durable store would keep an event that no longer decodes, while an
/// in-memory store would hand the NaN back.)
pub async fn non_finite_floats_are_refused_and_nothing_is_written<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("non-finite");
    let before = last_position(&*store).await;
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let events: [AnyEnvelope; 2] = [
            ConformanceEvent::envelope(1, 1),
            Envelope::new(FloatsEvent {
                values: vec![1.5, bad],
            })
            .into(),
        ];
        let error = store
            .save(&stream, &events, None)
            .await
            .expect_err("a non-finite float is refused");
        assert!(
            matches!(
                &error,
                StoreError::Limit(LimitError::NonFiniteFloat { what })
                    if what.contains("orchestrix.conformance.Floats") && what.contains(&stream)
            ),
            "{bad}: {error:?}"
        );
    }
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
    assert!(store.load(&stream, 1).await.expect("load").is_empty());
    assert_no_events_of(&*store, before, &[stream]).await;
}

/// `read_all_raw` returns the same rows as `read_all` (stream, version,
/// position, time, type), with the stored JSON of payload and metadata.
pub async fn read_all_raw_gives_the_rows_of_read_all_undecoded<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("raw");
    let payload = ProbeEvent {
        value: json!({ "a": [1, 2, 3] }),
        text: "raw".into(),
    };
    let events = [
        Envelope::new(payload.clone()).into(),
        ConformanceEvent::envelope(7, 1),
    ];
    let outcome = store.save(&stream, &events, Some(0)).await.expect("save");
    let first = outcome.positions[0];
    let decoded = store.read_all(first, 2).await.expect("read_all");
    let raw = store.read_all_raw(first, 2).await.expect("read_all_raw");
    assert_eq!(raw.len(), 2);
    for ((raw, decoded), saved) in raw.iter().zip(&decoded).zip(&events) {
        assert_eq!(raw.stream_id, decoded.stream_id);
        assert_eq!(
            (raw.version, raw.position, raw.recorded_at),
            (decoded.version, decoded.position, decoded.recorded_at)
        );
        assert_eq!(raw.event_type, saved.message_name());
        assert_eq!(raw.schema_version, 1);
        let metadata: Metadata = serde_json::from_str(&raw.metadata).expect("metadata JSON");
        assert_eq!(&metadata, saved.metadata());
        let stored: Value = serde_json::from_str(&raw.payload).expect("payload JSON");
        assert_eq!(stored, saved.message().to_json().expect("serializes"));
    }
    assert!(
        store
            .read_all_raw(first, 0)
            .await
            .expect("limit 0")
            .is_empty()
    );
}

/// `stream_version` is 0 for an unknown stream and follows appends;
/// `ping` answers `Ok` from a reachable store.
pub async fn stream_version_and_ping<S: AsyncEventStore + 'static>(store: Arc<S>) {
    store
        .ping()
        .await
        .expect("a reachable store answers the ping");
    let stream = unique_stream_id("version");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
    store
        .save(&stream, &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 2),
                ConformanceEvent::envelope(1, 3),
            ],
            Some(1),
        )
        .await
        .expect("save");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 3);
}

/// The position of the last event the global stream holds now (0: none).
async fn last_position<S: AsyncEventStore>(store: &S) -> u64 {
    let mut from = 1;
    let mut last = 0;
    loop {
        let page = store.read_all(from, 1000).await.expect("read_all");
        let Some(tail) = page.last() else {
            return last;
        };
        last = tail.position;
        from = last + 1;
    }
}

/// Fails if an event of one of `streams` was appended after position
/// `before`.
async fn assert_no_events_of<S: AsyncEventStore>(store: &S, before: u64, streams: &[String]) {
    let events = store.read_all(before + 1, 100_000).await.expect("read_all");
    for event in events {
        assert!(
            !streams.iter().any(|s| s.as_str() == &*event.stream_id),
            "a refused call wrote {} v{}",
            orchestrix::limits::shorten(&event.stream_id),
            event.version
        );
    }
}
