//! An event starts a saga: order placed -> reserve inventory -> charge
//! payment -> ship. When the payment fails, the inventory is released.
//!
//! Run: `cargo run -p orchestrix-examples --bin order_saga`
//! (with `--features postgres` and `DATABASE_URL` set, the saga state lives
//! in PostgreSQL).
//!
//! The event reaches the saga through the async message bus: the
//! `#[event_handler]` `start_order_saga` asks for the saga as a `Dep`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orchestrix::bus::Dep;
use orchestrix::prelude::*;
use orchestrix::saga::recover_sagas;

/// Published when a customer places an order.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "shop.OrderPlaced")]
struct OrderPlaced {
    order_id: String,
    sku: String,
    quantity: u32,
    amount_cents: u64,
    card: String,
}

/// The saga's data: what every step needs, stored with the saga so that a
/// crashed saga can be resumed.
#[derive(Debug, Serialize, Deserialize)]
struct OrderData {
    order_id: String,
    sku: String,
    quantity: u32,
    amount_cents: u64,
    card: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Reservation {
    reservation_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    charge_id: String,
}

#[derive(Debug, thiserror::Error)]
enum ShopError {
    #[error("only {available} of `{sku}` in stock")]
    OutOfStock { sku: String, available: u32 },
    #[error("card `{card}` was declined")]
    CardDeclined { card: String },
}

/// Stand-ins for the inventory and payment services.
static STOCK: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
static CHARGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn with_stock<T>(f: impl FnOnce(&mut HashMap<String, u32>) -> T) -> T {
    let mut stock = STOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(stock.get_or_insert_with(|| HashMap::from([("BOOK-1".to_owned(), 5)])))
}

#[saga_step(compensate = release_inventory, timeout_ms = 2000)]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, ShopError> {
    with_stock(|stock| {
        let available = stock.entry(order.sku.clone()).or_default();
        if *available < order.quantity {
            return Err(ShopError::OutOfStock {
                sku: order.sku.clone(),
                available: *available,
            });
        }
        *available -= order.quantity;
        println!(
            "  reserved {} x {} for {}",
            order.quantity, order.sku, order.order_id
        );
        Ok(Reservation {
            reservation_id: format!("R-{}", order.order_id),
        })
    })
}

/// Gets `None` when the reservation's outcome is unknown (it timed out):
/// then there may be nothing to undo.
async fn release_inventory(
    order: &OrderData,
    reservation: Option<Reservation>,
) -> Result<(), ShopError> {
    let Some(reservation) = reservation else {
        println!("  nothing known to release for {}", order.order_id);
        return Ok(());
    };
    with_stock(|stock| *stock.entry(order.sku.clone()).or_default() += order.quantity);
    println!(
        "  released {} ({} x {})",
        reservation.reservation_id, order.quantity, order.sku
    );
    Ok(())
}

#[saga_step(compensate = refund_payment, retry = exponential(base_ms = 10, max_attempts = 3), timeout_ms = 5000)]
async fn charge_payment(order: &OrderData, context: &StepContext) -> Result<Charge, ShopError> {
    // The idempotency key is the same on every attempt and after a crash:
    // a real gateway would use it to charge at most once.
    let key = context.idempotency_key();
    if order.card.starts_with("0000") {
        println!(
            "  charge attempt {} for {} declined",
            context.attempt(),
            order.order_id
        );
        return Err(ShopError::CardDeclined {
            card: order.card.clone(),
        });
    }
    CHARGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(key.clone());
    println!("  charged {} cents (key {key})", order.amount_cents);
    Ok(Charge {
        charge_id: format!("C-{}", order.order_id),
    })
}

async fn refund_payment(order: &OrderData, charge: Option<Charge>) -> Result<(), ShopError> {
    println!(
        "  refunded {:?} for {}",
        charge.map(|c| c.charge_id),
        order.order_id
    );
    Ok(())
}

#[saga_step]
fn ship_order(order: &OrderData) -> Result<String, ShopError> {
    println!("  shipped {}", order.order_id);
    Ok(format!("TRACK-{}", order.order_id))
}

