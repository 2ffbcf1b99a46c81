//! The buses open a `publish` span (message type, message id) around each
//! publish and a `handler` span (handler name) inside it for each handler.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use orchestrix::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TracingEvent, Metadata as TracingMetadata, Subscriber};

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct Traced;

/// Records every span as `parent > name{field=value,...}`.
#[derive(Default)]
struct SpanRecorder {
    next_id: AtomicU64,
    spans: Mutex<Vec<(u64, String)>>,
    stack: Mutex<Vec<u64>>,
    lines: Arc<Mutex<Vec<String>>>,
    /// Every event as `span : message`, `span` the one it happened in.
    events: Arc<Mutex<Vec<String>>>,
}

struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={:?}", field.name(), value));
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &TracingMetadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Fields(Vec::new());
        attributes.record(&mut fields);
        let name = format!("{}{{{}}}", attributes.metadata().name(), fields.0.join(","));
        let parent = attributes
            .parent()
            .map(Id::into_u64)
            .or_else(|| self.stack.lock().expect("stack").last().copied());
        let parent_name = parent
            .and_then(|parent| {
                let spans = self.spans.lock().expect("spans");
                spans
                    .iter()
                    .find(|(id, _)| *id == parent)
                    .map(|(_, name)| name.clone())
            })
            .unwrap_or_default();
        self.lines
            .lock()
            .expect("lines")
            .push(format!("{parent_name} > {name}"));
        self.spans.lock().expect("spans").push((id, name));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &TracingEvent<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let message = fields
            .0
            .iter()
            .find_map(|field| field.strip_prefix("message="))
            .unwrap_or_default()
            .to_owned();
        let current = self.stack.lock().expect("stack").last().copied();
        let span = current
            .and_then(|current| {
                let spans = self.spans.lock().expect("spans");
                spans
                    .iter()
                    .find(|(id, _)| *id == current)
                    .map(|(_, name)| name.clone())
            })
            .unwrap_or_default();
        self.events
            .lock()
            .expect("events")
            .push(format!("{span} : {message}"));
    }

    fn enter(&self, span: &Id) {
        self.stack.lock().expect("stack").push(span.into_u64());
    }

    fn exit(&self, _: &Id) {
        self.stack.lock().expect("stack").pop();
    }
}

fn recorder() -> (SpanRecorder, Arc<Mutex<Vec<String>>>) {
    let recorder = SpanRecorder::default();
    let lines = Arc::clone(&recorder.lines);
    (recorder, lines)
}

fn publish_span(envelope: &AnyEnvelope, handlers: usize) -> String {
    format!(
        "publish{{message_type=\"Traced\",message_id={},handlers={handlers}}}",
        envelope.metadata().id
    )
}

#[test]
fn the_sync_bus_traces_publish_and_each_handler() {
    let (recorder, lines) = recorder();
    let bus = InMemoryMessageBus::new();
    bus.subscribe("first", |_: &Envelope<Traced>| {});
    bus.subscribe("second", |_: &Envelope<Traced>| {});
    let envelope = Envelope::new(Traced).into_any();

    tracing::subscriber::with_default(recorder, || bus.publish_envelope(envelope.clone()))
        .expect("handled");

    let publish = publish_span(&envelope, 2);
    assert_eq!(
        *lines.lock().expect("lines"),
        [
            format!(" > {publish}"),
            format!("{publish} > handler{{handler=first}}"),
            format!("{publish} > handler{{handler=second}}"),
        ]
    );
}

#[test]
fn the_async_bus_traces_publish_and_each_handler() {
    let (recorder, lines) = recorder();
    let bus = InMemoryAsyncMessageBus::new();
    bus.subscribe("first", |_: Envelope<Traced>| async {});
    bus.subscribe("second", |_: Envelope<Traced>| async {});
    let envelope = Envelope::new(Traced).into_any();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");

    tracing::subscriber::with_default(recorder, || {
        runtime.block_on(bus.publish_envelope(envelope.clone()))
    })
    .expect("handled");

    let publish = publish_span(&envelope, 2);
    assert_eq!(
        *lines.lock().expect("lines"),
        [
            format!(" > {publish}"),
            format!("{publish} > handler{{handler=first}}"),
            format!("{publish} > handler{{handler=second}}"),
        ]
    );
}

fn boom(_: &Envelope<Traced>) {
    panic!("the handler broke")
}

#[test]
fn a_sync_handler_that_panics_is_reported_inside_its_own_span() {
    let recorder = SpanRecorder::default();
    let events = Arc::clone(&recorder.events);
    let bus = InMemoryMessageBus::new();
    bus.subscribe("boom", boom);
    bus.subscribe("after", |_: &Envelope<Traced>| {});
    let envelope = Envelope::new(Traced).into_any();

    let published =
        tracing::subscriber::with_default(recorder, || bus.publish_envelope(envelope.clone()));

    assert!(published.is_err(), "the panic is the publish's failure");
    let events = events.lock().expect("events").clone();
    assert_eq!(
        events,
        [String::from("handler{handler=boom} : handler failed")],
        "the failure is logged once, inside the span of the handler that panicked"
    );
}
