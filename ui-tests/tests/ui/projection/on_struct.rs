use orchestrix::prelude::*;

#[projection(name = "revenue")]
struct Revenue {
    total: u64,
}

fn main() {}
