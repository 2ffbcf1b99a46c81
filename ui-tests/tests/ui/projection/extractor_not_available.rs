use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderPlaced {
    total: u64,
}

#[derive(Debug, Default)]
struct Revenue {
    total: u64,
}

#[projection(name = "revenue")]
impl Revenue {
    #[handle]
    fn on_placed(&mut self, event: &OrderPlaced, limit: u32) {
        self.total += event.total.min(u64::from(limit));
    }
}

fn main() {}
