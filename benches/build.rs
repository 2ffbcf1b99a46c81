//! Writes the two synthetic apps of the compile-time benchmark (see
//! `benches/compile_time.sh`) into `OUT_DIR`, only when the `compile-time`
//! feature is on: the same 30 aggregates, 120 events and 100 handlers, once
//! with the macros and once with the traits implemented by hand.

use std::fmt::Write as _;
use std::{env, fs, path::PathBuf};

const AGGREGATES: usize = 30;
const EVENTS_PER_AGGREGATE: usize = 4;
const HANDLERS: usize = 100;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_COMPILE_TIME");
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let enabled = env::var_os("CARGO_FEATURE_COMPILE_TIME").is_some();
    let (with_macros, by_hand) = match enabled {
        true => (with_macros(), by_hand()),
        false => (String::from("fn main() {}"), String::from("fn main() {}")),
    };
    for (file, text) in [("with_macros.rs", with_macros), ("by_hand.rs", by_hand)] {
        if let Err(error) = fs::write(out.join(file), text) {
            println!("cargo:warning=cannot write {file}: {error}");
        }
    }
}

fn event_count() -> usize {
    AGGREGATES * EVENTS_PER_AGGREGATE
}

fn with_macros() -> String {
    let mut s = String::from("use orchestrix::prelude::*;\n\n");
    for i in 0..event_count() {
        let _ = writeln!(
            s,
            "#[derive(Event, Debug, Clone, Serialize, Deserialize)]\n\
             pub struct Event{i} {{ pub amount: u64 }}\n"
        );
    }
    for a in 0..AGGREGATES {
        let _ = writeln!(
            s,
            "#[derive(Default, Debug, Serialize, Deserialize)]\n\
             pub struct Aggregate{a} {{ pub total: u64 }}\n\n\
             #[aggregate]\nimpl Aggregate{a} {{"
        );
        for e in events_of(a) {
            let _ = writeln!(
                s,
                "    #[apply]\n    fn on_event{e}(&mut self, event: &Event{e}) {{ self.total += event.amount; }}"
            );
        }
        s.push_str("}\n\n");
    }
    for h in 0..HANDLERS {
        let _ = writeln!(
            s,
            "#[event_handler]\nasync fn handler{h}(event: &Event{h}) {{ std::hint::black_box(event.amount); }}\n"
        );
    }
    s.push_str(
        "fn main() {\n    \
         let bus = InMemoryAsyncMessageBus::builder().register_handlers().build();\n    \
         std::hint::black_box(bus.is_ok());\n}\n",
    );
    s
}

fn by_hand() -> String {
    let mut s = String::from(
        "use orchestrix::aggregate::{Aggregate, EventOf};\n\
         use orchestrix::message::{AnyMessage, Envelope, Event, Message, MessageKind};\n\
         use orchestrix::prelude::{Deserialize, InMemoryAsyncMessageBus, Serialize};\n\n",
    );
    for i in 0..event_count() {
        let _ = writeln!(
            s,
            "#[derive(Debug, Clone, Serialize, Deserialize)]\n\
             pub struct Event{i} {{ pub amount: u64 }}\n\
             impl Message for Event{i} {{\n    \
             const NAME: &'static str = \"Event{i}\";\n    \
             const VERSION: u32 = 1;\n    \
             const KIND: MessageKind = MessageKind::Event;\n}}\n\
             impl Event for Event{i} {{}}\n"
        );
    }
    for a in 0..AGGREGATES {
        let _ = writeln!(
            s,
            "#[derive(Default, Debug, Serialize, Deserialize)]\n\
             pub struct Aggregate{a} {{ pub total: u64 }}\n\n\
             impl Aggregate for Aggregate{a} {{\n    \
             const AGGREGATE_TYPE: &'static str = \"Aggregate{a}\";\n    \
             const EVENT_TYPES: &'static [&'static str] = &[{names}];\n    \
             fn apply_message(&mut self, event: &dyn AnyMessage) -> bool {{\n        \
             let event: &dyn std::any::Any = event;",
            names = events_of(a)
                .map(|e| format!("Event{e}::NAME"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for e in events_of(a) {
            let _ = writeln!(
                s,
                "        if let Some(event) = event.downcast_ref::<Event{e}>() {{ event.apply_to(self); return true; }}"
            );
        }
        s.push_str("        false\n    }\n}\n\n");
        for e in events_of(a) {
            let _ = writeln!(
                s,
                "impl EventOf<Aggregate{a}> for Event{e} {{\n    \
                 fn apply_to(&self, aggregate: &mut Aggregate{a}) {{ aggregate.total += self.amount; }}\n}}\n"
            );
        }
    }
    s.push_str("fn main() {\n");
    for i in 0..event_count() {
        let _ = writeln!(
            s,
            "    std::hint::black_box(orchestrix::registry::register::<Event{i}>().is_ok());"
        );
    }
    s.push_str("    let bus = InMemoryAsyncMessageBus::new();\n");
    for h in 0..HANDLERS {
        let _ = writeln!(
            s,
            "    bus.subscribe(\"handler{h}\", |envelope: Envelope<Event{h}>| async move {{ std::hint::black_box(envelope.message().amount); }});"
        );
    }
    s.push_str("    std::hint::black_box(&bus);\n}\n");
    s
}

fn events_of(aggregate: usize) -> std::ops::Range<usize> {
    aggregate * EVENTS_PER_AGGREGATE..(aggregate + 1) * EVENTS_PER_AGGREGATE
}
