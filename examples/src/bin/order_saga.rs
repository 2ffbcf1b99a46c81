//! An event starts a saga: order placed -> reserve inventory -> charge
//! payment -> ship. When the payment fails, the inventory is released.
//!
//! Run: `cargo run -p orchestrix-examples --bin order_saga`
//! (with `DATABASE_URL` set, the saga state lives in PostgreSQL). It exits
//! with an error when an outcome is not the expected one (CI runs it).
//!
//! The event reaches the saga through the async message bus: the
//! `#[event_handler]` `start_order_saga` asks for the saga, and for where
//! to put its outcome, as `Dep`s. The steps reach the (stand-in) inventory
//! and payment services through the `Shop` their closures hold.
//!
//! What a step must do, because it runs at least once:
//! * the reservation is keyed by the step's idempotency key, so a resumed
//!   saga that runs it again does not reserve twice;
//! * its compensation gets `None` when the reservation's outcome is unknown
//!   (it timed out, or the process crashed mid-step): the reservation *may*
//!   exist, so it releases whatever is reserved under the action's key
//!   (`StepContext::action_idempotency_key`) instead of doing nothing;
//! * a declined card is a `PermanentFailure`: retrying cannot change the
//!   bank's answer, so it is not retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use orchestrix::bus::Dep;
use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;

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

/// The stock kept by a SKU whose warehouse answers too late: it reserves,
/// but the answer comes after the step's timeout.
const SLOW_SKU: &str = "PIANO-1";
const RESERVE_TIMEOUT: Duration = Duration::from_millis(300);

/// Stand-ins for the inventory and payment services. Both deduplicate by
/// idempotency key, as real ones must for a step that runs at least once.
#[derive(Debug)]
struct Shop {
    inventory: Mutex<Inventory>,
    /// Charged amounts by idempotency key.
    charges: Mutex<HashMap<String, u64>>,
    /// Charge attempts, declined ones included.
    charge_attempts: Mutex<u32>,
}

