use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct OrderPlaced {
    total: u64,
}

#[derive(Debug, Default)]
struct Revenue {
    total: u64,
}

#[projection(name = "revenue", batch = 10)]
impl Revenue {
    #[handle]
    fn on_placed(&mut self, event: &OrderPlaced) {
        self.total += event.total;
    }
}

fn main() {}
