use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderPlaced {
    total: u64,
}

#[derive(Debug, Default)]
struct Revenue {
    total: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderRefunded {
    amount: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderNoted;

#[derive(Debug)]
struct NotGood;

impl std::fmt::Display for NotGood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not good")
    }
}

impl std::error::Error for NotGood {}

#[projection(name = "revenue")]
impl Revenue {
    #[handle]
    fn on_placed(&mut self, event: &OrderPlaced, context: &ProjectionContext) {
        let _ = context.position();
        self.total += event.total;
    }

    #[handle]
    async fn on_refunded(
        &mut self,
        event: &OrderRefunded,
        metadata: Metadata,
        position: EventPosition,
    ) -> Result<(), NotGood> {
        let _ = (metadata.id, position.0);
        self.total = self.total.checked_sub(event.amount).ok_or(NotGood)?;
        Ok(())
    }

    #[handle]
    fn on_noted(&mut self, _event: &OrderNoted, mode: ProjectionMode) -> Result<(), BoxError> {
        let _ = mode;
        Ok(())
    }

    /// Not a handler: left alone.
    fn total(&self) -> u64 {
        self.total
    }
}

fn main() {
    assert_eq!(<Revenue as orchestrix::projection::Projection>::NAME, "revenue");
    assert_eq!(Revenue::default().total(), 0);
}
