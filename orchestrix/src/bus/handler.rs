//! Handlers as the buses store them: a name and a type-erased call.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use tracing::Instrument;

use super::context::{HandlerContext, HandlerName};
use super::error::FailedHandler;
use crate::error::BoxError;
use crate::retry::RetryPolicy;

/// Bytes a handler's future may take and still be kept inside a
/// [`HandlerFuture`], not on the heap.
///
/// Chosen from the futures `#[event_handler]` makes for handlers that
/// await one thing (`tests/bus_future_sizes.rs` prints them): awaiting a
/// tokio `Mutex` lock takes 184 bytes, a bounded `mpsc` send 224, a
/// `yield_now` 80 (each with the event and one `Dep`). A handler that holds
/// state across two such awaits (a lock held across a send: 264 bytes), or
/// awaits a client call, a query or a nested publish, is usually larger and
/// is boxed: one allocation per call, as before this limit existed. The
/// price is paid by every publish: its future holds eight slots of
/// `INLINE_FUTURE_BYTES` and a little more (about 2.4 KiB in all), on the
/// caller's stack under `block_on`, in the caller's task otherwise.
///
/// The value may change between versions; it is no promise of the API.
pub const INLINE_FUTURE_BYTES: usize = 256;

pin_project_lite::pin_project! {
    /// What an async handler call returns once type-erased: the handler's
    /// future, kept inline when it takes at most [`INLINE_FUTURE_BYTES`]
    /// (so a publish to such handlers allocates nothing for them), boxed
    /// otherwise.
    ///
    /// A handler the bus stores is a fn from the [`HandlerContext`] to a
    /// `HandlerFuture` with the context's lifetime `'a`, exactly: the
    /// future may borrow the published message and the dependencies for
    /// `'a`, and the bus keeps them while it runs. It used to be a
    /// `Pin<Box<dyn Future>>` alias; it is a struct now (issue 12's
    /// dispatch rework, see "Migrating hand-written handlers" in the
    /// messaging guide): wrap the `async` block in [`HandlerFuture::new`]
    /// (`Box::pin(async { .. })` no longer compiles where a
    /// `HandlerFuture` is expected; an already boxed future converts with
    /// `.into()`, and is not boxed again).
    ///
    /// ```
    /// use orchestrix::bus::{HandlerContext, HandlerFuture};
    ///
    /// fn call<'a>(context: &HandlerContext<'a>) -> HandlerFuture<'a> {
    ///     let handler = context.handler().to_owned();
    ///     HandlerFuture::new(async move {
    ///         println!("{handler} ran");
    ///         Ok(())
    ///     })
    /// }
    /// # let _ = call;
    /// ```
    ///
    /// It is not `Unpin` (an inline future may borrow itself): to poll
    /// one by hand, pin it first, e.g. with [`std::pin::pin!`]; `.await`
    /// needs nothing.
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use orchestrix::bus::HandlerFuture;
    ///
    /// let mut future = pin!(HandlerFuture::new(async { Ok(()) }));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
    /// ```
    pub struct HandlerFuture<'a> {
        #[pin]
        future: stackfuture::StackFuture<'a, Result<(), BoxError>, INLINE_FUTURE_BYTES>,
    }
}

impl<'a> HandlerFuture<'a> {
    /// `future`, type-erased: kept inline if it fits, boxed if not. It may
    /// borrow what the handler context lends for `'a` (the published
    /// message, the dependencies): the bus keeps those while it runs.
    pub fn new<F>(future: F) -> Self
    where
        F: Future<Output = Result<(), BoxError>> + Send + 'a,
    {
        Self {
            future: stackfuture::StackFuture::from_or_box(future),
        }
    }

    /// A handler that ends at once with `outcome`.
    pub fn ready(outcome: Result<(), BoxError>) -> Self {
        Self::new(std::future::ready(outcome))
    }
}

impl<'a> From<Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>>
    for HandlerFuture<'a>
{
    fn from(future: Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>) -> Self {
        Self::new(future)
    }
}

impl Future for HandlerFuture<'_> {
    type Output = Result<(), BoxError>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().future.poll(cx)
    }
}

impl std::fmt::Debug for HandlerFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerFuture").finish_non_exhaustive()
    }
}

/// The return types a handler may have: `()` (cannot fail) or
/// `Result<(), E>` where `E` converts into a [`BoxError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid event handler return type",
    label = "a handler returns `()` or `Result<(), E>`",
    note = "return nothing, or `Result<(), E>` where `E` is an error type (`E: Into<Box<dyn Error + Send + Sync>>`)"
)]
pub trait IntoHandlerResult {
    /// The outcome as the bus records it.
    fn into_handler_result(self) -> Result<(), BoxError>;
}

