use orchestrix::prelude::*;

#[derive(Event)]
union Bits {
    whole: u64,
    halves: [u32; 2],
}

fn main() {}
