use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited {
    amount: u64,
}

#[event_handler]
async fn takes_impl_trait(_event: &Deposited, sink: impl std::io::Write + Send + 'static) {
    drop(sink);
}

fn main() {}