impl IntoHandlerResult for () {
    #[inline]
    fn into_handler_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Converts a handler's return value; used by `#[event_handler]` expansions
/// so a wrong return type is reported on the user's signature.
#[doc(hidden)]
pub fn into_handler_result<R: IntoHandlerResult>(returned: R) -> Result<(), BoxError> {
    returned.into_handler_result()
}

type AsyncCall = dyn for<'a> Fn(&HandlerContext<'a>) -> HandlerFuture<'a> + Send + Sync;
type SyncCall = dyn Fn(&HandlerContext<'_>) -> Result<(), BoxError> + Send + Sync;
type AsyncFn = for<'a> fn(&HandlerContext<'a>) -> HandlerFuture<'a>;
type SyncFn = fn(&HandlerContext<'_>) -> Result<(), BoxError>;

/// How an async handler is called: the fn an `#[event_handler]`
/// registration generated, called directly, or a closure given to
/// `subscribe`, behind its `Arc` (one more indirection).
#[derive(Clone)]
pub(crate) enum AsyncCallOf {
    Generated(AsyncFn),
    Closure(Arc<AsyncCall>),
}

/// How a plain fn handler is called; see [`AsyncCallOf`].
#[derive(Clone)]
pub(crate) enum SyncCallOf {
    Generated(SyncFn),
    Closure(Arc<SyncCall>),
}

impl AsyncCallOf {
    fn call<'a>(&self, context: &HandlerContext<'a>) -> HandlerFuture<'a> {
        match self {
            Self::Generated(call) => call(context),
            Self::Closure(call) => call(context),
        }
    }
}

impl SyncCallOf {
    #[inline]
    fn call(&self, context: &HandlerContext<'_>) -> Result<(), BoxError> {
        match self {
            Self::Generated(call) => call(context),
            Self::Closure(call) => call(context),
        }
    }
}

/// `call`, its signature stated as the bus stores it (a closure's own
/// would name no lifetime shared by its context and its future).
pub(crate) fn async_call<F>(call: F) -> F
where
    F: for<'a> Fn(&HandlerContext<'a>) -> HandlerFuture<'a> + Send + Sync + 'static,
{
    call
}

impl From<AsyncFn> for AsyncCallOf {
    fn from(call: AsyncFn) -> Self {
        Self::Generated(call)
    }
}

impl From<SyncFn> for SyncCallOf {
    fn from(call: SyncFn) -> Self {
        Self::Generated(call)
    }
}

/// How a handler's tries ended: how many there were, when the first one
/// failed, and the outcome of the last.
pub(crate) struct Attempts {
    pub(crate) attempts: u32,
    pub(crate) first_failed_at: Option<time::OffsetDateTime>,
    pub(crate) result: Result<(), FailedHandler>,
}

/// How the async bus calls a handler.
#[derive(Clone)]
enum AsyncHandlerCall {
    /// An `async fn` handler (or a subscribed closure): the call returns
    /// its future.
    Future(AsyncCallOf),
    /// A plain fn handler the async bus runs inline: its outcome is known
    /// when the call returns, so no future is made (nor boxed) for it.
    Inline(SyncCallOf),
}

/// An async handler as the async bus stores it.
#[derive(Clone)]
pub(crate) struct AsyncHandler {
    pub(crate) name: HandlerName,
    call: AsyncHandlerCall,
    retry: RetryPolicy,
}

/// One try of a handler, just called: its outcome when the call already
/// settled it (a plain fn, a panic in the call, a failed extraction is
/// still a future), else the future to poll.
#[expect(
    clippy::large_enum_variant,
    reason = "returned and matched at once; boxing the future would cost the allocation an inline one saves"
)]
pub(crate) enum Try<'a> {
    /// The outcome is known.
    Done(Result<(), BoxError>),
    /// The handler's future, not polled yet.
    Running(HandlerFuture<'a>),
}

impl AsyncHandler {
    pub(crate) fn new(name: HandlerName, call: AsyncCallOf) -> Self {
        Self {
            name,
            call: AsyncHandlerCall::Future(call),
            retry: RetryPolicy::none(),
        }
    }

    /// A plain fn handler that the async bus calls inline, on the
    /// publishing task, when the publish names it.
    pub(crate) fn inline(name: HandlerName, call: SyncCallOf) -> Self {
        Self {
            name,
            call: AsyncHandlerCall::Inline(call),
            retry: RetryPolicy::none(),
        }
    }

    /// The handler, tried as `retry` says.
    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether a failed try may be followed by another.
    pub(crate) fn retries(&self) -> bool {
        self.retry.max_attempts() > 1
    }

