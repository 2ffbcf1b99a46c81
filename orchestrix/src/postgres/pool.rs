//! Opening the connection pool.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{ConnectGate, PostgresError, PostgresOptions};

/// Opens a pool as `options` describe and checks that the server answers.
///
/// An unreachable server (refused, unknown host, nothing answering within
/// the connect timeout) is [`PostgresError::Unavailable`] naming the host,
/// port and database tried; a server that refuses the login is
/// [`PostgresError::Database`].
pub async fn connect_pool(options: &PostgresOptions) -> Result<PgPool, PostgresError> {
    // The pool itself would retry a refused connection for the whole
    // acquire timeout: one bounded attempt first answers at once.
    ConnectGate::new(options).probe().await?;
    let pool = PgPoolOptions::new()
        .min_connections(options.pool_min_size())
        .max_connections(options.pool_max_size())
        .acquire_timeout(options.acquire_timeout())
        .idle_timeout(options.idle_timeout())
        .test_before_acquire(options.test_before_acquire())
        .connect_with(options.connect_options().clone())
        .await
        .map_err(|error| PostgresError::from_sqlx(error, &options.target(), "connect"))?;
    Ok(pool)
}

/// `host:port/database` (or `socket/database`) of `options`, for error
/// messages; never the password.
pub fn describe_target(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    match options.get_database() {
        Some(database) => format!("{place}/{database}"),
        None => place,
    }
}
