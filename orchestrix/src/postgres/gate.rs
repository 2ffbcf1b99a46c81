//! Failing fast while the server refuses connections.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::{DEFAULT_CONNECT_TIMEOUT, PostgresError, PostgresOptions, describe_target};

/// How long one probe's answer is reused by the calls after it.
const PROBE_REUSE: Duration = Duration::from_millis(500);

/// Decides quickly whether a call can get a connection at all.
///
/// The pool, when it has to open a connection and the server refuses it,
/// keeps retrying until the whole acquire timeout is over (it takes a
/// refusal for a server still starting). So before a call that finds no
/// idle connection, the stores ask the gate. It opens a bare socket to the
/// server (no login: a fraction of a millisecond, and nothing in the
/// server's log), bounded by the connect timeout, and answers
/// [`PostgresError::Unavailable`] at once if the server refuses or stays
/// silent:
///
/// * an idle connection at hand: no probe, the call goes ahead;
/// * room in the pool (the call would open a connection): a fresh probe;
/// * a full pool, all busy: the call waits for a connection, unless a
///   probe of the last 500 ms (or a fresh one) found the server gone. So a
///   busy pool costs at most two probes a second.
///
/// A call that loses its connection tells the gate
/// ([`connection_lost`](Self::connection_lost)). From then on the gate
/// trusts neither idle connections (they may be as dead as the one that
/// failed, and the pool would retry opening new ones until the acquire
/// timeout) nor an answer from before: every call probes until a probe
/// finds the server up again.
///
/// When the server is back, the next probe succeeds and the pool opens its
/// connections again by itself.
///
/// ```no_run
/// use orchestrix::postgres::{ConnectGate, PostgresOptions, connect_pool};
///
/// # async fn run() -> Result<(), orchestrix::postgres::PostgresError> {
/// let options = PostgresOptions::new("postgres://postgres@127.0.0.1:5432/app")?;
/// let pool = connect_pool(&options).await?;
/// let gate = ConnectGate::new(&options);
/// gate.check(&pool).await?; // Unavailable within the connect timeout when down
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConnectGate {
    connect: PgConnectOptions,
    timeout: Duration,
    target: String,
    state: Mutex<GateState>,
}

/// What the gate remembers between calls.
#[derive(Clone, Debug, Default)]
struct GateState {
    /// The last probe's answer.
    probe: Option<Probe>,
    /// A call lost its connection since the last probe that succeeded.
    connection_lost: bool,
}

#[derive(Clone, Debug)]
struct Probe {
    at: Instant,
    /// Why the server was unreachable, if it was.
    refused: Option<Arc<str>>,
}

impl ConnectGate {
    /// A gate for the server `options` connect to, with their connect
    /// timeout.
    pub fn new(options: &PostgresOptions) -> Self {
        Self::for_server(options.connect_options().clone(), options.connect_timeout())
    }

