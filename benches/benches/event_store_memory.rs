//! Memory per event of the in-memory event store, beside a typed baseline
//! measured in the same run.
//!
//! `cargo bench -p orchestrix-benches --bench event_store_memory`
//!
//! Each side keeps one million events (an 86-byte JSON payload each) in
//! 10,000 streams of 100, appended one event per save, round robin over the
//! streams (so every stream grows a little at a time, as in a live
//! system). The figure is the growth of the process's resident set
//! (`/proc/self/statm`) from before the first append to after the last,
//! divided by the number of events: what the kept events cost, allocator
//! overhead and all; the envelopes handed to each save are built just
//! before it and dropped after, so only what the store keeps remains.
//!
//! * framework: `InMemoryEventStore`, each event `Envelope::new(event)`
//!   (fresh CloudEvents metadata: id, time, type, source, content type,
//!   correlation id);
//! * framework, own source: the same, each event's metadata naming one
//!   source of its own (`with_source`, as CloudEvents producers do) instead
//!   of the default;
//! * baseline: the least a typed store with streams and a global order
//!   keeps, `HashMap<String, Vec<(u64, Event)>>` (version and event) plus a
//!   global index `Vec<(u32, u32)>` (stream number and version), no
//!   metadata.
//!
//! Every measurement runs in a child process of its own (this binary,
//! started again with `--side`), so memory one side freed cannot be reused
//! by the other; three rounds alternate the sides, and the medians are
//! printed with the ratio framework ÷ baseline. Linux only (it reads
//! `/proc`).

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;

use orchestrix::message::{AnyEnvelope, Message, Metadata};
use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;

const EVENTS: u64 = 1_000_000;
const STREAMS: u64 = 10_000;
const ROUNDS: usize = 3;
/// The size of the JSON text of each event.
const PAYLOAD_BYTES: usize = 86;
/// `/proc/self/statm` counts pages; 4 KiB on the platforms this runs on.
const PAGE_BYTES: u64 = 4096;

/// A deposit whose JSON text is [`PAYLOAD_BYTES`] long.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.MemoDeposited")]
struct MemoDeposited {
    account: String,
    amount: u64,
    memo: String,
}

fn stream_name(stream: u64) -> String {
    format!("account-{stream:05}")
}

/// Event `n` of the run, with a fixed-width amount, its memo padded so the
/// JSON text is exactly `PAYLOAD_BYTES` long.
fn event(n: u64) -> MemoDeposited {
    let account = stream_name(n % STREAMS);
    let amount = 1_000_000 + n % 9_000_000;
    // {"account":"account-00042","amount":1234567,"memo":""} is 54 bytes.
    let memo_len = PAYLOAD_BYTES - 54;
    let memo = format!("{:-<memo_len$}", format!("deposit {n}"));
    MemoDeposited {
        account,
        amount,
        memo,
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .expect("statm's second field");
    resident * PAGE_BYTES
}

/// The order events are appended in: round robin over the streams.
fn appends() -> impl Iterator<Item = (u64, u64)> {
    (0..EVENTS).map(|n| (n, n % STREAMS))
}

/// The source of the events of the "framework, own source" side.
const OWN_SOURCE: &str = "urn:bench:ledger";

/// The framework side; each event's metadata names [`OWN_SOURCE`] when
/// `own_source`.
fn framework(own_source: bool) -> u64 {
    let names: Vec<String> = (0..STREAMS).map(stream_name).collect();
    let before = resident_bytes();
    let store = InMemoryEventStore::new();
    for (n, stream) in appends() {
        let version = n / STREAMS;
        let envelope: AnyEnvelope = if own_source {
            let metadata = Metadata::new(MemoDeposited::NAME).with_source(OWN_SOURCE);
            Envelope::with_metadata(event(n), metadata).into()
        } else {
            Envelope::new(event(n)).into()
        };
        store
            .save(
                &names[stream as usize],
                std::slice::from_ref(&envelope),
                Some(version),
            )
            .expect("append");
    }
    let grown = resident_bytes() - before;
    black_box(&store);
    grown
}

/// The typed baseline (see the module docs).
#[derive(Default)]
struct Typed {
    streams: HashMap<String, Vec<(u64, MemoDeposited)>>,
    numbers: HashMap<String, u32>,
    log: Vec<(u32, u32)>,
}

impl Typed {
    fn append(&mut self, stream: &str, expected: u64, event: MemoDeposited) {
        let kept = match self.streams.get_mut(stream) {
            Some(kept) => kept,
            None => {
                let number = u32::try_from(self.numbers.len()).expect("few streams");
                self.numbers.insert(stream.to_owned(), number);
                self.streams.entry(stream.to_owned()).or_default()
            }
        };
        assert_eq!(kept.len() as u64, expected, "expected version");
        let version = expected + 1;
        kept.push((version, event));
        let number = self.numbers[stream];
        self.log
            .push((number, u32::try_from(version).expect("short streams")));
    }
}

fn baseline() -> u64 {
    let names: Vec<String> = (0..STREAMS).map(stream_name).collect();
    let before = resident_bytes();
    let mut store = Typed::default();
    for (n, stream) in appends() {
        store.append(&names[stream as usize], n / STREAMS, event(n));
    }
    let grown = resident_bytes() - before;
    black_box(&store);
    grown
}

/// Runs one side in a child process and reads its figure.
fn measure(side: &str) -> u64 {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe)
        .args(["--side", side])
        .output()
        .expect("child runs");
    assert!(
        output.status.success(),
        "{side}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a byte count")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--side") {
        let grown = match args.get(at + 1).map(String::as_str) {
            Some("framework") => framework(false),
            Some("sourced") => framework(true),
            Some("baseline") => baseline(),
            other => panic!("unknown side {other:?}"),
        };
        println!("{grown}");
        return;
    }
    assert_eq!(
        serde_json::to_string(&event(123_456)).expect("json").len(),
        PAYLOAD_BYTES
    );
    let per_event = |bytes: u64| bytes as f64 / EVENTS as f64;
    let mut framework_runs = Vec::new();
    let mut sourced_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    println!(
        "event_store_memory: {EVENTS} events ({PAYLOAD_BYTES}-byte JSON payloads) in {STREAMS} \
         streams, resident-set growth per event"
    );
    for round in 0..ROUNDS {
        // The sides take turns going first.
        let order = if round % 2 == 0 {
            ["framework", "sourced", "baseline"]
        } else {
            ["baseline", "sourced", "framework"]
        };
        for side in order {
            let bytes = per_event(measure(side));
            println!("  round {}: {side:<9} {bytes:>7.1} bytes/event", round + 1);
            match side {
                "framework" => framework_runs.push(bytes),
                "sourced" => sourced_runs.push(bytes),
                _ => baseline_runs.push(bytes),
            }
        }
    }
    let (framework, sourced, baseline) = (
        median(framework_runs),
        median(sourced_runs),
        median(baseline_runs),
    );
    println!("medians of {ROUNDS} rounds:");
    println!("  InMemoryEventStore                      {framework:>7.1} bytes/event");
    println!("  InMemoryEventStore, own source          {sourced:>7.1} bytes/event");
    println!("  typed HashMap<String, Vec<(u64, E)>>    {baseline:>7.1} bytes/event");
    println!(
        "  ratio framework ÷ baseline              {:>7.2}",
        framework / baseline
    );
}
