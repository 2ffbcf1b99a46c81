use orchestrix::prelude::*;

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[aggregate(snapshot_version = 0, colour = "blue")]
impl Account {}

fn main() {}
