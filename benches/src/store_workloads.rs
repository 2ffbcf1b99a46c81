//! The event-store workloads W1–W4, timed for an Orchestrix store and for a
//! hand-written sqlx baseline in the same run (the `postgres_store` and
//! `sqlite_store` benches: each brings its store and its baseline, the
//! timing, interleaving and report are here):
//!
//! * W1: 10,000 single-event appends with expected version, sequential;
//! * W2: the same 10,000 appends over 8 concurrent tasks (own streams);
//! * W3: 100 appends of 100 events each;
//! * W4: load and fold a 10,000-event stream (median of 20), timed by the
//!   wall clock and again by this process's CPU time (see [`Round`]): the
//!   framework's idiomatic load, `AggregateRepository::load_async` of an
//!   aggregate summing the amounts (a replay: no `RecordedEvent` built),
//!   and, as two more named lines, `store.load` with a fold over the
//!   recorded events it returns.
//!
//! W1-W3 run in 10 interleaved chunks (framework and raw take turns going
//! first), so that the noise of a shared machine hits both alike; W4
//! alternates its 20 loads. A bench runs several rounds, each on fresh
//! tables; each round prints its figures, then the medians of the rounds
//! are printed, with the ratio framework throughput ÷ raw throughput (1.00 =
//! as fast as raw).
//!
//! A plain timing harness is used instead of criterion: the workloads are
//! long and the figures are throughputs.
//!
//! Name workloads on the command line to run only those
//! (`cargo bench -p orchestrix-benches --bench postgres_store -- W4`; see
//! [`Selected`]). When W4 runs without W1, the stream it loads is written
//! first, untimed, in batches of [`W3_BATCH`] with the amounts W1 would give
//! it, on both sides.

use std::future::Future;
use std::ops::Range;
use std::time::{Duration, Instant};

use orchestrix::prelude::*;

/// The event every workload appends.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.Deposited")]
pub struct Deposited {
    /// The amount, summed by the fold.
    pub amount: u64,
}

/// W4's aggregate: the sum of the amounts of its stream.
#[derive(Default, Debug)]
pub struct Balance {
    /// The sum.
    pub total: u64,
}

#[aggregate]
impl Balance {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.total += event.amount;
    }
}

/// W1's (and W2's) appends, and W4's stream length.
pub const W1_APPENDS: u64 = 10_000;
/// W2's concurrent tasks.
pub const W2_TASKS: u64 = 8;
/// W3's appends.
pub const W3_APPENDS: u64 = 100;
/// W3's events per append.
pub const W3_BATCH: u64 = 100;
/// W4's loads per side.
pub const W4_RUNS: usize = 20;
/// How many interleaved chunks W1-W3 run in.
pub const CHUNKS: u64 = 10;

const WORKLOADS: [(&str, &str, f64); 7] = [
    (
        "W1 10k single appends, sequential",
        "appends/s",
        W1_APPENDS as f64,
    ),
    (
        "W2 10k single appends, 8 tasks",
        "appends/s",
        W1_APPENDS as f64,
    ),
    (
        "W3 100 appends x 100 events",
        "events/s",
        (W3_APPENDS * W3_BATCH) as f64,
    ),
    (
        "W4 repo load+fold 10k events (median of 20)",
        "events/s",
        W1_APPENDS as f64,
    ),
    (
        "W4 repo load+fold, this process's CPU time",
        "events/s",
        W1_APPENDS as f64,
    ),
    (
        "W4 via store.load (median of 20)",
        "events/s",
        W1_APPENDS as f64,
    ),
    ("W4 via store.load, CPU time", "events/s", W1_APPENDS as f64),
];

/// One round's times: `[workload][framework, raw]`; the fifth row is W4
/// timed by the CPU time this process spent (every thread, from
/// `/proc/self/task/*/schedstat`), which a busy shared machine blurs far
/// less than wall time. It counts the client's work only: for a server
/// backend, the server's is in the wall time alone. The sixth and seventh
/// rows are W4 by wall and CPU time again with the framework side loading
/// through `store.load` ([`Side::load_events_and_fold`]), against the same
/// raw loads.
pub type Round = [[Duration; 2]; 7];