    /// Calls the handler once: its extractors run now (a plain fn runs
    /// entirely); a panic in the call is this try's failure.
    pub(crate) fn start<'a>(&self, context: &HandlerContext<'a>) -> Try<'a> {
        start(&self.call, context)
    }

    /// Calls the handler once, as [`start`](Self::start) does, but puts
    /// its future (if the call makes one) into `slot`, where it is pinned
    /// before its first poll. `Err` if the call
    /// settled it as failed (a panic in the call, a plain fn's error).
    pub(crate) fn start_in<'a>(
        &self,
        context: &HandlerContext<'a>,
        mut slot: Pin<&mut Option<HandlerFuture<'a>>>,
    ) -> Result<(), BoxError> {
        let called = std::panic::catch_unwind(AssertUnwindSafe(|| match &self.call {
            AsyncHandlerCall::Future(call) => {
                slot.set(Some(call.call(context)));
                Ok(())
            }
            AsyncHandlerCall::Inline(call) => call.call(context),
        }));
        called.unwrap_or_else(|panic| Err(panicked(panic)))
    }

    /// As [`run_attempts`](Self::run_attempts), saying only how the last
    /// try ended.
    pub(crate) fn run<'a>(
        &self,
        context: &HandlerContext<'a>,
    ) -> impl Future<Output = Result<(), FailedHandler>> + Send + use<'a> {
        let attempts = self.run_attempts(context);
        async move { attempts.await.result }
    }

    /// Runs the handler to its end inside a span named after it; a panic is
    /// caught and reported as this handler's failure. The handler's
    /// extractors run now, from `context`; the future owns what it needs
    /// but the message and dependencies `context` lends for `'a`.
    /// It is tried again as the handler's retry policy says after an error
    /// or a panic (each later try extracts its arguments afresh from a
    /// context of its own, when `context` shares its dependencies), and the
    /// outcome says how many tries there were.
    pub(crate) fn run_attempts<'a>(
        &self,
        context: &HandlerContext<'a>,
    ) -> impl Future<Output = Attempts> + Send + use<'a> {
        let span = listened_span!("handler", handler = %self.name);
        let name = self.name.clone();
        let first = attempt(&self.call, context);
        let again = if self.retries() {
            context
                .owned_parts()
                .map(|parts| (parts, self.call.clone()))
        } else {
            None
        };
        let retry = self.retry;
        async move {
            let mut attempts = 1;
            let mut first_failed_at = None;
            let mut outcome = first.await;
            loop {
                let error = match outcome {
                    Ok(()) => {
                        return Attempts {
                            attempts,
                            first_failed_at,
                            result: Ok(()),
                        };
                    }
                    Err(error) => error,
                };
                first_failed_at.get_or_insert_with(time::OffsetDateTime::now_utc);
                let Some(((envelope, dependencies), call)) =
                    again.as_ref().filter(|_| retry.allows_another(attempts))
                else {
                    return Attempts {
                        attempts,
                        first_failed_at,
                        result: Err(failed(name.as_str(), error)),
                    };
                };
                tracing::debug!(handler = %name, attempt = attempts, %error, "retrying handler");
                tokio::time::sleep(retry.delay_after(attempts)).await;
                attempts += 1;
                let next = {
                    let context = HandlerContext::shared(envelope, dependencies, name.clone());
                    attempt(call, &context)
                };
                outcome = next.await;
            }
        }
        .instrument(span)
    }
}

/// One call of a handler: a panic in the call (before any future exists)
/// is the try's failure.
fn start<'a>(call: &AsyncHandlerCall, context: &HandlerContext<'a>) -> Try<'a> {
    let called = std::panic::catch_unwind(AssertUnwindSafe(|| match call {
        AsyncHandlerCall::Future(call) => Try::Running(call.call(context)),
        AsyncHandlerCall::Inline(call) => Try::Done(call.call(context)),
    }));
    called.unwrap_or_else(|panic| Try::Done(Err(panicked(panic))))
}

/// Polls a handler's future once; a panic while polling is its failure.
pub(crate) fn poll_guarded(
    future: Pin<&mut HandlerFuture<'_>>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Result<(), BoxError>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
        .unwrap_or_else(|panic| std::task::Poll::Ready(Err(panicked(panic))))
}

/// One try of an async handler: its extractors run now, a panic (in the
/// call or in the future) is an error.
fn attempt<'a>(
    call: &AsyncHandlerCall,
    context: &HandlerContext<'a>,
) -> impl Future<Output = Result<(), BoxError>> + Send + use<'a> {
    let started = start(call, context);
    async move {
        match started {
            Try::Done(outcome) => outcome,
            Try::Running(future) => flatten(AssertUnwindSafe(future).catch_unwind().await),
        }
    }
}

/// A blocking handler as the sync bus stores it.
#[derive(Clone)]
pub(crate) struct SyncHandler {
    pub(crate) name: HandlerName,
    call: SyncCallOf,
    retry: RetryPolicy,
}

impl SyncHandler {
    pub(crate) fn new(name: HandlerName, call: SyncCallOf) -> Self {
        Self {
            name,
            call,
            retry: RetryPolicy::none(),
        }
    }