    /// A gate for `pool`'s server, with the [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn for_pool(pool: &PgPool) -> Self {
        Self::for_server((*pool.connect_options()).clone(), DEFAULT_CONNECT_TIMEOUT)
    }

    /// A gate for the server `connect` describes, waiting at most `timeout`
    /// for a connection.
    pub fn for_server(connect: PgConnectOptions, timeout: Duration) -> Self {
        Self {
            target: describe_target(&connect),
            connect,
            timeout,
            state: Mutex::new(GateState::default()),
        }
    }

    /// The connect timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `Ok` when a call on `pool` can expect a connection (see the type's
    /// docs), else [`PostgresError::Unavailable`].
    pub async fn check(&self, pool: &PgPool) -> Result<(), PostgresError> {
        let state = self.state();
        if !state.connection_lost && pool.num_idle() > 0 {
            return Ok(());
        }
        if pool.size() >= pool.options().get_max_connections()
            && let Some(probe) = state.probe.filter(|probe| probe.at.elapsed() < PROBE_REUSE)
        {
            return self.answer(probe.refused);
        }
        self.probe().await
    }

    /// Opens (and closes) a bare connection to the server, bounded by the
    /// connect timeout: `Ok` when it accepts, else
    /// [`PostgresError::Unavailable`]. A probe that succeeds ends the
    /// distrust a [`connection_lost`](Self::connection_lost) started.
    pub async fn probe(&self) -> Result<(), PostgresError> {
        let refused = self.try_connect().await;
        {
            let mut state = self.lock();
            state.connection_lost &= refused.is_some();
            state.probe = Some(Probe {
                at: Instant::now(),
                refused: refused.clone(),
            });
        }
        self.answer(refused)
    }

    /// Tells the gate that a call lost its connection: the server's state
    /// may have changed since the last probe, so the next calls probe
    /// afresh (idle connections included) until one finds it up. The
    /// stores call this on every connection error.
    pub fn connection_lost(&self) {
        let mut state = self.lock();
        state.connection_lost = true;
        state.probe = None;
    }

    fn state(&self) -> GateState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn answer(&self, refused: Option<Arc<str>>) -> Result<(), PostgresError> {
        match refused {
            None => Ok(()),
            Some(reason) => Err(PostgresError::Unavailable {
                target: self.target.clone(),
                source: reason.to_string().into(),
            }),
        }
    }

    /// Why the server is unreachable, or `None` when it accepted a
    /// connection.
    async fn try_connect(&self) -> Option<Arc<str>> {
        let connected = tokio::time::timeout(self.timeout, self.open_socket()).await;
        match connected {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string().into()),
            Err(_) => Some(
                format!(
                    "no connection within the connect timeout of {} ms",
                    self.timeout.as_millis()
                )
                .into(),
            ),
        }
    }

    async fn open_socket(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        if let Some(socket) = self.connect.get_socket() {
            let path = if socket.is_dir() {
                socket.join(format!(".s.PGSQL.{}", self.connect.get_port()))
            } else {
                socket.clone()
            };
            tokio::net::UnixStream::connect(path).await?;
            return Ok(());
        }
        tokio::net::TcpStream::connect((self.connect.get_host(), self.connect.get_port())).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_for(port: u16) -> ConnectGate {
        let connect = PgConnectOptions::new().host("127.0.0.1").port(port);
        ConnectGate::for_server(connect, Duration::from_secs(2))
    }

    async fn lazy_pool(port: u16) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(PgConnectOptions::new().host("127.0.0.1").port(port))
    }

    #[tokio::test]
    async fn a_lost_connection_makes_calls_probe_until_the_server_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a local port");
        let port = listener.local_addr().expect("has an address").port();
        let gate = gate_for(port);
        assert!(gate.state().probe.is_none(), "nothing probed yet");

        gate.probe().await.expect("the listener accepts");
        assert!(
            gate.state()
                .probe
                .is_some_and(|probe| probe.refused.is_none())
        );

        gate.connection_lost();
        let state = gate.state();
        assert!(state.connection_lost && state.probe.is_none(), "{state:?}");

        drop(listener);
        let pool = lazy_pool(port).await;
        let error = gate.check(&pool).await.expect_err("the server is gone");
        assert!(
            matches!(error, PostgresError::Unavailable { .. }),
            "{error:?}"
        );
        assert!(
            gate.state().connection_lost,
            "still distrusted while refused"
        );

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("rebinds the port");
        gate.check(&pool).await.expect("the server is back");
        assert!(
            !gate.state().connection_lost,
            "a good probe ends the distrust"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn a_refused_probe_answers_unavailable_naming_the_server() {
        let port = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binds a local port");
            listener.local_addr().expect("has an address").port()
        };
        let gate = gate_for(port);
        let error = gate.probe().await.expect_err("nothing listens");
        assert!(
            matches!(&error, PostgresError::Unavailable { target, .. } if target.contains(&port.to_string())),
            "{error:?}"
        );
        assert!(gate.state().probe.and_then(|probe| probe.refused).is_some());
    }
}
