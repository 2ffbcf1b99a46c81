use orchestrix::prelude::*;

#[event_handler]
async fn any_event(_event: &impl Event) {}

fn main() {}
