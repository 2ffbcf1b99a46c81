//! What the futures of a publish take, in bytes: the futures of handlers
//! that await a lock, a channel send or a yield (printed: run with
//! `--nocapture` to see them), against what a `HandlerFuture` keeps
//! inline; and the publish's own future, which holds the join of the
//! first eight handlers' futures wherever the caller keeps it (the
//! caller's stack under `block_on`, its task otherwise).
//!
//! Whether such a handler's future is really kept inline is checked on
//! the bus itself by `bus_allocations` (no block per publish); here the
//! sizes say how much room is left.

mod handler_shapes;

use std::mem::size_of_val;
use std::sync::Arc;

use handler_shapes::{
    Forward, Ordered, Total, Yielded, add_under_lock, forward, forward_under_lock, yield_then_count,
};
use orchestrix::bus::{Dep, HandlerFuture, INLINE_FUTURE_BYTES};
use orchestrix::prelude::*;

/// The size of the future `#[event_handler]` makes for `handler`: an
/// `async move` block that owns the event's reference and the extracted
/// arguments, awaits the handler's own future and converts its result, as
/// the generated code does.
macro_rules! generated_future_size {
    ($handler:ident($event:expr, $first:expr)) => {{
        let (event, first) = ($event, $first);
        size_of_val(&async move {
            let returned = $handler(event, first).await;
            orchestrix::__private::into_handler_result(returned)
        })
    }};
    ($handler:ident($event:expr, $first:expr, $second:expr)) => {{
        let (event, first, second) = ($event, $first, $second);
        size_of_val(&async move {
            let returned = $handler(event, first, second).await;
            orchestrix::__private::into_handler_result(returned)
        })
    }};
}

/// A publish's future may take at most this much: eight inline slots
/// of `HandlerFuture` and the publish's own state.
const PUBLISH_FUTURE_LIMIT: usize = 3 * 1024;

#[test]
fn handlers_awaiting_a_lock_a_send_or_a_yield_fit_inline() {
    let event = Ordered { amount: 1 };
    let total = Dep::new(Arc::new(Total::new(0)));
    let (sender, _receiver) = tokio::sync::mpsc::channel(8);
    let sender: Dep<Forward> = Dep::new(Arc::new(sender));
    let yielded = Dep::new(Arc::new(Yielded::new(0)));

    let fitting = [
        (
            "awaits a Mutex lock",
            generated_future_size!(add_under_lock(&event, total.clone())),
        ),
        (
            "awaits an mpsc send",
            generated_future_size!(forward(&event, sender.clone())),
        ),
        (
            "awaits yield_now",
            generated_future_size!(yield_then_count(&event, yielded)),
        ),
    ];
    let lock_and_send = generated_future_size!(forward_under_lock(&event, total, sender));
    println!("inline limit: {INLINE_FUTURE_BYTES} bytes");
    for (shape, size) in fitting {
        println!("handler that {shape}: {size} bytes");
    }
    println!(
        "handler holding a lock across a send: {lock_and_send} bytes (boxed if above the limit)"
    );

    for (shape, size) in fitting {
        assert!(
            size <= INLINE_FUTURE_BYTES,
            "a handler that {shape} takes {size} bytes, more than the {INLINE_FUTURE_BYTES} kept inline"
        );
    }
}

#[test]
fn a_publish_future_stays_within_its_limit() {
    let bus = InMemoryAsyncMessageBus::new();
    let envelope = Envelope::new(Ordered { amount: 1 }).into_any();
    let ready = size_of_val(&bus.publish_envelope(envelope));
    let fresh = size_of_val(&bus.publish(Ordered { amount: 1 }));
    let slot = std::mem::size_of::<Option<HandlerFuture<'static>>>();
    println!("publish_envelope: {ready} bytes; publish: {fresh} bytes; one slot: {slot} bytes");

    assert!(
        8 * slot < ready,
        "the join's eight slots are inside the publish's future"
    );
    for (publish, size) in [("publish_envelope", ready), ("publish", fresh)] {
        assert!(
            size <= PUBLISH_FUTURE_LIMIT,
            "{publish}'s future takes {size} bytes, more than {PUBLISH_FUTURE_LIMIT}"
        );
    }
}
