//! `#[projection]` read models: registered through inventory, built and
//! run by one call, handlers sync and async with extractors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::projection::{ProjectionEngine, RegisteredProjections};
use tokio::sync::{RwLock, oneshot};

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-macro.OrderPlaced")]
struct OrderPlaced {
    order: String,
    total: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-macro.OrderRefunded")]
struct OrderRefunded {
    order: String,
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-macro.OrderNoted")]
struct OrderNoted {
    order: String,
}

#[derive(Debug, thiserror::Error)]
#[error("refund of {amount} exceeds the total of `{order}`")]
struct RefundTooLarge {
    order: String,
    amount: u64,
}

/// Totals per order, and where each came from.
#[derive(Debug, Default)]
struct OrderSummary {
    totals: BTreeMap<String, u64>,
    last_position: BTreeMap<String, u64>,
    notes_seen_live: u32,
}

#[projection(name = "projection-macro.order-summary")]
impl OrderSummary {
    #[handle]
    fn on_placed(&mut self, event: &OrderPlaced, context: &ProjectionContext) {
        *self.totals.entry(event.order.clone()).or_default() += event.total;
        self.last_position
            .insert(event.order.clone(), context.position());
    }

    #[handle]
    async fn on_refunded(
        &mut self,
        event: &OrderRefunded,
        position: EventPosition,
    ) -> Result<(), RefundTooLarge> {
        tokio::task::yield_now().await;
        let total = self.totals.entry(event.order.clone()).or_default();
        *total = total
            .checked_sub(event.amount)
            .ok_or_else(|| RefundTooLarge {
                order: event.order.clone(),
                amount: event.amount,
            })?;
        self.last_position.insert(event.order.clone(), position.0);
        Ok(())
    }

    #[handle]
    fn on_noted(&mut self, _event: &OrderNoted, mode: ProjectionMode) {
        if mode == ProjectionMode::Live {
            self.notes_seen_live += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_runs_every_registered_projection() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    store
        .save(
            "o-1",
            &[
                Envelope::new(OrderPlaced {
                    order: "o-1".into(),
                    total: 30,
                })
                .into(),
                Envelope::new(OrderRefunded {
                    order: "o-1".into(),
                    amount: 12,
                })
                .into(),
                Envelope::new(OrderNoted {
                    order: "o-1".into(),
                })
                .into(),
            ],
            None,
        )
        .await
        .expect("append");

    let projections = RegisteredProjections::build(Arc::new(InMemoryProjectionStateStore::new()))
        .expect("one projection per name");
    let engine = Arc::clone(
        projections
            .engine("projection-macro.order-summary")
            .expect("registered"),
    );
    let model: Arc<RwLock<OrderSummary>> = projections.read_model().expect("the read model");

    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            projections
                .run_all(&*store, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let mut states = engine.watch_state();
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| s.position == 3),
    )
    .await
    .expect("caught up")
    .expect("alive");
    store
        .save(
            "o-2",
            &[Envelope::new(OrderPlaced {
                order: "o-2".into(),
                total: 5,
            })
            .into()],
            None,
        )
        .await
        .expect("append");
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| s.position == 4),
    )
    .await
    .expect("live")
    .expect("alive");
    {
        let model = model.read().await;
        assert_eq!(
            model.totals,
            BTreeMap::from([("o-1".into(), 18), ("o-2".into(), 5)])
        );
        assert_eq!(
            model.last_position,
            BTreeMap::from([("o-1".into(), 2), ("o-2".into(), 4)])
        );
        assert_eq!(model.notes_seen_live, 1);
    }
    stop.send(()).expect("running");
    let states = run.await.expect("task").expect("clean shutdown");
    assert_eq!(states.len(), 1);
}

#[tokio::test]
async fn a_handler_error_of_a_read_model_names_the_event() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save(
            "o-9",
            &[Envelope::new(OrderRefunded {
                order: "o-9".into(),
                amount: 1,
            })
            .into()],
            None,
        )
        .await
        .expect("append");
    let model = Arc::new(RwLock::new(OrderSummary::default()));
    let engine =
        ProjectionEngine::for_read_model(Arc::clone(&model), InMemoryProjectionStateStore::new());
    let error = engine
        .run(&store, std::future::pending())
        .await
        .expect_err("the refund fails");
    assert!(
        matches!(&error, ProjectionError::Handler { position: 1, event_type, .. } if event_type == OrderRefunded::NAME),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("refund of 1 exceeds the total of `o-9`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_rebuild_resets_the_read_model_to_its_default() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save(
            "o-1",
            &[Envelope::new(OrderPlaced {
                order: "o-1".into(),
                total: 7,
            })
            .into()],
            None,
        )
        .await
        .expect("append");
    let model = Arc::new(RwLock::new(OrderSummary::default()));
    model.write().await.totals.insert("stale".into(), 99);
    let engine =
        ProjectionEngine::for_read_model(Arc::clone(&model), InMemoryProjectionStateStore::new());
    engine.rebuild(&store).await.expect("rebuild");
    assert_eq!(
        model.read().await.totals,
        BTreeMap::from([("o-1".into(), 7)])
    );
}
