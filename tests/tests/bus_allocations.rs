//! What a publish allocates, counted by a global allocator that counts
//! (this test binary's own, so other tests' allocations do not mix in):
//! publishing a ready envelope to 5 small handlers allocates nothing on
//! either in-memory bus (`async fn` handlers, plain fns run inline on the
//! async bus, up to 8 closures given to `subscribe`), and at most one block (the
//! boxed future of the `async_trait` method) through
//! `dyn AsyncMessageBus`. Handlers that await a lock, a channel send or a
//! yield allocate nothing either; one whose future is too large to be
//! kept inline takes one block per publish, no more.
//!
//! One `#[test]` only: the counts are process-wide, and the test harness
//! runs tests on parallel threads.

mod handler_shapes;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use handler_shapes::{Ordered, Total, Yielded};
use orchestrix::bus::Dependencies;
use orchestrix::prelude::*;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Pinged {
    index: usize,
}

/// How many handler calls ran to their end.
type Calls = AtomicUsize;

macro_rules! counting_handlers {
    ($($async_name:ident, $sync_name:ident;)*) => {$(
        #[event_handler]
        async fn $async_name(event: &Pinged, calls: Dep<Calls>) {
            std::hint::black_box(event.index);
            calls.fetch_add(1, Ordering::Relaxed);
        }

        #[event_handler]
        fn $sync_name(event: &Pinged, calls: Dep<Calls>) {
            std::hint::black_box(event.index);
            calls.fetch_add(1, Ordering::Relaxed);
        }
    )*};
}

counting_handlers! {
    count_a, count_a_sync;
    count_b, count_b_sync;
    count_c, count_c_sync;
    count_d, count_d_sync;
    count_e, count_e_sync;
}

const PUBLISHES: u64 = 100;

/// Publishes before counting starts, on the async bus.
const WARM_UP: u64 = 100;

/// Rounds of `PUBLISHES` counted; the fewest blocks of a round is the
/// figure. The count is process-wide, so anything else that allocates
/// meanwhile (the test harness's own threads, e.g. its notice of a test
/// running long on a loaded machine) only adds to a round: the publish's
/// own blocks are the same in every round.
const ROUNDS: u64 = 3;

/// The publishes counted, warm-up not included.
const COUNTED: u64 = ROUNDS * PUBLISHES;

/// Blocks allocated so far in the process.
fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Blocks `publish` allocates per call, over `PUBLISHES` calls after a
/// first one (which may set up what lasts, e.g. tracing's call sites), in
/// the round of the fewest of [`ROUNDS`].
fn blocks_per_publish(mut publish: impl FnMut()) -> f64 {
    publish();
    let mut fewest = u64::MAX;
    for _ in 0..ROUNDS {
        let before = blocks();
        for _ in 0..PUBLISHES {
            publish();
        }
        fewest = fewest.min(blocks() - before);
    }
    fewest as f64 / PUBLISHES as f64
}

#[test]
fn a_publish_allocates_nothing_but_boxes_of_futures_too_large_to_keep_inline() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    five_small_handlers_on_either_bus(&runtime);
    five_plain_fns_on_the_async_bus(&runtime);
    eight_subscribed_closures(&runtime);
    handlers_that_await(&runtime);
}

/// Blocks allocated per publish, as [`blocks_per_publish`] counts them,
/// for an async `publish` run on `runtime` (inside one `block_on`: the
/// runtime's own set-up per call is not the publish's).
fn blocks_per_async_publish<F: Future<Output = ()>>(
    runtime: &tokio::runtime::Runtime,
    mut publish: impl FnMut() -> F,
) -> f64 {
    runtime.block_on(async {
        // Warm-up: what lasts beyond a publish (tracing's call sites, the
        // blocks of a channel's buffer, reused once emptied) is set up here.
        for _ in 0..WARM_UP {
            publish().await;
        }
        let mut fewest = u64::MAX;
        for _ in 0..ROUNDS {
            let before = blocks();
            for _ in 0..PUBLISHES {
                publish().await;
            }
            fewest = fewest.min(blocks() - before);
        }
        fewest as f64 / PUBLISHES as f64
    })
}

/// How many handler calls ran to their end, on the bus of `dependencies`.
fn calls(dependencies: &Dependencies) -> usize {
    dependencies
        .get::<Calls>()
        .expect("calls")
        .load(Ordering::Relaxed)
}

