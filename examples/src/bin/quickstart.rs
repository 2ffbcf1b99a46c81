//! The quickstart: not built yet.
fn main() {}
