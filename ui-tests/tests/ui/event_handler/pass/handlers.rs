use std::sync::Arc;

use orchestrix::bus::Dep;
use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(Debug, Default)]
struct Mailer;

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

#[event_handler]
async fn unit(_event: &Deposited) {}

#[event_handler]
async fn fallible(event: &Deposited) -> Result<(), Never> {
    if event.amount > 0 { Ok(()) } else { Err(Never) }
}

#[event_handler(name = "custom-name")]
async fn with_extractors<'a>(
    _event: &'a Deposited,
    _mailer: Dep<Mailer>,
    _metadata: Metadata,
    _shared: Arc<Metadata>,
) {
}

#[event_handler]
fn blocking(
    _event: &Deposited,
    _mailer: Dep<Mailer>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[event_handler]
pub(crate) fn public_in_crate(_event: &Deposited) {}

fn main() {
    let _async_bus = InMemoryAsyncMessageBus::builder()
        .dependency(Mailer)
        .handler(unit)
        .handler(fallible)
        .handler(with_extractors)
        .build();
    let _sync_bus = InMemoryMessageBus::builder()
        .dependency(Mailer)
        .handler(blocking)
        .handler(public_in_crate)
        .build();
}
