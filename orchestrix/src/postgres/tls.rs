//! No TLS by default on loopback connections: a workaround for sqlx 0.9.0,
//! which does not set `TCP_NODELAY` on its sockets.
//!
//! Without `TCP_NODELAY`, a request the TLS layer writes as more than one
//! record (a request larger than ~16 KB, for example an append of a hundred
//! events) waits for the server's delayed acknowledgement of the first
//! record, ~40 ms on Linux, before the rest leaves (Nagle's algorithm).
//! Without TLS the request is one write and nothing waits. The fix is in
//! sqlx upstream (transact-rs/sqlx#4336) but not in a released version, and
//! sqlx offers no hook to set the option on its sockets.
//!
//! So a connection string that does not choose an `sslmode` (nor does the
//! `PGSSLMODE` variable) connects to a loopback host (`localhost`,
//! `127.0.0.0/8`, `::1`) without TLS: what would otherwise be `prefer`, where
//! TLS on a connection that never leaves the machine protects nothing an
//! attacker on the machine could not read anyway. A chosen `sslmode` is
//! always kept; remote servers keep libpq's default (`prefer`). See
//! `docs/postgres.md`, "TLS and large requests".

use std::net::IpAddr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// `options` without TLS when they target a loopback host and nobody chose
/// an `sslmode` (in `connection_string` or `PGSSLMODE`).
pub(super) fn plain_on_loopback(
    options: PgConnectOptions,
    connection_string: &str,
) -> PgConnectOptions {
    let chosen = connection_string.to_ascii_lowercase().contains("sslmode")
        || std::env::var_os("PGSSLMODE").is_some();
    if chosen || options.get_socket().is_some() || !is_loopback(options.get_host()) {
        return options;
    }
    options.ssl_mode(PgSslMode::Disable)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn mode(url: &str) -> PgSslMode {
        let options = PgConnectOptions::from_str(url).expect("parses");
        plain_on_loopback(options, url).get_ssl_mode()
    }

    #[test]
    fn loopback_without_a_chosen_mode_goes_without_tls() {
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        assert!(matches!(
            mode("postgres://u@127.0.0.1:5432/db"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@localhost/db"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@[::1]:5432/db"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@db.internal/db"),
            PgSslMode::Prefer
        ));
    }

    #[test]
    fn a_chosen_mode_is_kept() {
        assert!(matches!(
            mode("postgres://u@127.0.0.1/db?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://u@127.0.0.1/db?sslmode=prefer"),
            PgSslMode::Prefer
        ));
    }
}
