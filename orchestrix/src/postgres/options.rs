//! Where and how to connect: connection string, pool sizes, timeouts, schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use super::{PostgresError, SqlIdentifier};

/// The schema the stores live in unless another one is chosen.
pub const DEFAULT_SCHEMA: &str = "orchestrix";

/// Connection and pool settings for a PostgreSQL-backed store, mirroring the
/// seed's `PostgreSQLEventStore(connection_string, pool_min_size,
/// pool_max_size)`.
///
/// Built with [`PostgresOptions::builder`]; everything is checked in
/// [`build`](PostgresOptionsBuilder::build), so a `PostgresOptions` is
/// always usable.
///
/// ```
/// use std::time::Duration;
/// use orchestrix::postgres::PostgresOptions;
///
/// let options = PostgresOptions::builder("postgres://app:secret@db.internal:5432/bank")
///     .pool_min_size(5)
///     .pool_max_size(20)
///     .acquire_timeout(Duration::from_secs(3))
///     .connect_timeout(Duration::from_millis(500))
///     .schema("bank_events")
///     .build()
///     .expect("valid options");
/// assert_eq!(options.schema().as_str(), "bank_events");
/// assert_eq!(options.target(), "db.internal:5432/bank");
///
/// assert!(PostgresOptions::builder("not a url").build().is_err());
/// assert!(PostgresOptions::builder("postgres://h/db").schema("x; DROP").build().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    connect: PgConnectOptions,
    pool_min_size: u32,
    pool_max_size: u32,
    acquire_timeout: Duration,
    connect_timeout: Duration,
    idle_timeout: Option<Duration>,
    test_before_acquire: bool,
    schema: SqlIdentifier,
}

/// How long opening a connection may take before the server counts as
/// unreachable, unless set with
/// [`connect_timeout`](PostgresOptionsBuilder::connect_timeout).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl PostgresOptions {
    /// Starts options for `connection_string` (a `postgres://` URL or a
    /// `key=value` string); the other settings have defaults: pool of 1 to 10
    /// connections, 5 s acquire timeout, 2 s connect timeout, schema
    /// `orchestrix`.
    pub fn builder(connection_string: impl Into<String>) -> PostgresOptionsBuilder {
        PostgresOptionsBuilder {
            connection_string: connection_string.into(),
            pool_min_size: 1,
            pool_max_size: 10,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: Some(Duration::from_secs(600)),
            test_before_acquire: false,
            schema: DEFAULT_SCHEMA.to_owned(),
            application_name: Some("orchestrix".to_owned()),
        }
    }

    /// Options for `connection_string` with every default.
    pub fn new(connection_string: impl Into<String>) -> Result<Self, PostgresError> {
        Self::builder(connection_string).build()
    }

    /// The parsed connection settings.
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.connect
    }

    /// Connections the pool keeps open even when idle.
    pub fn pool_min_size(&self) -> u32 {
        self.pool_min_size
    }

    /// The most connections the pool opens.
    pub fn pool_max_size(&self) -> u32 {
        self.pool_max_size
    }

    /// How long a call waits for a free (or new) connection before failing
    /// as unavailable.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// How long opening a connection may take: when the pool has no free
    /// connection and the server refuses or does not answer within it, a
    /// call fails as unavailable at once instead of waiting for the whole
    /// acquire timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long an idle connection is kept before it is closed.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// Whether each connection is pinged (one extra round trip) before use.
    pub fn test_before_acquire(&self) -> bool {
        self.test_before_acquire
    }

    /// The schema the store's tables live in.
    pub fn schema(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// `host:port/database` (or the socket path), for error messages; never
    /// the password.
    pub fn target(&self) -> String {
        super::describe_target(&self.connect)
    }
}

/// Builds [`PostgresOptions`]; see there. Nothing is checked until
/// [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use]
pub struct PostgresOptionsBuilder {
    connection_string: String,
    pool_min_size: u32,
    pool_max_size: u32,
    acquire_timeout: Duration,
    connect_timeout: Duration,
    idle_timeout: Option<Duration>,
    test_before_acquire: bool,
    schema: String,
    application_name: Option<String>,
}

impl PostgresOptionsBuilder {
    /// Connections kept open even when idle (default 1).
    pub fn pool_min_size(mut self, size: u32) -> Self {
        self.pool_min_size = size;
        self
    }

    /// The most connections opened (default 10, at least 1).
    pub fn pool_max_size(mut self, size: u32) -> Self {
        self.pool_max_size = size;
        self
    }

