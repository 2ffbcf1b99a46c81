use orchestrix::prelude::*;

struct NotAnEvent;

#[event_handler]
async fn wrong_type(_event: &NotAnEvent) {}

fn main() {}
