use orchestrix::prelude::*;

#[aggregate]
fn open_account() {}

fn main() {}
