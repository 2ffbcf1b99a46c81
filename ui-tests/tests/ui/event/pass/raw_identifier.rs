use orchestrix::prelude::*;

// A raw identifier is named without its `r#`.
#[allow(non_camel_case_types)]
#[derive(Event, Debug, Serialize, Deserialize)]
struct r#type {
    amount: u64,
}

fn main() {
    assert_eq!(<r#type as Message>::NAME, "type");
}
