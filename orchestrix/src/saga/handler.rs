//! The fn shapes a step action and a compensation may have, sync or async,
//! with or without a [`StepContext`] — the traits [`StepAction`] and
//! [`Compensation`], implemented for each shape.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::step::StepContext;
use crate::error::BoxError;

/// What the type-erased action of a step returns: its output as JSON.
pub type ActionFuture = BoxFuture<'static, Result<serde_json::Value, BoxError>>;
/// What the type-erased compensation of a step returns.
pub type CompensationFuture = BoxFuture<'static, Result<(), BoxError>>;

/// The result of a step action: `Result<O, E>` where the output `O` is kept
/// as JSON for the compensation and `E` converts into a boxed error.
#[diagnostic::on_unimplemented(
    message = "a saga step must return `Result<O, E>`, not `{Self}`",
    note = "`O` must be `Serialize + DeserializeOwned` (it is stored for the compensation) and `E` an error"
)]
pub trait StepResult: Send + 'static {
    /// The step's output.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Splits into output or boxed error.
    fn into_step_result(self) -> Result<Self::Output, BoxError>;
}

impl<O, E> StepResult for Result<O, E>
where
    O: Serialize + DeserializeOwned + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Output = O;
    fn into_step_result(self) -> Result<O, BoxError> {
        self.map_err(Into::into)
    }
}

/// The result of a compensation: `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "a compensation must return `Result<(), E>`, not `{Self}`",
    note = "return `Ok(())` when there is nothing to undo"
)]
pub trait CompensationResult: Send + 'static {
    /// Into a boxed error.
    fn into_compensation_result(self) -> Result<(), BoxError>;
}

impl<E: Into<BoxError> + Send + 'static> CompensationResult for Result<(), E> {
    fn into_compensation_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// `async fn(&D) -> R` for every lifetime of the borrow.
#[doc(hidden)]
pub trait AsyncFn1<'a, D: 'a>: Send + Sync + 'static {
    type Output;
    type Future: Future<Output = Self::Output> + Send + 'a;
    fn call(&self, data: &'a D) -> Self::Future;
}

impl<'a, D: 'a, F, Fut> AsyncFn1<'a, D> for F
where
    F: Fn(&'a D) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'a,
{
    type Output = Fut::Output;
    type Future = Fut;
    fn call(&self, data: &'a D) -> Fut {
        self(data)
    }
}

/// `async fn(&D, &StepContext) -> R`.
#[doc(hidden)]
pub trait AsyncFn1Ctx<'a, D: 'a>: Send + Sync + 'static {
    type Output;
    type Future: Future<Output = Self::Output> + Send + 'a;
    fn call(&self, data: &'a D, context: &'a StepContext) -> Self::Future;
}