    /// The handler, tried as `retry` says (the waits block the thread).
    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Runs the handler inside a span named after it (when a subscriber
    /// listens), tried again as its retry policy says; a panic is caught
    /// and reported as this handler's failure. Never inlined: a publish's
    /// loop calls it only for a handler with retries.
    #[inline(never)]
    pub(crate) fn run(&self, context: &HandlerContext<'_>) -> Result<(), FailedHandler> {
        let _entered = listened_span!("handler", handler = %self.name).entered();
        let mut attempts = 1;
        loop {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.call.call(context)));
            let error = match flatten(outcome) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if !self.retry.allows_another(attempts) {
                return Err(failed(self.name.as_str(), error));
            }
            tracing::debug!(handler = %self.name, attempt = attempts, %error, "retrying handler");
            std::thread::sleep(self.retry.delay_after(attempts));
            attempts += 1;
        }
    }

    /// As [`run`](Self::run), but a panic of a handler without retries is
    /// left to the caller's guard ([`run_in_turn`] catches it).
    /// `traced`: whether a subscriber listens (asked once per publish).
    ///
    /// Inlined into the publish's loop with only the plain call in it: the
    /// span and the retries are out of line, so they cost the loop nothing
    /// (no registers spilled for them) when they are not needed.
    #[inline]
    fn run_in_guard(
        &self,
        context: &HandlerContext<'_>,
        traced: bool,
    ) -> Result<(), FailedHandler> {
        if self.retry.max_attempts() > 1 {
            return self.run(context);
        }
        if traced {
            return self.run_in_span(context);
        }
        match self.call.call(context) {
            Ok(()) => Ok(()),
            Err(error) => Err(failed(self.name.as_str(), error)),
        }
    }

    /// One try of the handler in a span named after it (a panic is left to
    /// the caller's guard).
    #[inline(never)]
    fn run_in_span(&self, context: &HandlerContext<'_>) -> Result<(), FailedHandler> {
        let _entered = tracing::info_span!("handler", handler = %self.name).entered();
        self.call
            .call(context)
            .map_err(|error| failed(self.name.as_str(), error))
    }
}

/// Runs `handlers` one after another, in order, each named in `context`
/// in turn, every one to its end whatever the others did; the failures, in
/// order.
///
/// One panic guard covers the run, not one per handler: a panic ends the
/// guarded loop at the handler that raised it, which is recorded as
/// failed, and a new guard goes on from the next handler. So a publish to
/// handlers that do not panic pays for one guard.
pub(crate) fn run_in_turn<'a>(
    handlers: &'a [SyncHandler],
    context: &mut HandlerContext<'a>,
) -> Vec<FailedHandler> {
    let mut failures = Vec::new();
    let mut next = 0;
    // Asked once per publish, not once per handler.
    let traced = tracing::enabled!(tracing::Level::INFO);
    while next < handlers.len() {
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(handler) = handlers.get(next) {
                next += 1;
                context.set_handler(&handler.name);
                if let Err(failure) = handler.run_in_guard(context, traced) {
                    failures.push(failure);
                }
            }
        }));
        if let Err(panic) = run {
            // `next` was moved past the handler before it was called.
            failures.push(panicked_in_turn(&handlers[next - 1].name, panic));
        }
    }
    failures
}

/// The failure of a handler whose panic ended [`run_in_turn`]'s guarded
/// loop. The unwinding left its span: the failure is logged in it again,
/// as any other handler failure is. Out of line, so the loop keeps no
/// room for its span.
#[cold]
#[inline(never)]
fn panicked_in_turn(name: &HandlerName, panic: Box<dyn Any + Send>) -> FailedHandler {
    let _entered = listened_span!("handler", handler = %name).entered();
    failed(name.as_str(), panicked(panic))
}

/// A handler's outcome with a panic turned into [`HandlerPanicked`].
fn flatten(outcome: Result<Result<(), BoxError>, Box<dyn Any + Send>>) -> Result<(), BoxError> {
    outcome.unwrap_or_else(|panic| Err(panicked(panic)))
}

/// A caught panic as a handler's error.
fn panicked(panic: Box<dyn Any + Send>) -> BoxError {
    Box::new(HandlerPanicked {
        message: panic_message(panic.as_ref()),
    })
}

/// A handler's error as the publish reports it (logged once, here).
#[cold]
pub(crate) fn failed(name: &str, error: BoxError) -> FailedHandler {
    tracing::warn!(handler = name, %error, "handler failed");
    FailedHandler {
        handler: name.to_owned(),
        error,
    }
}

/// A handler panicked; the bus caught the panic and reports it as the
/// handler's failure, so the other handlers and the publisher carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the handler panicked: {message}")]
pub struct HandlerPanicked {
    /// The panic's message, when it was a string.
    pub message: String,
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}
