use orchestrix::prelude::*;

#[projection(name = "revenue")]
fn revenue() {}

fn main() {}
