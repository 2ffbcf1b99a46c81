//! `#[saga_step]`: the generated `<fn>_step()` wires name, action,
//! compensation, retry policy and timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;

static JOURNAL: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

fn record(key: &str, entry: String) {
    JOURNAL
        .lock()
        .expect("journal")
        .entry(key.to_owned())
        .or_default()
        .push(entry);
}

fn journal(key: &str) -> Vec<String> {
    JOURNAL
        .lock()
        .expect("journal")
        .get(key)
        .cloned()
        .unwrap_or_default()
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderData {
    key: String,
    payment_fails: bool,
    payment_failures_before_success: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Reservation {
    id: String,
}

#[saga_step(compensate = release_inventory)]
async fn reserve_inventory(order: &OrderData) -> Result<Reservation, StepFailure> {
    record(&order.key, "reserve".into());
    Ok(Reservation {
        id: format!("R-{}", order.key),
    })
}

async fn release_inventory(
    order: &OrderData,
    reservation: Option<Reservation>,
) -> Result<(), StepFailure> {
    record(
        &order.key,
        format!("release {}", reservation.map_or("-".into(), |r| r.id)),
    );
    Ok(())
}

#[saga_step(name = "charge-payment", compensate = refund, retry = fixed(delay_ms = 50, max_attempts = 3))]
fn charge_payment(order: &OrderData, context: &StepContext) -> Result<u64, StepFailure> {
    record(&order.key, format!("charge {}", context.attempt()));
    if order.payment_fails || context.attempt() <= order.payment_failures_before_success {
        return Err("card declined".into());
    }
    Ok(42)
}

fn refund(
    order: &OrderData,
    charge: Option<u64>,
    context: &StepContext,
) -> Result<(), StepFailure> {
    record(
        &order.key,
        format!("refund {charge:?} {}", context.idempotency_key()),
    );
    Ok(())
}

#[saga_step(retry = exponential(base_ms = 10, max_attempts = 5, max_delay_ms = 40, jitter = false), timeout_ms = 500)]
pub(crate) async fn ship(order: &OrderData) -> Result<(), StepFailure> {
    record(&order.key, "ship".into());
    Ok(())
}

fn saga() -> Saga<OrderData> {
    Saga::new(
        "macro-order",
        vec![reserve_inventory_step(), charge_payment_step(), ship_step()],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga")
}

fn order(key: &str, payment_fails: bool, payment_failures_before_success: u32) -> OrderData {
    OrderData {
        key: key.into(),
        payment_fails,
        payment_failures_before_success,
    }
}

#[test]
fn the_generated_steps_carry_the_attribute_arguments() {
    let reserve = reserve_inventory_step();
    assert_eq!(reserve.name(), "reserve_inventory");
    assert!(reserve.has_compensation());
    assert_eq!(reserve.retry_policy(), RetryPolicy::none());
    assert_eq!(reserve.timeout(), None);

    let charge = charge_payment_step();
    assert_eq!(charge.name(), "charge-payment");
    assert_eq!(
        charge.retry_policy(),
        RetryPolicy::fixed(Duration::from_millis(50), 3)
    );

    let ship = ship_step();
    assert!(!ship.has_compensation());
    assert_eq!(
        ship.retry_policy(),
        RetryPolicy::exponential(Duration::from_millis(10), 5)
            .with_max_delay(Duration::from_millis(40))
            .with_jitter(false)
    );
    assert_eq!(ship.timeout(), Some(Duration::from_millis(500)));
}

#[tokio::test(start_paused = true)]
async fn generated_steps_run_and_retry() {
    let state = saga()
        .execute(order("macro-ok", false, 2))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(state.step("charge-payment").map(|s| s.attempts), Some(3));
    assert_eq!(
        journal("macro-ok"),
        ["reserve", "charge 1", "charge 2", "charge 3", "ship"]
    );
}

#[tokio::test(start_paused = true)]
async fn generated_compensation_gets_the_stored_output() {
    let state = saga()
        .execute_with_id("macro-fail-1", order("macro-fail", true, 0))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        journal("macro-fail"),
        [
            "reserve",
            "charge 1",
            "charge 2",
            "charge 3",
            "release R-macro-fail"
        ]
    );
    assert_eq!(
        state.steps[0].output,
        Some(serde_json::json!({ "id": "R-macro-fail" }))
    );
}
