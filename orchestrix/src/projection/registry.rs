//! Projections registered by `#[projection]` through `inventory`, so one
//! call builds (and runs) every projection the program links.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::RwLock;

use super::engine::ProjectionEngine;
use super::error::ProjectionError;
use super::read_model::Projection;
use super::state::ProjectionState;
use super::store::ProjectionStateStore;
use crate::store::AsyncEventStore;

/// What `#[projection]` submits: the projection's name, its read-model
/// type, and how to build its engine.
#[derive(Clone, Copy, Debug)]
pub struct ProjectionRegistration {
    /// The projection's name.
    pub name: &'static str,
    /// The read model's Rust type, for error messages.
    pub type_name: fn() -> &'static str,
    build: fn(Arc<dyn ProjectionStateStore>) -> RegisteredProjection,
}

impl ProjectionRegistration {
    /// The registration of read model `P`.
    pub const fn of<P: Projection + Default>() -> Self {
        Self {
            name: P::NAME,
            type_name: std::any::type_name::<P>,
            build: build::<P>,
        }
    }
}

fn build<P: Projection + Default>(
    state_store: Arc<dyn ProjectionStateStore>,
) -> RegisteredProjection {
    let model = Arc::new(RwLock::new(P::default()));
    RegisteredProjection {
        engine: Arc::new(ProjectionEngine::for_read_model(
            Arc::clone(&model),
            state_store,
        )),
        model,
    }
}

inventory::collect!(ProjectionRegistration);

/// One registered projection, built: its engine and its read model.
struct RegisteredProjection {
    engine: Arc<ProjectionEngine>,
    /// An `Arc<RwLock<P>>`.
    model: Arc<dyn Any + Send + Sync>,
}

/// Every projection registered with `#[projection]`, each with a fresh read
/// model (its `Default`) and an engine on one state store.
///
/// ```no_run
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
/// use orchestrix::projection::RegisteredProjections;
///
/// # async fn demo(store: Arc<InMemoryAsyncEventStore>) -> Result<(), ProjectionError> {
/// let projections = RegisteredProjections::build(Arc::new(InMemoryProjectionStateStore::new()))?;
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// projections.run_all(&*store, shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub struct RegisteredProjections {
    projections: Vec<RegisteredProjection>,
}

impl std::fmt::Debug for RegisteredProjections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.projections.iter().map(|p| p.engine.name()))
            .finish()
    }
}

impl RegisteredProjections {
    /// Builds every registered projection on `state_store`; two projections
    /// with one name are an error naming both read-model types.
    pub fn build(state_store: Arc<dyn ProjectionStateStore>) -> Result<Self, ProjectionError> {
        let mut registrations: Vec<&ProjectionRegistration> =
            inventory::iter::<ProjectionRegistration>
                .into_iter()
                .collect();
        registrations.sort_by_key(|r| (r.name, (r.type_name)()));
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for registration in &registrations {
            if let Some(first) = seen.insert(registration.name, (registration.type_name)()) {
                return Err(ProjectionError::DuplicateName {
                    name: registration.name.to_owned(),
                    first: first.to_owned(),
                    second: (registration.type_name)().to_owned(),
                });
            }
        }
        Ok(Self {
            projections: registrations
                .into_iter()
                .map(|registration| (registration.build)(Arc::clone(&state_store)))
                .collect(),
        })
    }

    /// The engines, by name order.
    pub fn engines(&self) -> impl Iterator<Item = &Arc<ProjectionEngine>> {
        self.projections.iter().map(|p| &p.engine)
    }

    /// The engine of the projection named `name`.
    pub fn engine(&self, name: &str) -> Option<&Arc<ProjectionEngine>> {
        self.engines().find(|engine| engine.name() == name)
    }

    /// The read model of type `P`, to query.
    pub fn read_model<P: Projection>(&self) -> Option<Arc<RwLock<P>>> {
        self.projections
            .iter()
            .find_map(|p| Arc::clone(&p.model).downcast::<RwLock<P>>().ok())
    }

    /// Runs every projection on `store` concurrently until `shutdown`
    /// completes; the first projection that stops on an error stops the
    /// others too and its error is returned.
    pub async fn run_all<S>(
        &self,
        store: &S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<Vec<ProjectionState>, ProjectionError>
    where
        S: AsyncEventStore + ?Sized,
    {
        let (stop_all, stopped) = tokio::sync::watch::channel(false);
        let stop_all = &stop_all;
        let runs = futures::future::join_all(self.engines().map(|engine| {
            let mut stopped = stopped.clone();
            async move {
                let result = engine
                    .run(store, async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await;
                if result.is_err() {
                    let _ = stop_all.send(true);
                }
                result
            }
        }));
        let stop_on_shutdown = async {
            shutdown.await;
            let _ = stop_all.send(true);
            // The runs end on their own now; this branch never completes.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            results = runs => results.into_iter().collect(),
            () = stop_on_shutdown => Ok(Vec::new()),
        }
    }
}
