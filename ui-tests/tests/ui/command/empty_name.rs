use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
#[command(name = " ")]
struct OpenAccount {
    owner: String,
}

fn main() {}
