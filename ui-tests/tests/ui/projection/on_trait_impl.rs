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
impl Clone for Revenue {
    fn clone(&self) -> Self {
        Self { total: self.total }
    }
}

fn main() {}
