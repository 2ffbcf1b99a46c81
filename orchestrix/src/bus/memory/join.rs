//! [`HandlerJoin`]: the handlers of one async publish, all in flight at
//! once on the publishing task.
//!
//! It does what `join_all` over the handlers' futures would, without what
//! `join_all` allocates (its list of futures, its list of outputs): up to
//! [`INLINE`] handlers' futures are kept in the join itself, and a
//! [`HandlerFuture`] keeps a small future inline, so the join holds the
//! handlers' futures without boxing them. The join is pinned where the
//! publish keeps it before any handler is called, and each call's future
//! is pinned in its slot before its first poll (it is moved there from the
//! call, not afterwards). Outcomes are kept only for failures, and a
//! handler settled by its call (a plain fn run inline, a panic or a failed
//! extraction) takes no slot's polling at all. A publish to up to
//! [`INLINE`] handlers whose futures fit in a [`HandlerFuture`], that all
//! succeed, thus allocates nothing.
//!
//! Past the first [`INLINE`] handlers, each handler's slot is a box of its
//! own (one allocation per handler per publish, plus the list of those
//! boxes), and its future takes one more box if it does not fit inline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Instrument;

use crate::bus::HandlerContext;
use crate::bus::error::FailedHandler;
use crate::bus::handler::{AsyncHandler, HandlerFuture, Try, failed, poll_guarded};
use crate::error::BoxError;

/// Handlers a join keeps without allocating; each one past them takes a
/// box of its own.
const INLINE: usize = 8;

/// One handler of the join: its future until it ends, then nothing.
type Slot<'a> = Option<HandlerFuture<'a>>;

pin_project_lite::pin_project! {
    /// The first [`INLINE`] slots, each pinned where it is (named fields,
    /// so each can be reached pinned without unsafe code).
    struct InlineSlots<'a> {
        #[pin] s0: Slot<'a>,
        #[pin] s1: Slot<'a>,
        #[pin] s2: Slot<'a>,
        #[pin] s3: Slot<'a>,
        #[pin] s4: Slot<'a>,
        #[pin] s5: Slot<'a>,
        #[pin] s6: Slot<'a>,
        #[pin] s7: Slot<'a>,
    }
}

impl<'a> InlineSlots<'a> {
    fn empty() -> Self {
        Self {
            s0: None,
            s1: None,
            s2: None,
            s3: None,
            s4: None,
            s5: None,
            s6: None,
            s7: None,
        }
    }

    /// Every slot, pinned, in order.
    fn each(self: Pin<&mut Self>) -> [Pin<&mut Slot<'a>>; INLINE] {
        let slots = self.project();
        [
            slots.s0, slots.s1, slots.s2, slots.s3, slots.s4, slots.s5, slots.s6, slots.s7,
        ]
    }
}

pin_project_lite::pin_project! {
    /// Every handler of a publish; once [`start`](Self::start)ed, resolves
    /// to the failures, in subscription order, when every handler has
    /// ended.
    pub(super) struct HandlerJoin<'a> {
        handlers: &'a [AsyncHandler],
        #[pin]
        inline: InlineSlots<'a>,
        // The slots of the handlers past the first `INLINE`.
        heap: Vec<Pin<Box<Slot<'a>>>>,
        // How many slots still run.
        running: usize,
        // The failures so far, with the handler's index.
        failures: Vec<(usize, FailedHandler)>,
    }
}

impl<'a> HandlerJoin<'a> {
    /// The join of `handlers`, none called yet.
    pub(super) fn new(handlers: &'a [AsyncHandler]) -> Self {
        Self {
            handlers,
            inline: InlineSlots::empty(),
            heap: Vec::new(),
            running: 0,
            failures: Vec::new(),
        }
    }

    /// Calls every handler in subscription order, naming each in `context`
    /// (their extractors run now, a plain fn runs entirely); none is polled
    /// yet. Called once per join: a second call would replace the futures
    /// of handlers still running.
    pub(super) fn start(self: Pin<&mut Self>, context: &mut HandlerContext<'a>) {
        let this = self.project();
        debug_assert!(
            this.heap.is_empty() && *this.running == 0 && this.failures.is_empty(),
            "a HandlerJoin is started once"
        );
        let handlers = *this.handlers;
        this.heap
            .extend((INLINE..handlers.len()).map(|_| Box::pin(None)));
        // A span only when a subscriber listens: making and dropping even a
        // disabled one costs more than the rest of a no-op handler's call.
        let traced = tracing::enabled!(tracing::Level::INFO);
        let heap = this.heap.iter_mut().map(|slot| slot.as_mut());
        let slots = this.inline.each().into_iter().chain(heap);
        for ((index, handler), slot) in handlers.iter().enumerate().zip(slots) {
            context.set_handler(&handler.name);
            match start_in(handler, context, slot, traced) {
                Ok(true) => *this.running += 1,
                Ok(false) => {}
                Err(error) => this
                    .failures
                    .push((index, failed(handler.name.as_str(), error))),
            }
        }
    }
}

/// Calls `handler` once, its future (if any) put into `slot`: whether it
/// runs on, or its error if the call settled it as failed.
fn start_in<'a>(
    handler: &AsyncHandler,
    context: &HandlerContext<'a>,
    mut slot: Pin<&mut Slot<'a>>,
    traced: bool,
) -> Result<bool, BoxError> {
    if handler.retries() {
        // Its tries as one future; a failure is reported when the last
        // try fails, so it ends here as already reported.
        let tries = handler.run(context);
        slot.set(Some(HandlerFuture::new(async move {
            tries
                .await
                .map_err(|failure| BoxError::from(Reported(failure)))
        })));
        return Ok(true);
    }
    if traced {
        let span = tracing::info_span!("handler", handler = %handler.name);
        return match span.in_scope(|| handler.start(context)) {
            Try::Done(outcome) => outcome.map(|()| false),
            Try::Running(future) => {
                slot.set(Some(HandlerFuture::new(future.instrument(span))));
                Ok(true)
            }
        };
    }
    handler.start_in(context, slot.as_mut())?;
    Ok(slot.is_some())
}

/// The failure of a retrying handler, already reported when its last try
/// failed: carried through the handler's future as its error.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.error)]
struct Reported(FailedHandler);

impl Future for HandlerJoin<'_> {
    type Output = Vec<FailedHandler>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.running > 0 {
            let heap = this.heap.iter_mut().map(|slot| slot.as_mut());
            for (index, mut slot) in this.inline.each().into_iter().chain(heap).enumerate() {
                let Some(future) = slot.as_mut().as_pin_mut() else {
                    continue;
                };
                let Poll::Ready(outcome) = poll_guarded(future, cx) else {
                    continue;
                };
                slot.set(None);
                *this.running -= 1;
                if let Err(error) = outcome {
                    let failure = match error.downcast::<Reported>() {
                        Ok(reported) => reported.0,
                        Err(error) => failed(this.handlers[index].name.as_str(), error),
                    };
                    this.failures.push((index, failure));
                }
            }
        }
        if *this.running > 0 {
            return Poll::Pending;
        }
        if this.failures.is_empty() {
            return Poll::Ready(Vec::new());
        }
        let mut failures = std::mem::take(this.failures);
        failures.sort_by_key(|(index, _)| *index);
        Poll::Ready(failures.into_iter().map(|(_, failure)| failure).collect())
    }
}
