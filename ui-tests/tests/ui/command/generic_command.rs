use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
struct Transfer<T> {
    amount: T,
}

fn main() {}
