//! Two event types under one name are a clear error at start-up: from
//! `registry::validate()`, from building a bus and from initializing the
//! PostgreSQL store. Its own test binary: the clashing types break the
//! registry of the whole program.

use orchestrix::error::RegistryError;
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;

mod billing {
    use orchestrix::prelude::*;

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "Charged")]
    pub struct Charged {
        pub cents: u64,
    }
}

mod shipping {
    use orchestrix::prelude::*;

    #[derive(Event, Debug, Serialize, Deserialize)]
    #[event(name = "Charged")]
    pub struct ShippingCharged {
        pub parcels: u32,
    }
}

fn expected() -> RegistryError {
    match orchestrix::registry::validate() {
        Err(error) => error,
        Ok(()) => panic!("two types under `Charged` must be refused"),
    }
}

#[test]
fn validate_names_the_event_name_and_both_rust_types() {
    let error = expected();
    let RegistryError::DuplicateEventName {
        name,
        first_type,
        second_type,
    } = error.clone()
    else {
        panic!("expected DuplicateEventName, got {error:?}");
    };
    assert_eq!(name, "Charged");
    assert_eq!(
        (first_type, second_type),
        (
            "registry_duplicate_names::billing::Charged",
            "registry_duplicate_names::shipping::ShippingCharged"
        )
    );
    let message = error.to_string();
    assert!(message.contains("#[event(name"), "{message}");
}

#[test]
fn building_a_bus_fails_with_the_registry_error() {
    let error = InMemoryAsyncMessageBus::builder()
        .build()
        .expect_err("the registry is inconsistent");
    assert_eq!(error, BusBuildError::Registry(expected()));

    let error = InMemoryMessageBus::builder()
        .build()
        .expect_err("the registry is inconsistent");
    assert_eq!(error, BusBuildError::Registry(expected()));
}

#[tokio::test]
async fn initializing_the_postgres_store_fails_before_touching_the_database() {
    // Nothing listens on port 1: the registry is checked before connecting.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("a valid connection string");
    let store = PostgreSQLEventStore::from_pool(pool);
    match store.initialize().await {
        Err(StoreError::Registry(error)) => assert_eq!(error, expected()),
        other => panic!("expected StoreError::Registry, got {other:?}"),
    }
}