/// What the workloads ask of one side of the comparison.
pub trait Side: Clone + Send + Sync + 'static {
    /// Appends one `Deposited { amount }` to `stream`, expecting version
    /// `expected`.
    fn append_one(
        &self,
        stream: &str,
        expected: u64,
        amount: u64,
    ) -> impl Future<Output = ()> + Send;

    /// Appends `count` events (amounts `expected..expected + count`, as
    /// single appends would give them) to `stream` in one append, expecting
    /// version `expected`.
    fn append_batch(
        &self,
        stream: &str,
        expected: u64,
        count: u64,
    ) -> impl Future<Output = ()> + Send;

    /// Loads `stream` and sums its amounts: the side's idiomatic load (the
    /// framework's: the aggregate repository's `load_async` of a
    /// [`Balance`]).
    fn load_and_fold(&self, stream: &str) -> impl Future<Output = u64> + Send;

    /// Loads `stream`'s events and sums their amounts: the framework's
    /// `store.load`, then a fold over the recorded events; the same as
    /// [`load_and_fold`](Self::load_and_fold) for the raw baseline.
    fn load_events_and_fold(&self, stream: &str) -> impl Future<Output = u64> + Send {
        self.load_and_fold(stream)
    }
}

/// The framework side: any Orchestrix event store.
#[derive(Clone, Debug)]
pub struct Framework<S>(pub S);

fn deposit(amount: u64) -> AnyEnvelope {
    Envelope::new(Deposited { amount }).into()
}

impl<S: AsyncEventStore + Clone + 'static> Side for Framework<S> {
    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        self.0
            .save(stream, &[deposit(amount)], Some(expected))
            .await
            .expect("append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        let events: Vec<_> = (expected..expected + count).map(deposit).collect();
        self.0
            .save(stream, &events, Some(expected))
            .await
            .expect("append");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        AggregateRepository::new(self.0.clone())
            .load_async::<Balance>(stream)
            .await
            .expect("load")
            .total
    }

    async fn load_events_and_fold(&self, stream: &str) -> u64 {
        self.0
            .load(stream, 1)
            .await
            .expect("load")
            .iter()
            .filter_map(|e| e.downcast_ref::<Deposited>())
            .map(|d| d.amount)
            .sum()
    }
}

/// The workloads named on the command line (`W1` .. `W4`, any case; every
/// one when none is named). Arguments starting with `-` (such as the
/// `--bench` cargo passes) are not names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected([bool; 4]);

impl Selected {
    /// Every workload.
    pub const ALL: Self = Self([true; 4]);

    /// The workloads named in the process's arguments.
    pub fn from_args() -> Self {
        Self::from_names(std::env::args().skip(1))
    }

    /// The workloads among `names` (every one when no name is a workload
    /// name's form, i.e. none is given).
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Self {
        let named: Vec<String> = names
            .into_iter()
            .filter(|name| !name.starts_with('-'))
            .collect();
        if named.is_empty() {
            return Self::ALL;
        }
        let mut selected = [false; 4];
        for (n, slot) in selected.iter_mut().enumerate() {
            let name = format!("W{}", n + 1);
            *slot = named.iter().any(|arg| arg.eq_ignore_ascii_case(&name));
        }
        Self(selected)
    }

    /// Whether workload `index` (0 for W1) runs.
    pub fn runs(&self, index: usize) -> bool {
        self.0.get(index).copied().unwrap_or(false)
    }
}

/// Runs the selected workloads once on both sides (each on fresh tables).
/// A workload that does not run keeps zero times and is left out of the
/// report.
pub async fn run_round(framework: &impl Side, raw: &impl Side, selected: Selected) -> Round {
    let mut w: Round = [[Duration::ZERO; 2]; 7];
    for chunk in 0..CHUNKS {
        let singles = chunk * W1_APPENDS / CHUNKS..(chunk + 1) * W1_APPENDS / CHUNKS;
        let per_task = W1_APPENDS / W2_TASKS / CHUNKS;
        let tasks = chunk * per_task..(chunk + 1) * per_task;
        let batches = chunk * W3_APPENDS / CHUNKS..(chunk + 1) * W3_APPENDS / CHUNKS;
        let framework_first = chunk % 2 == 0;
        for turn in 0..2 {
            let side = usize::from((turn == 0) != framework_first);
            let (w1, w2, w3) = if side == 0 {
                chunks(framework, &singles, &tasks, &batches, selected).await
            } else {
                chunks(raw, &singles, &tasks, &batches, selected).await
            };
            w[0][side] += w1;
            w[1][side] += w2;
            w[2][side] += w3;
        }
    }
    if !selected.runs(3) {
        return w;
    }
    if !selected.runs(0) {
        // The stream W1 would have written (amount = version - 1), untimed.
        for first in (0..W1_APPENDS).step_by(W3_BATCH as usize) {
            framework.append_batch("w1", first, W3_BATCH).await;
            raw.append_batch("w1", first, W3_BATCH).await;
        }
    }
    // W4: the framework twice (its repository, then `store.load`) and raw
    // load the 10,000-event stream W1 wrote, one after another; which of
    // the three goes first rotates from run to run, so that none always
    // finds (or leaves) the caches warm.
    let mut wall = [Vec::new(), Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new(), Vec::new()];
    for run in 0..W4_RUNS {
        for turn in 0..3 {
            let side = (run + turn) % 3;
            let (wall_time, cpu_time) = match side {
                0 => w4(framework.load_and_fold("w1")).await,
                1 => w4(framework.load_events_and_fold("w1")).await,
                _ => w4(raw.load_and_fold("w1")).await,
            };
            wall[side].push(wall_time);
            cpu[side].push(cpu_time);
        }
    }
    let [framework_wall, events_wall, raw_wall] = wall.map(median);
    let [framework_cpu, events_cpu, raw_cpu] = cpu.map(median);
    w[3] = [framework_wall, raw_wall];
    w[4] = [framework_cpu, raw_cpu];
    w[5] = [events_wall, raw_wall];
    w[6] = [events_cpu, raw_cpu];
    w
}

