//! The seed's order-summary projection, fed by live commands: an `Order`
//! aggregate takes commands and records events; a `#[projection]` read
//! model follows the store and keeps a summary per order, live.
//!
//! `cargo run -p orchestrix-examples --bin order_summary`
//!
//! * The projection's runner catches up from its checkpoint, then wakes on
//!   every append (no polling on the in-memory store).
//! * Its state (checkpoint, counts, health, lag) is what a health endpoint
//!   would show.
//! * A rebuild replays history into a fresh read model.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use orchestrix::aggregate::{IntoEvents, RepositoryError};
use orchestrix::prelude::*;
use orchestrix::projection::RegisteredProjections;

// ---- the write side ----

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "shop.OrderCreated")]
pub struct OrderCreated {
    pub order_id: String,
    pub total: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "shop.ItemAdded")]
pub struct ItemAdded {
    pub order_id: String,
    pub price: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "shop.OrderShipped")]
pub struct OrderShipped {
    pub order_id: String,
}

#[derive(Default, Debug, Serialize, Deserialize)]
pub struct Order {
    id: String,
    created: bool,
    shipped: bool,
}

#[aggregate(name = "Order")]
impl Order {
    #[apply]
    fn created(&mut self, event: &OrderCreated) {
        self.id.clone_from(&event.order_id);
        self.created = true;
    }

    #[apply]
    fn item_added(&mut self, _event: &ItemAdded) {}

    #[apply]
    fn shipped(&mut self, _event: &OrderShipped) {
        self.shipped = true;
    }

    pub fn create(&self, order_id: &str, total: u64) -> Result<OrderCreated, OrderError> {
        if self.created {
            return Err(OrderError::Exists(order_id.to_owned()));
        }
        Ok(OrderCreated {
            order_id: order_id.to_owned(),
            total,
        })
    }

    pub fn add_item(&self, price: u64) -> Result<ItemAdded, OrderError> {
        if !self.created || self.shipped {
            return Err(OrderError::Closed(self.id.clone()));
        }
        Ok(ItemAdded {
            order_id: self.id.clone(),
            price,
        })
    }

    pub fn ship(&self) -> Result<OrderShipped, OrderError> {
        if !self.created || self.shipped {
            return Err(OrderError::Closed(self.id.clone()));
        }
        Ok(OrderShipped {
            order_id: self.id.clone(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order {0} exists already")]
    Exists(String),
    #[error("order {0} is not open")]
    Closed(String),
}

// ---- the read side ----

/// One line of the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderLine {
    pub total: u64,
    pub items: u32,
    pub shipped: bool,
}

/// The read model: a summary per order.
#[derive(Debug, Default)]
pub struct OrderSummary {
    pub orders: BTreeMap<String, OrderLine>,
}

#[projection(name = "order-summary")]
impl OrderSummary {
    #[handle]
    fn on_created(&mut self, event: &OrderCreated) {
        self.orders.entry(event.order_id.clone()).or_default().total = event.total;
    }

    #[handle]
    fn on_item_added(&mut self, event: &ItemAdded) {
        let line = self.orders.entry(event.order_id.clone()).or_default();
        line.total += event.price;
        line.items += 1;
    }

    #[handle]
    async fn on_shipped(&mut self, event: &OrderShipped, context: &ProjectionContext) {
        if !context.is_rebuild() {
            // A side effect that must not run again during a rebuild.
            println!("  [projection] notify: {} shipped", event.order_id);
        }
        self.orders
            .entry(event.order_id.clone())
            .or_default()
            .shipped = true;
    }
}

/// Runs one command on an order: load, decide, save.
async fn command<T: IntoEvents<Order>>(
    repo: &AggregateRepository<InMemoryAsyncEventStore>,
    order_id: &str,
    decide: impl FnOnce(&Order) -> Result<T, OrderError>,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut order = match repo.load_async::<Order>(order_id).await {
        Err(RepositoryError::NotFound { .. }) => AggregateRoot::new(order_id),
        loaded => loaded?,
    };
    order.execute(decide)?;
    repo.save_async(&mut order).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let repo = AggregateRepository::shared(Arc::clone(&store));

    // Every #[projection] in the program, on one state store.
    let projections = Arc::new(RegisteredProjections::build(Arc::new(
        InMemoryProjectionStateStore::new(),
    ))?);
    let summary = projections
        .read_model::<OrderSummary>()
        .ok_or("order-summary is registered")?;
    let engine = Arc::clone(projections.engine("order-summary").ok_or("registered")?);

    // Commands before the projection runs: it catches up.
    command(&repo, "ORD-001", |o| o.create("ORD-001", 40)).await?;
    command(&repo, "ORD-001", |o| o.add_item(15)).await?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn({
        let (projections, store) = (Arc::clone(&projections), Arc::clone(&store));
        async move {
            projections
                .run_all(&*store, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    // Live commands: the projection follows.
    command(&repo, "ORD-002", |o| o.create("ORD-002", 99)).await?;
    command(&repo, "ORD-001", |o| o.ship()).await?;
    if let Err(refused) = command(&repo, "ORD-001", |o| o.add_item(5)).await {
        println!("  [command] refused: {refused}");
    }

    let mut states = engine.watch_state();
    let state = tokio::time::timeout(Duration::from_secs(5), states.wait_for(|s| s.position == 4))
        .await?
        .map(|state| state.clone())?;
    println!(
        "order-summary: checkpoint {}, {} processed, lag {}, healthy {}",
        state.position,
        state.processed,
        state.lag(),
        state.healthy
    );
    for (order, line) in &summary.read().await.orders {
        println!(
            "  {order}: total {}, {} item(s), shipped {}",
            line.total, line.items, line.shipped
        );
    }

    stop.send(()).map_err(|()| "the runner stopped early")?;
    runner.await??;

    // A rebuild replays everything into a fresh read model (no notifications).
    let rebuilt = engine.rebuild(&*store).await?;
    println!(
        "rebuilt: {} events, {} orders",
        rebuilt.processed,
        summary.read().await.orders.len()
    );
    Ok(())
}
