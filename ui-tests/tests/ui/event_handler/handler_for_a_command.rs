use orchestrix::prelude::*;

#[derive(Command, Debug, Serialize, Deserialize)]
struct OpenAccount {
    owner: String,
}

#[event_handler]
async fn open_account(_command: &OpenAccount) {}

fn main() {}
