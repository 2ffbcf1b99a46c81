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
    fn on_placed(&self, event: &OrderPlaced) {
        let _ = event.total;
    }
}

fn main() {}