#[derive(Debug)]
struct Inventory {
    stock: HashMap<String, u32>,
    /// Reserved (sku, quantity) by idempotency key.
    reservations: HashMap<String, (String, u32)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shop {
    fn new(stock: impl IntoIterator<Item = (&'static str, u32)>) -> Self {
        Self {
            inventory: Mutex::new(Inventory {
                stock: stock
                    .into_iter()
                    .map(|(sku, n)| (sku.to_owned(), n))
                    .collect(),
                reservations: HashMap::new(),
            }),
            charges: Mutex::default(),
            charge_attempts: Mutex::new(0),
        }
    }

    /// Reserves `quantity` of `sku` under `key`; a second call with one
    /// key returns the first reservation.
    fn reserve(&self, key: &str, sku: &str, quantity: u32) -> Result<Reservation, ShopError> {
        let mut inventory = lock(&self.inventory);
        if !inventory.reservations.contains_key(key) {
            let available = inventory.stock.entry(sku.to_owned()).or_default();
            if *available < quantity {
                return Err(ShopError::OutOfStock {
                    sku: sku.to_owned(),
                    available: *available,
                });
            }
            *available -= quantity;
            inventory
                .reservations
                .insert(key.to_owned(), (sku.to_owned(), quantity));
        }
        Ok(Reservation {
            reservation_id: key.to_owned(),
        })
    }

    /// Releases what is reserved under `key`, if anything; whether it was.
    fn release(&self, key: &str) -> bool {
        let mut inventory = lock(&self.inventory);
        let Some((sku, quantity)) = inventory.reservations.remove(key) else {
            return false;
        };
        *inventory.stock.entry(sku).or_default() += quantity;
        true
    }

    fn in_stock(&self, sku: &str) -> u32 {
        lock(&self.inventory).stock.get(sku).copied().unwrap_or(0)
    }

    fn reserved(&self) -> usize {
        lock(&self.inventory).reservations.len()
    }

    /// Charges `amount` under `key`, once per key.
    fn charge(&self, key: &str, card: &str, amount: u64) -> Result<Charge, ShopError> {
        *lock(&self.charge_attempts) += 1;
        if card.starts_with("0000") {
            return Err(ShopError::CardDeclined {
                card: card.to_owned(),
            });
        }
        lock(&self.charges).entry(key.to_owned()).or_insert(amount);
        Ok(Charge {
            charge_id: key.to_owned(),
        })
    }

    fn refund(&self, key: &str) -> bool {
        lock(&self.charges).remove(key).is_some()
    }

    fn charged(&self) -> usize {
        lock(&self.charges).len()
    }

    fn charge_attempts(&self) -> u32 {
        *lock(&self.charge_attempts)
    }
}

fn reserve_inventory_step(shop: &Arc<Shop>) -> SagaStep<OrderData> {
    let (reserving, releasing) = (Arc::clone(shop), Arc::clone(shop));
    SagaStep::builder(
        "reserve_inventory",
        move |order: Arc<OrderData>, context: StepContext| {
            let shop = Arc::clone(&reserving);
            async move {
                let reservation =
                    shop.reserve(&context.idempotency_key(), &order.sku, order.quantity)?;
                println!(
                    "  reserved {} x {} ({})",
                    order.quantity, order.sku, reservation.reservation_id
                );
                if order.sku == SLOW_SKU {
                    // Reserved, but the answer comes after the step's timeout.
                    tokio::time::sleep(RESERVE_TIMEOUT * 10).await;
                }
                Ok::<_, ShopError>(reservation)
            }
        },
    )
    .compensate(
        move |order: Arc<OrderData>, reservation: Option<Reservation>, context: StepContext| {
            let shop = Arc::clone(&releasing);
            async move {
                // `None`: the reservation's outcome is unknown, so it may
                // exist. Release by the action's key either way.
                let key = context.action_idempotency_key();
                let released = shop.release(&key);
                println!(
                    "  released {key} ({} x {}): {}",
                    order.quantity,
                    order.sku,
                    match (reservation.is_some(), released) {
                        (_, true) => "done",
                        (true, false) => "already released",
                        (false, false) => "nothing was reserved",
                    }
                );
                Ok::<(), ShopError>(())
            }
        },
    )
    .timeout(RESERVE_TIMEOUT)
    .build()
    .expect("a valid step definition")
}

fn charge_payment_step(shop: &Arc<Shop>) -> SagaStep<OrderData> {
    let (charging, refunding) = (Arc::clone(shop), Arc::clone(shop));
    SagaStep::builder(
        "charge_payment",
        move |order: Arc<OrderData>, context: StepContext| {
            let shop = Arc::clone(&charging);
            async move {
                match shop.charge(&context.idempotency_key(), &order.card, order.amount_cents) {
                    Ok(charge) => {
                        println!(
                            "  charged {} cents ({})",
                            order.amount_cents, charge.charge_id
                        );
                        Ok(charge)
                    }
                    // Retrying will not change the bank's answer.
                    Err(declined @ ShopError::CardDeclined { .. }) => {
                        println!("  charge attempt {} declined", context.attempt());
                        Err(StepFailure::from(PermanentFailure::new(declined)))
                    }
                    // Anything else may be transient: retried.
                    Err(other) => Err(other.into()),
                }
            }
        },
    )
    .compensate(
        move |_: Arc<OrderData>, _: Option<Charge>, context: StepContext| {
            let shop = Arc::clone(&refunding);
            async move {
                let key = context.action_idempotency_key();
                println!("  refunded {key}: {}", shop.refund(&key));
                Ok::<(), ShopError>(())
            }
        },
    )
    .retry(RetryPolicy::exponential(Duration::from_millis(10), 3))
    .timeout(Duration::from_secs(5))
    .build()
    .expect("a valid step definition")
}

#[saga_step]
fn ship_order(order: &OrderData) -> Result<String, ShopError> {
    println!("  shipped {}", order.order_id);
    Ok(format!("TRACK-{}", order.order_id))
}

/// The order saga on a state store, over the shop's services.
fn order_saga(
    store: Arc<dyn SagaStateStore>,
    shop: &Arc<Shop>,
) -> Result<Saga<OrderData>, SagaError> {
    Saga::new(
        "order-fulfillment",
        vec![
            reserve_inventory_step(shop),
            charge_payment_step(shop),
            ship_order_step(),
        ],
        store,
    )
}

/// Where the handler puts the outcome of each saga it ran, for `main`.
#[derive(Debug, Default)]
struct Outcomes(Mutex<Vec<SagaState>>);

impl Outcomes {
    fn record(&self, state: SagaState) {
        lock(&self.0).push(state);
    }

    fn last(&self) -> Result<SagaState, Wrong> {
        lock(&self.0)
            .pop()
            .ok_or_else(|| Wrong("the handler recorded no saga".into()))
    }
}

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
    outcomes: Dep<Outcomes>,
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
    outcomes.record(state);
    Ok(())
}

/// An outcome the example did not expect: it exits with an error.
#[derive(Debug, thiserror::Error)]
#[error("wrong outcome: {0}")]
struct Wrong(String);

/// Fails with [`Wrong`] unless `actual == expected`.
fn expect_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    actual: T,
    expected: T,
) -> Result<(), Wrong> {
    if actual == expected {
        Ok(())
    } else {
        Err(Wrong(format!(
            "{what}: expected {expected:?}, got {actual:?}"
        )))
    }
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

fn print_steps(state: &SagaState) {
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = state_store().await?;
    let shop = Arc::new(Shop::new([("BOOK-1", 5), (SLOW_SKU, 1)]));
    let saga = order_saga(Arc::clone(&store), &shop)?;
    saga.initialize().await?;
    let outcomes = Arc::new(Outcomes::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(saga)
        .dependency_arc(Arc::clone(&outcomes))
        .register_handlers()
        .build()?;
    // Ids unique per run, so the example can run repeatedly on one database.
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );

    let good = OrderPlaced {
        order_id: format!("{run}-1"),
        sku: "BOOK-1".into(),
        quantity: 2,
        amount_cents: 4_200,
        card: "4242-4242".into(),
    };
    println!("order {} placed:", good.order_id);
    bus.publish(good.clone()).await?;
    let state = outcomes.last()?;
    println!("=> {:?}\n", state.status);
    expect_eq("the good order", state.status, SagaStatus::Completed)?;
    expect_eq("stock after the good order", shop.in_stock("BOOK-1"), 3)?;

    let declined = OrderPlaced {
        order_id: format!("{run}-2"),
        card: "0000-0000".into(),
        ..good.clone()
    };
    println!("order {} placed:", declined.order_id);
    bus.publish(declined).await?;
    let state = outcomes.last()?;
    println!(
        "=> {:?}: {}",
        state.status,
        state.error.as_deref().unwrap_or("-")
    );
    print_steps(&state);
    expect_eq("the declined order", state.status, SagaStatus::Compensated)?;
    expect_eq("tries of a declined card", state.steps[1].attempts, 1)?;
    expect_eq("stock after the declined order", shop.in_stock("BOOK-1"), 3)?;

    let slow = OrderPlaced {
        order_id: format!("{run}-3"),
        sku: SLOW_SKU.into(),
        quantity: 1,
        ..good.clone()
    };
    println!(
        "\norder {} placed (its warehouse answers too late):",
        slow.order_id
    );
    bus.publish(slow).await?;
    let state = outcomes.last()?;
    println!("=> {:?}", state.status);
    print_steps(&state);
    expect_eq("the timed-out order", state.status, SagaStatus::Compensated)?;
    expect_eq(
        "the reservation's outcome",
        state.steps[0].status,
        StepStatus::Compensated,
    )?;
    expect_eq(
        "stock after the timed-out order",
        shop.in_stock(SLOW_SKU),
        1,
    )?;

    println!("\nthe first event delivered again:");
    bus.publish(good).await?;
    let again = outcomes.last()?;
    println!(
        "=> {:?}, nothing ran twice (charges: {}, attempts: {})",
        again.status,
        shop.charged(),
        shop.charge_attempts()
    );
    expect_eq("the redelivered order", again.status, SagaStatus::Completed)?;
    expect_eq("charges", shop.charged(), 1)?;
    expect_eq(
        "charge attempts (one good, one declined)",
        shop.charge_attempts(),
        2,
    )?;
    expect_eq("reservations held (the good order's)", shop.reserved(), 1)?;
    println!(
        "stock now: BOOK-1 {}, {SLOW_SKU} {}",
        shop.in_stock("BOOK-1"),
        shop.in_stock(SLOW_SKU)
    );

    // As after a restart: nothing of this run is left unfinished.
    let unfinished = store
        .unfinished()
        .await?
        .into_iter()
        .filter(|state| state.saga_id.starts_with(&format!("order-{run}")))
        .count();
    println!("unfinished sagas of this run: {unfinished}");
    expect_eq("unfinished sagas", unfinished, 0)?;
    Ok(())
}
