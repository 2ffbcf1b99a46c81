//! [`HandlerJoin`]: the handlers of one async publish, all in flight at
//! once on the publishing task.
//!
//! It does what `join_all` over the handlers' futures would, without what
//! `join_all` allocates (its list of futures, its list of outputs): up to
//! [`INLINE`] handlers are kept in the join itself, outcomes are kept only
//! for failures, and a handler settled by its call (a plain fn run inline,
//! a panic or a failed extraction) takes no slot's polling at all. A
//! publish to handlers that succeed thus allocates nothing but what the
//! handlers' own futures need (one box each, for `async fn`s).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::bus::HandlerContext;
use crate::bus::error::FailedHandler;
use crate::bus::handler::{AsyncHandler, HandlerFuture, Try, failed, poll_guarded};

/// Handlers a join keeps without allocating; more take one `Vec`.
const INLINE: usize = 8;

/// One handler of the join.
enum Slot {
    /// Its future, polled until it ends.
    Running(HandlerFuture),
    /// Its future, polled inside the handler's span (only when a
    /// subscriber listens).
    Traced(Box<(HandlerFuture, tracing::Span)>),
    /// A handler with a retry policy: its tries as one future.
    Retrying(Pin<Box<dyn Future<Output = Result<(), FailedHandler>> + Send>>),
    /// Ended (or settled by its call).
    Ended,
}

enum Slots {
    Inline([Slot; INLINE]),
    Heap(Vec<Slot>),
}

impl Slots {
    fn for_handlers(count: usize) -> Self {
        if count <= INLINE {
            Self::Inline(std::array::from_fn(|_| Slot::Ended))
        } else {
            Self::Heap((0..count).map(|_| Slot::Ended).collect())
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Slot] {
        match self {
            Self::Inline(slots) => slots,
            Self::Heap(slots) => slots,
        }
    }
}

/// Every handler of a publish, started; resolves to the failures, in
/// subscription order, once every handler has ended.
pub(super) struct HandlerJoin<'h> {
    handlers: &'h [AsyncHandler],
    slots: Slots,
    /// How many slots still run.
    running: usize,
    /// The failures so far, with the handler's index.
    failures: Vec<(usize, FailedHandler)>,
}

impl<'h> HandlerJoin<'h> {
    /// Calls every handler in subscription order, naming each in `context`
    /// (their extractors run now, a plain fn runs entirely); none is polled
    /// yet.
    pub(super) fn start<'c>(handlers: &'h [AsyncHandler], context: &mut HandlerContext<'c>) -> Self
    where
        'h: 'c,
    {
        let mut slots = Slots::for_handlers(handlers.len());
        let mut running = 0;
        let mut failures = Vec::new();
        for (index, (handler, slot)) in handlers.iter().zip(slots.as_mut_slice()).enumerate() {
            context.set_handler(&handler.name);
            if handler.retries() {
                *slot = Slot::Retrying(Box::pin(handler.run(context)));
                running += 1;
                continue;
            }
            // A span only when a subscriber listens: making and dropping
            // even a disabled one costs more than the rest of a no-op
            // handler's call.
            let span = tracing::enabled!(tracing::Level::INFO)
                .then(|| tracing::info_span!("handler", handler = %handler.name));
            let entered = span.as_ref().map(tracing::Span::enter);
            match handler.start(context) {
                Try::Done(Ok(())) => {}
                Try::Done(Err(error)) => {
                    failures.push((index, failed(handler.name.as_str(), error)));
                }
                Try::Running(future) => {
                    drop(entered);
                    *slot = match span {
                        None => Slot::Running(future),
                        Some(span) => Slot::Traced(Box::new((future, span))),
                    };
                    running += 1;
                }
            }
        }
        Self {
            handlers,
            slots,
            running,
            failures,
        }
    }
}

impl Future for HandlerJoin<'_> {
    type Output = Vec<FailedHandler>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.running > 0 {
            for (index, slot) in this.slots.as_mut_slice().iter_mut().enumerate() {
                let name = || this.handlers[index].name.as_str();
                let outcome = match slot {
                    Slot::Ended => continue,
                    Slot::Running(future) => match poll_guarded(future, cx) {
                        Poll::Ready(outcome) => outcome.map_err(|error| failed(name(), error)),
                        Poll::Pending => continue,
                    },
                    Slot::Traced(traced) => {
                        let (future, span) = &mut **traced;
                        let _entered = span.enter();
                        match poll_guarded(future, cx) {
                            Poll::Ready(outcome) => outcome.map_err(|error| failed(name(), error)),
                            Poll::Pending => continue,
                        }
                    }
                    Slot::Retrying(future) => match future.as_mut().poll(cx) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => continue,
                    },
                };
                *slot = Slot::Ended;
                this.running -= 1;
                if let Err(failure) = outcome {
                    this.failures.push((index, failure));
                }
            }
        }
        if this.running > 0 {
            return Poll::Pending;
        }
        if this.failures.is_empty() {
            return Poll::Ready(Vec::new());
        }
        let mut failures = std::mem::take(&mut this.failures);
        failures.sort_by_key(|(index, _)| *index);
        Poll::Ready(failures.into_iter().map(|(_, failure)| failure).collect())
    }
}
