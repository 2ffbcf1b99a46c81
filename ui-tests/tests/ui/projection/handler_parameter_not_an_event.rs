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
    fn on_total(&mut self, total: &u64) {
        self.total += total;
    }
}

fn main() {}
