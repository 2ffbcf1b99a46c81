//! Every example runs to the end and exits successfully: each checks its
//! own outcomes and exits with an error on a wrong one, so this smoke test
//! fails on a wrong outcome too.

use std::process::Command;

/// Runs the example binary at `path` and fails with its output unless it
/// exits successfully.
fn runs_successfully(name: &str, path: &str) {
    let output = Command::new(path)
        .output()
        .unwrap_or_else(|error| panic!("{name} does not start: {error}"));
    assert!(
        output.status.success(),
        "{name} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn quickstart_runs() {
    runs_successfully("quickstart", env!("CARGO_BIN_EXE_quickstart"));
}

#[test]
fn bank_account_runs() {
    runs_successfully("bank_account", env!("CARGO_BIN_EXE_bank_account"));
}

/// In memory, or in PostgreSQL when `DATABASE_URL` is set.
#[test]
fn order_saga_runs() {
    runs_successfully("order_saga", env!("CARGO_BIN_EXE_order_saga"));
}

#[cfg(feature = "postgres")]
#[test]
fn bank_account_postgres_runs() {
    if std::env::var_os("DATABASE_URL").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL is not set, but CI is: the PostgreSQL example must run in CI"
        );
        eprintln!("skipped bank_account_postgres_runs: set DATABASE_URL to run it");
        return;
    }
    runs_successfully(
        "bank_account_postgres",
        env!("CARGO_BIN_EXE_bank_account_postgres"),
    );
}
