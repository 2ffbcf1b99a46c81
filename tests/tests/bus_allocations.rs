//! What a publish allocates, counted by a global allocator that counts
//! (this test binary's own, so other tests' allocations do not mix in):
//! publishing a ready envelope to 5 small handlers allocates nothing on
//! either in-memory bus, and at most one block (the boxed future of the
//! `async_trait` method) through `dyn AsyncMessageBus`.
//!
//! One `#[test]` only: the counts are process-wide, and the test harness
//! runs tests on parallel threads.

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Blocks allocated so far in the process.
fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Blocks `publish` allocates per call, over `PUBLISHES` calls after a
/// first one (which may set up what lasts, e.g. tracing's call sites).
fn blocks_per_publish(mut publish: impl FnMut()) -> f64 {
    publish();
    let before = blocks();
    for _ in 0..PUBLISHES {
        publish();
    }
    (blocks() - before) as f64 / PUBLISHES as f64
}

#[test]
fn a_publish_to_five_small_handlers_allocates_nothing_or_one_block_through_the_trait() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
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

    // Counted inside one `block_on`: the runtime's own set-up per call is
    // not the publish's.
    let (async_blocks, trait_blocks) = runtime.block_on(async {
        let shared: &dyn AsyncMessageBus = &async_bus;
        let mut counts = [0.0; 2];
        for (count, through_trait) in counts.iter_mut().zip([false, true]) {
            let publish = || async {
                let outcome = if through_trait {
                    shared.publish_envelope(envelope.clone()).await
                } else {
                    async_bus.publish_envelope(envelope.clone()).await
                };
                outcome.expect("no failure");
            };
            publish().await;
            let before = blocks();
            for _ in 0..PUBLISHES {
                publish().await;
            }
            *count = (blocks() - before) as f64 / PUBLISHES as f64;
        }
        (counts[0], counts[1])
    });
    let sync_blocks = blocks_per_publish(|| {
        sync_bus
            .publish_envelope(envelope.clone())
            .expect("no failure");
    });

    // Every handler ran each time: nothing was skipped to save the work.
    let calls = |bus: &Dependencies| bus.get::<Calls>().expect("calls").load(Ordering::Relaxed);
    let publishes = 1 + PUBLISHES as usize;
    assert_eq!(calls(async_bus.dependencies()), 5 * 2 * publishes);
    assert_eq!(calls(sync_bus.dependencies()), 5 * publishes);
    assert_eq!(async_blocks, 0.0, "async bus: blocks per publish");
    assert!(
        trait_blocks <= 1.0,
        "async bus through `dyn AsyncMessageBus`: {trait_blocks} blocks per publish"
    );
    assert_eq!(sync_blocks, 0.0, "sync bus: blocks per publish");
}