fn five_small_handlers_on_either_bus(runtime: &tokio::runtime::Runtime) {
    let async_bus = InMemoryAsyncMessageBus::builder()
        .dependency(Calls::default())
        .handler(count_a)
        .handler(count_b)
        .handler(count_c)
        .handler(count_d)
        .handler(count_e)
        .build()
        .expect("async bus");
    let sync_bus = InMemoryMessageBus::builder()
        .dependency(Calls::default())
        .handler(count_a_sync)
        .handler(count_b_sync)
        .handler(count_c_sync)
        .handler(count_d_sync)
        .handler(count_e_sync)
        .build()
        .expect("sync bus");
    let envelope = Envelope::new(Pinged { index: 7 }).into_any();
    let shared: &dyn AsyncMessageBus = &async_bus;

    let async_blocks = blocks_per_async_publish(runtime, || async {
        async_bus
            .publish_envelope(envelope.clone())
            .await
            .expect("no failure");
    });
    let trait_blocks = blocks_per_async_publish(runtime, || async {
        shared
            .publish_envelope(envelope.clone())
            .await
            .expect("no failure");
    });
    let sync_blocks = blocks_per_publish(|| {
        sync_bus
            .publish_envelope(envelope.clone())
            .expect("no failure");
    });

    // Every handler ran each time: nothing was skipped to save the work.
    let async_publishes = (WARM_UP + COUNTED) as usize;
    dhat::assert_eq!(calls(async_bus.dependencies()), 5 * 2 * async_publishes);
    dhat::assert_eq!(calls(sync_bus.dependencies()), 5 * (1 + COUNTED as usize));
    dhat::assert_eq!(async_blocks, 0.0, "async bus: blocks per publish");
    dhat::assert!(
        trait_blocks <= 1.0,
        "async bus through `dyn AsyncMessageBus`: {trait_blocks} blocks per publish"
    );
    dhat::assert_eq!(sync_blocks, 0.0, "sync bus: blocks per publish");
}

/// Plain fn handlers on the async bus run inline: no future, no block.
fn five_plain_fns_on_the_async_bus(runtime: &tokio::runtime::Runtime) {
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Calls::default())
        .handler(count_a_sync)
        .handler(count_b_sync)
        .handler(count_c_sync)
        .handler(count_d_sync)
        .handler(count_e_sync)
        .build()
        .expect("async bus");
    let envelope = Envelope::new(Pinged { index: 7 }).into_any();
    let blocks = blocks_per_async_publish(runtime, || async {
        bus.publish_envelope(envelope.clone())
            .await
            .expect("no failure");
    });
    dhat::assert_eq!(calls(bus.dependencies()), 5 * (WARM_UP + COUNTED) as usize);
    dhat::assert_eq!(
        blocks,
        0.0,
        "plain fns on the async bus: blocks per publish"
    );
}

/// Closures given to `subscribe` keep their small futures inline too, up
/// to the eight handlers the join keeps without a box.
fn eight_subscribed_closures(runtime: &tokio::runtime::Runtime) {
    let bus = InMemoryAsyncMessageBus::new();
    let calls = std::sync::Arc::new(Calls::default());
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let calls = calls.clone();
        bus.subscribe(name, move |event: Envelope<Pinged>| {
            let calls = calls.clone();
            async move {
                std::hint::black_box(event.message().index);
                calls.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let envelope = Envelope::new(Pinged { index: 7 }).into_any();
    let blocks = blocks_per_async_publish(runtime, || async {
        bus.publish_envelope(envelope.clone())
            .await
            .expect("no failure");
    });
    dhat::assert_eq!(
        calls.load(Ordering::Relaxed),
        8 * (WARM_UP + COUNTED) as usize
    );
    dhat::assert_eq!(blocks, 0.0, "subscribed closures: blocks per publish");
}

/// Handlers awaiting a lock, a send and a yield keep their futures inline;
/// one holding a lock across a send has a future too large for that and
/// is boxed: one block per publish, no more.
fn handlers_that_await(runtime: &tokio::runtime::Runtime) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<u64>(4);
    let fitting = InMemoryAsyncMessageBus::builder()
        .dependency(Total::new(0))
        .dependency(sender.clone())
        .dependency(Yielded::new(0))
        .handler(handler_shapes::add_under_lock)
        .handler(handler_shapes::forward)
        .handler(handler_shapes::yield_then_count)
        .build()
        .expect("bus of handlers that fit");
    let boxed = InMemoryAsyncMessageBus::builder()
        .dependency(Total::new(0))
        .dependency(sender)
        .handler(handler_shapes::forward_under_lock)
        .build()
        .expect("bus of a handler that does not fit");
    let envelope = Envelope::new(Ordered { amount: 1 }).into_any();
    let mut received = 0;
    let mut publish_to = |bus: &InMemoryAsyncMessageBus| {
        let blocks = blocks_per_async_publish(runtime, || {
            // The channel is emptied before each publish, so a send
            // never waits for room.
            while receiver.try_recv().is_ok() {
                received += 1;
            }
            let publish = bus.publish_envelope(envelope.clone());
            async move { publish.await.expect("no failure") }
        });
        while receiver.try_recv().is_ok() {
            received += 1;
        }
        blocks
    };
    let fitting_blocks = publish_to(&fitting);
    let boxed_blocks = publish_to(&boxed);

    let publishes = (WARM_UP + COUNTED) as usize;
    dhat::assert_eq!(received, 2 * publishes, "every send arrived");
    let yielded = fitting.dependencies().get::<Yielded>().expect("yielded");
    dhat::assert_eq!(yielded.load(Ordering::Relaxed), publishes as u64);
    dhat::assert_eq!(
        fitting_blocks,
        0.0,
        "handlers that await: blocks per publish"
    );
    dhat::assert!(
        boxed_blocks <= 1.0,
        "a handler too large to keep inline: {boxed_blocks} blocks per publish"
    );
}