    /// How long a call waits for a connection (default 5 s): for a busy
    /// pool to free one, or for a new one to open.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long opening one connection may take (default 2 s). When the
    /// pool has no free connection, the stores first check (once for all
    /// waiting calls, see [`ConnectGate`](super::ConnectGate)) that the
    /// server accepts connections within this time: a server that refuses
    /// or does not answer makes calls fail as unavailable within it, not
    /// after the whole acquire timeout. The pool reconnects by itself once
    /// the server is back.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an idle connection is kept (default 10 min; `None`: forever).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Ping every connection before each use (default off). The stores
    /// already evict broken connections after a connection failure, so this
    /// only trades one round trip per call for not seeing that one failure.
    pub fn test_before_acquire(mut self, test: bool) -> Self {
        self.test_before_acquire = test;
        self
    }

    /// The schema to keep the tables in (default `orchestrix`). Must be a
    /// plain lower-case identifier; see [`SqlIdentifier`].
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The `application_name` the connections report to the server
    /// (default `orchestrix`; `None` keeps the connection string's).
    pub fn application_name(mut self, name: Option<String>) -> Self {
        self.application_name = name;
        self
    }

    /// Checks everything and gives the options.
    pub fn build(self) -> Result<PostgresOptions, PostgresError> {
        if let Some((scheme, _)) = self.connection_string.split_once("://")
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !matches!(scheme, "postgres" | "postgresql")
        {
            return Err(PostgresError::Configuration(format!(
                "the connection string must start with `postgres://` or `postgresql://`, not `{scheme}://`"
            )));
        }
        let mut connect = PgConnectOptions::from_str(&self.connection_string).map_err(|error| {
            PostgresError::Configuration(format!("the connection string does not parse: {error}"))
        })?;
        if let Some(name) = &self.application_name {
            connect = connect.application_name(name);
        }
        connect = super::tls::plain_on_loopback(connect, &self.connection_string);
        if self.pool_max_size == 0 {
            return Err(PostgresError::Configuration(
                "pool_max_size must be at least 1".to_owned(),
            ));
        }
        if self.pool_min_size > self.pool_max_size {
            return Err(PostgresError::Configuration(format!(
                "pool_min_size ({}) is larger than pool_max_size ({})",
                self.pool_min_size, self.pool_max_size
            )));
        }
        if self.acquire_timeout.is_zero() {
            return Err(PostgresError::Configuration(
                "acquire_timeout must be longer than zero".to_owned(),
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(PostgresError::Configuration(
                "connect_timeout must be longer than zero".to_owned(),
            ));
        }
        Ok(PostgresOptions {
            connect,
            pool_min_size: self.pool_min_size,
            pool_max_size: self.pool_max_size,
            acquire_timeout: self.acquire_timeout,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            test_before_acquire: self.test_before_acquire,
            schema: SqlIdentifier::new(self.schema)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_usable() {
        let options = PostgresOptions::new("postgres://u:pw@localhost:5433/db").expect("valid");
        assert_eq!(options.pool_min_size(), 1);
        assert_eq!(options.pool_max_size(), 10);
        assert_eq!(options.schema().as_str(), DEFAULT_SCHEMA);
        assert_eq!(options.target(), "localhost:5433/db");
    }

    #[test]
    fn a_bad_connection_string_is_a_configuration_error() {
        let error = PostgresOptions::new("mysql://nope").expect_err("not postgres");
        assert!(matches!(error, PostgresError::Configuration(_)), "{error}");
        let error = PostgresOptions::new("::::").expect_err("garbage");
        assert!(matches!(error, PostgresError::Configuration(_)), "{error}");
    }

    #[test]
    fn pool_sizes_are_checked() {
        let error = PostgresOptions::builder("postgres://h/db")
            .pool_max_size(0)
            .build()
            .expect_err("zero");
        assert!(error.to_string().contains("pool_max_size"), "{error}");
        let error = PostgresOptions::builder("postgres://h/db")
            .pool_min_size(5)
            .pool_max_size(2)
            .build()
            .expect_err("min > max");
        assert!(error.to_string().contains("larger than"), "{error}");
    }

    #[test]
    fn the_password_never_shows_in_the_target() {
        let options = PostgresOptions::new("postgres://u:hunter2@db:5432/x").expect("valid");
        assert!(!options.target().contains("hunter2"));
    }
}