impl<'a, D: 'a, F, Fut> AsyncFn1Ctx<'a, D> for F
where
    F: Fn(&'a D, &'a StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'a,
{
    type Output = Fut::Output;
    type Future = Fut;
    fn call(&self, data: &'a D, context: &'a StepContext) -> Fut {
        self(data, context)
    }
}

/// `async fn(&D, Option<O>) -> R`.
#[doc(hidden)]
pub trait AsyncFn2<'a, D: 'a, O>: Send + Sync + 'static {
    type Output;
    type Future: Future<Output = Self::Output> + Send + 'a;
    fn call(&self, data: &'a D, output: Option<O>) -> Self::Future;
}

impl<'a, D: 'a, O, F, Fut> AsyncFn2<'a, D, O> for F
where
    F: Fn(&'a D, Option<O>) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'a,
{
    type Output = Fut::Output;
    type Future = Fut;
    fn call(&self, data: &'a D, output: Option<O>) -> Fut {
        self(data, output)
    }
}

/// `async fn(&D, Option<O>, &StepContext) -> R`.
#[doc(hidden)]
pub trait AsyncFn2Ctx<'a, D: 'a, O>: Send + Sync + 'static {
    type Output;
    type Future: Future<Output = Self::Output> + Send + 'a;
    fn call(&self, data: &'a D, output: Option<O>, context: &'a StepContext) -> Self::Future;
}

impl<'a, D: 'a, O, F, Fut> AsyncFn2Ctx<'a, D, O> for F
where
    F: Fn(&'a D, Option<O>, &'a StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'a,
{
    type Output = Fut::Output;
    type Future = Fut;
    fn call(&self, data: &'a D, output: Option<O>, context: &'a StepContext) -> Fut {
        self(data, output, context)
    }
}

/// Markers telling the shapes apart (so that one fn type matches one impl).
#[doc(hidden)]
pub mod marker {
    use std::marker::PhantomData;
    #[derive(Debug)]
    pub struct Sync<R>(PhantomData<R>);
    #[derive(Debug)]
    pub struct SyncCtx<R>(PhantomData<R>);
    #[derive(Debug)]
    pub struct Async<R>(PhantomData<R>);
    #[derive(Debug)]
    pub struct AsyncCtx<R>(PhantomData<R>);
    #[derive(Debug)]
    pub struct Owned<R>(PhantomData<R>);
}

/// A fn that can be a step's action for saga data `D`. Implemented for
///
/// * `fn(&D) -> Result<O, E>` (run on tokio's blocking pool, see
///   [`tokio::task::spawn_blocking`]) and `async fn(&D) -> Result<O, E>`,
/// * the same with a `&StepContext` second parameter (for the idempotency
///   key and attempt number),
/// * closures `Fn(Arc<D>, StepContext) -> impl Future<Output = Result<O, E>>`.
///
/// `M` only tells the shapes apart; it is inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the action of a saga step over `{D}`",
    label = "not a step action for `{D}`",
    note = "a step action is `fn(&{D}) -> Result<O, E>` or `async fn(&{D}) -> Result<O, E>`, optionally with `&StepContext` as second parameter, or a closure `|data: Arc<{D}>, context: StepContext| async move {{ ... }}`"
)]
pub trait StepAction<D, M>: Send + Sync + 'static {
    /// The step's output, kept for its compensation.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Runs the action; the output is turned into JSON.
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture;
}

/// Runs a sync step fn on tokio's blocking pool, so that it neither blocks
/// the runtime (the lease keeps being renewed) nor escapes the step's
/// timeout. A panic in it is raised again in the step's future, where the
/// executor turns it into a failure.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BoxError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(format!("the step's blocking task did not finish: {error}").into()),
    }
}

fn encode<O: Serialize>(output: &O, step: &str) -> Result<serde_json::Value, BoxError> {
    crate::limits::to_json_value(output).map_err(|error| -> BoxError {
        format!(
            "output of step `{step}` ({}) does not serialize: {error}",
            std::any::type_name::<O>()
        )
        .into()
    })
}

impl<D, F, R> StepAction<D, marker::Sync<R>> for F
where
    D: Send + Sync + 'static,
    F: Fn(&D) -> R + Clone + Send + Sync + 'static,
    R: StepResult,
{
    type Output = R::Output;
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture {
        let f = self.clone();
        Box::pin(async move {
            let output = run_blocking(move || f(&data).into_step_result()).await??;
            encode(&output, context.step_name())
        })
    }
}

impl<D, F, R> StepAction<D, marker::SyncCtx<R>> for F
where
    D: Send + Sync + 'static,
    F: Fn(&D, &StepContext) -> R + Clone + Send + Sync + 'static,
    R: StepResult,
{
    type Output = R::Output;
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture {
        let f = self.clone();
        let step = context.step_name_arc();
        Box::pin(async move {
            let output = run_blocking(move || f(&data, &context).into_step_result()).await??;
            encode(&output, &step)
        })
    }
}

impl<D, F, R> StepAction<D, marker::Async<R>> for F
where
    D: Send + Sync + 'static,
    F: for<'a> AsyncFn1<'a, D, Output = R> + Clone,
    R: StepResult,
{
    type Output = R::Output;
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture {
        let f = self.clone();
        Box::pin(async move {
            let output = f.call(&data).await.into_step_result()?;
            encode(&output, context.step_name())
        })
    }
}

