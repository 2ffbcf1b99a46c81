use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Wrapped<T> {
    inner: T,
}

fn main() {}
