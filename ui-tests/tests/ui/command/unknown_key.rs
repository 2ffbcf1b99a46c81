use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
#[command(handler = "open_account")]
struct OpenAccount {
    owner: String,
}

fn main() {}