/// One chunk of the selected ones of W1, W2 and W3 on one side.
async fn chunks(
    side: &impl Side,
    singles: &Range<u64>,
    tasks: &Range<u64>,
    batches: &Range<u64>,
    selected: Selected,
) -> (Duration, Duration, Duration) {
    let mut times = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    if selected.runs(0) {
        let start = Instant::now();
        for version in singles.clone() {
            side.append_one("w1", version, version).await;
        }
        times.0 = start.elapsed();
    }
    if selected.runs(1) {
        times.1 = w2_chunk(side, tasks).await;
    }
    if selected.runs(2) {
        let start = Instant::now();
        for append in batches.clone() {
            side.append_batch("w3", append * W3_BATCH, W3_BATCH).await;
        }
        times.2 = start.elapsed();
    }
    times
}

/// One chunk of W2: each task appends its share to its own stream.
async fn w2_chunk(side: &impl Side, tasks: &Range<u64>) -> Duration {
    let start = Instant::now();
    let spawned: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let (side, versions) = (side.clone(), tasks.clone());
            tokio::spawn(async move {
                let stream = format!("w2-{task}");
                for version in versions {
                    side.append_one(&stream, version, version).await;
                }
            })
        })
        .collect();
    for task in spawned {
        task.await.expect("task");
    }
    start.elapsed()
}

/// One load and fold: its wall time and this process's CPU time.
async fn w4(load_and_fold: impl Future<Output = u64>) -> (Duration, Duration) {
    let cpu = process_cpu_time();
    let start = Instant::now();
    let balance = load_and_fold.await;
    let elapsed = start.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu);
    assert_eq!(balance, (0..W1_APPENDS).sum::<u64>());
    (elapsed, cpu)
}

/// The CPU time every thread of this process has run so far, in
/// nanoseconds (the first field of each thread's `schedstat`; zero where
/// `/proc` is not there).
fn process_cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Prints each round, then the medians of the rounds (the ratio: the
/// median of the rounds' ratios).
pub fn report(rounds: &[Round]) {
    for (round, times) in rounds.iter().enumerate() {
        println!("round {}:", round + 1);
        let ratios: Vec<f64> = times.iter().map(|[f, r]| ratio(*f, *r)).collect();
        print_rows(times, &ratios);
    }
    let mut medians: Round = [[Duration::ZERO; 2]; 7];
    let mut ratios = Vec::new();
    for (workload, median_times) in medians.iter_mut().enumerate() {
        for (side, time) in median_times.iter_mut().enumerate() {
            *time = median(rounds.iter().map(|r| r[workload][side]).collect());
        }
        if rounds.iter().all(|r| r[workload][0].is_zero()) {
            ratios.push(f64::NAN);
            continue; // not selected
        }
        let mut round_ratios: Vec<f64> = rounds
            .iter()
            .map(|r| ratio(r[workload][0], r[workload][1]))
            .collect();
        round_ratios.sort_by(f64::total_cmp);
        ratios.push(round_ratios[round_ratios.len() / 2]);
    }
    println!(
        "medians of {} rounds (ratio: the median of the rounds' ratios):",
        rounds.len()
    );
    print_rows(&medians, &ratios);
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ratio(framework: Duration, raw: Duration) -> f64 {
    raw.as_secs_f64() / framework.as_secs_f64()
}

fn print_rows(times: &Round, ratios: &[f64]) {
    println!(
        "  {:<44} {:>16} {:>16} {:>6}   (framework ÷ raw throughput)",
        "workload", "framework", "raw sqlx", "ratio"
    );
    for (((name, unit, work), [framework, raw]), ratio) in WORKLOADS.iter().zip(times).zip(ratios) {
        if framework.is_zero() {
            continue; // not selected
        }
        let rate = |d: &Duration| format!("{:.0} {unit}", work / d.as_secs_f64());
        println!(
            "  {name:<44} {:>16} {:>16} {ratio:>6.2}   ({:.1} ms vs {:.1} ms)",
            rate(framework),
            rate(raw),
            framework.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
    }
}
