//! The macros at the crate root, without the prelude.

#[derive(orchestrix::Event, Debug, serde::Serialize, serde::Deserialize)]
struct Deposited {
    amount: u64,
}

#[derive(orchestrix::Command, Debug, serde::Serialize, serde::Deserialize)]
struct Deposit {
    account_id: String,
    amount: u64,
}

#[derive(Default, Debug, serde::Serialize, serde::Deserialize)]
struct Account {
    balance: u64,
}

#[orchestrix::aggregate]
impl Account {
    #[orchestrix::apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    #[orchestrix::command_handler(aggregate_id = account_id)]
    fn deposit(&self, command: &Deposit) -> Result<Deposited, std::convert::Infallible> {
        Ok(Deposited {
            amount: command.amount,
        })
    }
}

#[orchestrix::event_handler]
async fn announce(_event: &Deposited) {}

#[orchestrix::saga_step]
async fn reserve(order: &String) -> Result<u32, orchestrix::saga::StepFailure> {
    Ok(order.len() as u32)
}

fn main() {
    let _bus = orchestrix::bus::InMemoryAsyncMessageBus::builder()
        .handler(announce)
        .build();
}
