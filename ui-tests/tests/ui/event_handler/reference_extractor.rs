use orchestrix::prelude::*;

#[derive(Event, Debug, Serialize, Deserialize)]
struct Deposited;

struct Mailer;

#[event_handler]
async fn send_receipt(_event: &Deposited, _mailer: &Mailer) {}

fn main() {}