/// The order saga on a state store.
fn order_saga(store: Arc<dyn SagaStateStore>) -> Result<Saga<OrderData>, SagaError> {
    Saga::new(
        "order-fulfillment",
        vec![
            reserve_inventory_step(),
            charge_payment_step(),
            ship_order_step(),
        ],
        store,
    )
}

// Lets `recover_sagas` resume unfinished order sagas after a crash (the saga
// type is the one `order_saga` gives its saga).
orchestrix::register_saga!(order_saga);

/// The outcome of the last saga each order started, for `main` to show.
static OUTCOMES: Mutex<Vec<SagaState>> = Mutex::new(Vec::new());

/// Reacts to `OrderPlaced` by starting the saga. The saga id is derived
/// from the order, so an event delivered twice starts one saga.
///
/// A saga that failed and was compensated is a normal outcome, not a
/// handler failure; only a saga that could not run (its store failed, or a
/// compensation failed and it needs a person) fails the handler.
#[event_handler]
async fn start_order_saga(
    event: &OrderPlaced,
    saga: Dep<Saga<OrderData>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let data = OrderData {
        order_id: event.order_id.clone(),
        sku: event.sku.clone(),
        quantity: event.quantity,
        amount_cents: event.amount_cents,
        card: event.card.clone(),
    };
    let state = saga
        .execute_with_id(format!("order-{}", event.order_id), data)
        .await?;
    if state.status == SagaStatus::Failed {
        return Err(format!(
            "saga {} needs a person: {} (it failed because {})",
            state.saga_id,
            state.compensation_error.as_deref().unwrap_or("-"),
            state.error.as_deref().unwrap_or("-")
        )
        .into());
    }
    OUTCOMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(state);
    Ok(())
}

/// The state of the saga the last published event started.
fn last_outcome() -> Option<SagaState> {
    OUTCOMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .pop()
}

async fn state_store() -> Result<Arc<dyn SagaStateStore>, Box<dyn std::error::Error>> {
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let store = orchestrix::saga::PostgreSQLSagaStateStore::connect(&url).await?;
        store.initialize().await?;
        println!("saga state in PostgreSQL");
        return Ok(Arc::new(store));
    }
    println!("saga state in memory");
    Ok(Arc::new(InMemorySagaStateStore::new()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = state_store().await?;
    let saga = order_saga(Arc::clone(&store))?;
    saga.initialize().await?;
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(saga)
        .register_handlers()
        .build()?;
    let run = std::process::id();

    let good = OrderPlaced {
        order_id: format!("{run}-1"),
        sku: "BOOK-1".into(),
        quantity: 2,
        amount_cents: 4_200,
        card: "4242-4242".into(),
    };
    println!("order {} placed:", good.order_id);
    bus.publish(good.clone()).await?;
    let state = last_outcome().ok_or("the handler recorded no saga")?;
    println!("=> {:?}\n", state.status);

    let declined = OrderPlaced {
        order_id: format!("{run}-2"),
        card: "0000-0000".into(),
        ..good.clone()
    };
    println!("order {} placed:", declined.order_id);
    bus.publish(declined).await?;
    let state = last_outcome().ok_or("the handler recorded no saga")?;
    println!(
        "=> {:?}: {}",
        state.status,
        state.error.as_deref().unwrap_or("-")
    );
    for step in &state.steps {
        println!(
            "   {:<18} {:?}, {} attempt(s){}",
            step.name,
            step.status,
            step.attempts,
            step.error
                .as_ref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        );
    }

    println!("\nthe first event delivered again:");
    bus.publish(good).await?;
    let again = last_outcome().ok_or("the handler recorded no saga")?;
    println!(
        "=> {:?}, nothing ran twice (charges: {})",
        again.status,
        CHARGES.lock().map(|c| c.len()).unwrap_or(0)
    );
    println!(
        "stock of BOOK-1 now: {}",
        with_stock(|s| s.get("BOOK-1").copied().unwrap_or(0))
    );

    let report = recover_sagas(store).await?;
    println!(
        "recovery (as after a restart) resumed {} unfinished saga(s), skipped {}",
        report.resumed.len(),
        report.skipped.len()
    );
    Ok(())
}
