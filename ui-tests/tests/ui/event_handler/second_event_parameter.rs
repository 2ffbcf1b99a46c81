use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Withdrawn;

#[event_handler]
async fn on_money(_deposited: &Deposited, _withdrawn: &Withdrawn) {}

fn main() {}
