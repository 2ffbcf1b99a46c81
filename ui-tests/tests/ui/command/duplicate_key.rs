use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
#[command(name = "OpenAccount", name = "account.Open")]
struct OpenAccount {
    owner: String,
}

fn main() {}