impl<D, F, R> StepAction<D, marker::AsyncCtx<R>> for F
where
    D: Send + Sync + 'static,
    F: for<'a> AsyncFn1Ctx<'a, D, Output = R> + Clone,
    R: StepResult,
{
    type Output = R::Output;
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture {
        let f = self.clone();
        Box::pin(async move {
            let output = f.call(&data, &context).await.into_step_result()?;
            encode(&output, context.step_name())
        })
    }
}

impl<D, F, Fut, R> StepAction<D, marker::Owned<R>> for F
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: StepResult,
{
    type Output = R::Output;
    fn run(&self, data: Arc<D>, context: StepContext) -> ActionFuture {
        let step = context.step_name_arc();
        let future = self(data, context);
        Box::pin(async move {
            let output = future.await.into_step_result()?;
            encode(&output, &step)
        })
    }
}

/// A fn that can compensate a step over saga data `D` whose output is `O`.
/// It gets the step's output — `None` when the step's outcome is unknown
/// (it timed out or was interrupted) — and must tolerate "nothing to undo".
/// Implemented for
///
/// * `fn(&D, Option<O>) -> Result<(), E>` (run on tokio's blocking pool)
///   and the `async fn` of it,
/// * the same with a `&StepContext` third parameter,
/// * closures `Fn(Arc<D>, Option<O>, StepContext) -> impl Future<Output = Result<(), E>>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot compensate a saga step over `{D}` whose output is `{O}`",
    label = "this compensation's parameters do not match the step",
    note = "a compensation of a step `fn(&{D}) -> Result<{O}, E>` is `fn(&{D}, Option<{O}>) -> Result<(), E>` (or `async fn`), optionally with `&StepContext` as third parameter"
)]
pub trait Compensation<D, O, M>: Send + Sync + 'static {
    /// Runs the compensation.
    fn run(&self, data: Arc<D>, output: Option<O>, context: StepContext) -> CompensationFuture;
}

impl<D, O, F, R> Compensation<D, O, marker::Sync<R>> for F
where
    D: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&D, Option<O>) -> R + Clone + Send + Sync + 'static,
    R: CompensationResult,
{
    fn run(&self, data: Arc<D>, output: Option<O>, _context: StepContext) -> CompensationFuture {
        let f = self.clone();
        Box::pin(
            async move { run_blocking(move || f(&data, output).into_compensation_result()).await? },
        )
    }
}

impl<D, O, F, R> Compensation<D, O, marker::SyncCtx<R>> for F
where
    D: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&D, Option<O>, &StepContext) -> R + Clone + Send + Sync + 'static,
    R: CompensationResult,
{
    fn run(&self, data: Arc<D>, output: Option<O>, context: StepContext) -> CompensationFuture {
        let f = self.clone();
        Box::pin(async move {
            run_blocking(move || f(&data, output, &context).into_compensation_result()).await?
        })
    }
}

impl<D, O, F, R> Compensation<D, O, marker::Async<R>> for F
where
    D: Send + Sync + 'static,
    O: Send + 'static,
    F: for<'a> AsyncFn2<'a, D, O, Output = R> + Clone,
    R: CompensationResult,
{
    fn run(&self, data: Arc<D>, output: Option<O>, _context: StepContext) -> CompensationFuture {
        let f = self.clone();
        Box::pin(async move { f.call(&data, output).await.into_compensation_result() })
    }
}

impl<D, O, F, R> Compensation<D, O, marker::AsyncCtx<R>> for F
where
    D: Send + Sync + 'static,
    O: Send + 'static,
    F: for<'a> AsyncFn2Ctx<'a, D, O, Output = R> + Clone,
    R: CompensationResult,
{
    fn run(&self, data: Arc<D>, output: Option<O>, context: StepContext) -> CompensationFuture {
        let f = self.clone();
        Box::pin(async move {
            f.call(&data, output, &context)
                .await
                .into_compensation_result()
        })
    }
}

impl<D, O, F, Fut, R> Compensation<D, O, marker::Owned<R>> for F
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Option<O>, StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: CompensationResult,
{
    fn run(&self, data: Arc<D>, output: Option<O>, context: StepContext) -> CompensationFuture {
        let future = self(data, output, context);
        Box::pin(async move { future.await.into_compensation_result() })
    }
}
