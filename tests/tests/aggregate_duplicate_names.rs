//! Two aggregate types under one `AGGREGATE_TYPE` are caught when the first
//! bus is built (start-up), naming both types; `#[aggregate(name = "...")]`
//! tells them apart. In a file of its own: every bus of this binary is
//! refused.

use orchestrix::bus::BusBuildError;
use orchestrix::error::RegistryError;
use orchestrix::prelude::*;

mod billing {
    use orchestrix::prelude::*;

    #[derive(Default, Debug, Serialize, Deserialize)]
    pub struct Account;

    #[aggregate]
    impl Account {}
}

mod crm {
    use orchestrix::prelude::*;

    #[derive(Default, Debug, Serialize, Deserialize)]
    pub struct Account;

    #[aggregate]
    impl Account {}

    /// Renamed: no clash.
    #[derive(Default, Debug, Serialize, Deserialize)]
    pub struct Contact;

    #[aggregate(name = "crm.Contact")]
    impl Contact {}
}

#[test]
fn same_named_aggregates_in_two_modules_stop_the_first_bus_naming_both() {
    let error = InMemoryAsyncMessageBus::builder()
        .build()
        .expect_err("two aggregates are named `Account`");
    let BusBuildError::Registry(RegistryError::DuplicateAggregateType {
        name,
        first_type,
        second_type,
    }) = &error
    else {
        panic!("unexpected error {error}");
    };
    assert_eq!(*name, "Account");
    assert_eq!(
        (*first_type, *second_type),
        (
            "aggregate_duplicate_names::billing::Account",
            "aggregate_duplicate_names::crm::Account"
        )
    );
    assert!(
        error.to_string().contains("#[aggregate(name = \""),
        "{error}"
    );
    assert_eq!(orchestrix::registry::validate(), Err(error_of(&error)));
    assert_eq!(<crm::Contact as Aggregate>::AGGREGATE_TYPE, "crm.Contact");
}

fn error_of(error: &BusBuildError) -> RegistryError {
    match error {
        BusBuildError::Registry(registry) => registry.clone(),
        other => panic!("not a registry error: {other}"),
    }
}
